"""Lightning DataModule: folders (or the built-in sample set) -> train/val DataLoaders of unpaired pairs."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only
from torch.utils.data import DataLoader

from adaptive_st.data.datasets import UnpairedStyleDataset, default_load_size
from adaptive_st.data.images import DataConfigError, check_readable, list_images
from adaptive_st.data.resumable import EpochShuffleSampler, ResumableDataLoader
from adaptive_st.data.sample import ensure_sample_dataset
from adaptive_st.data.split import split_by_path_hash

log = logging.getLogger(__name__)


class StyleTransferDataModule(L.LightningDataModule):
    """Unpaired content/style data for GAN style transfer.

    Folder problems surface when the module is constructed (:meth:`validate`), before any model is built. If
    ``content_dir`` or ``style_dir`` is ``None``, the built-in procedural sample set is generated (once) under
    ``sample_root`` and used instead, so training works offline on a fresh clone.

    Content images are split into train/val by a stable path hash (see :func:`split_by_path_hash`). Style images
    are *shared* by train and val: validation measures how well unseen content is rendered in the target
    styles, and the discriminator must see every style in training to define those targets.

    The train DataLoader shuffles in an order drawn from ``(seed, epoch)`` and is resumable mid-epoch
    (:mod:`adaptive_st.data.resumable`); under DDP Lightning wraps its sampler for the ranks. Train
    augmentation depends on the epoch: add ``DatasetEpochCallback`` to the trainer or call
    :meth:`set_epoch` each epoch.

    ``style_augment`` (with ``style_size``): training sees each painting re-cropped at a random scale and
    with a rotated palette (:func:`~adaptive_st.data.datasets.augment_style`), so a *learned* style encoder
    meets more than the few dozen styles on disk. A style index then no longer names one image, so it
    excludes ``module.cache_style_targets``.

    ``style_variants`` (with ``style_size``): the same augmentation, but drawn once: each painting has
    ``style_variants - 1`` fixed augmented copies beside itself. The encoder meets that many times more
    styles while every style image (``style_key``) stays the same, so its VGG targets still cache: the
    variety of ``style_augment`` for one extra VGG pass per variant instead of one per step.

    ``extra_style_dirs``: more paintings for training only (never validated on, never held out), e.g. the
    package-sourced set of :mod:`adaptive_st.data.paintings`: a decoder trained on a few dozen paintings
    renders unseen ones worse than seen ones.

    ``extra_content_dirs``: more photos for training only, e.g. the package-sourced
    ``adaptive_st/data/photos.tsv`` set (``make photos``): a decoder that has inverted a few photos only
    renders unseen ones worse.

    ``paintings_as_content``: the training paintings (never the held-out ones) are content images too, so a
    decoder that inverts stylised features learns on painting-like inputs, not on a handful of photos only.
    """

    def __init__(
        self,
        content_dir: str | None = None,
        style_dir: str | None = None,
        sample_root: str | None = None,
        crop_size: int = 128,
        load_size: int | None = None,
        batch_size: int = 8,
        val_batch_size: int | None = None,
        num_workers: int = 0,
        val_fraction: float = 0.15,
        num_val_pairs: int = 8,
        train_length: int | None = None,
        seed: int = 0,
        cache: bool = True,
        pin_memory: bool = False,
        persistent_workers: bool = False,
        style_size: int | None = None,
        style_augment: bool = False,
        style_variants: int = 1,
        paintings_as_content: bool = False,
        extra_style_dirs: Sequence[str] = (),
        extra_content_dirs: Sequence[str] = (),
        holdout_content: Sequence[str] = (),
        holdout_styles: Sequence[str] = (),
    ) -> None:
        super().__init__()
        # Plain lists: Hydra passes ListConfig, which a weights_only checkpoint load refuses.
        holdout_content, holdout_styles = list(holdout_content), list(holdout_styles)
        extra_style_dirs = [str(d) for d in extra_style_dirs]
        extra_content_dirs = [str(d) for d in extra_content_dirs]
        # Kept for checkpoints, not logged: the run config (logged whole) already holds every value.
        self.save_hyperparameters(logger=False)
        _require(style_size is None or style_size >= crop_size, "data.style_size", style_size,
                 f"must be >= data.crop_size={crop_size} (or null)")
        _require(not style_augment or style_size is not None, "data.style_augment", style_augment,
                 "needs data.style_size (whole style images to re-crop)")
        _require(style_variants >= 1, "data.style_variants", style_variants, "must be >= 1")
        _require(style_variants == 1 or (style_size is not None and not style_augment), "data.style_variants",
                 style_variants, "needs data.style_size and data.style_augment=false (fixed variants of whole "
                 "paintings)")
        _require(crop_size >= 1, "data.crop_size", crop_size, "must be >= 1")
        self.load_size = default_load_size(crop_size) if load_size is None else int(load_size)
        if crop_size > self.load_size:
            raise ValueError(
                f"data.crop_size={crop_size} is larger than data.load_size={self.load_size}; lower "
                "data.crop_size or raise data.load_size."
            )
        _require(batch_size >= 1, "data.batch_size", batch_size, "must be >= 1")
        _require(
            val_batch_size is None or val_batch_size >= 1,
            "data.val_batch_size",
            val_batch_size,
            "must be >= 1",
        )
        _require(num_workers >= 0, "data.num_workers", num_workers, "must be >= 0")
        _require(0.0 <= val_fraction < 1.0, "data.val_fraction", val_fraction, "must be in [0, 1)")
        _require(num_val_pairs >= 1, "data.num_val_pairs", num_val_pairs, "must be >= 1")
        _require(train_length is None or train_length >= 1, "data.train_length", train_length, "must be >= 1")

        self.crop_size = crop_size
        self.batch_size = batch_size
        self.val_batch_size = val_batch_size or batch_size
        self.num_workers = num_workers
        self.val_fraction = val_fraction
        self.num_val_pairs = num_val_pairs
        self.train_length = train_length
        self.seed = seed
        self.cache = cache
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers and num_workers > 0
        self.style_size = style_size
        self.style_augment = style_augment
        self.style_variants = style_variants
        self.paintings_as_content = paintings_as_content
        self.holdout = (tuple(holdout_content), tuple(holdout_styles))
        self.style_train_paths: list[Path] = []
        self.style_val_paths: list[Path] = []
        self._requested = (content_dir, style_dir, sample_root)
        self.extra_style_dirs = tuple(Path(d).expanduser() for d in extra_style_dirs)
        self.extra_content_dirs = tuple(Path(d).expanduser() for d in extra_content_dirs)

        self.content_dir: Path
        self.style_dir: Path
        self.content_paths: list[Path] = []
        self.content_train_paths: list[Path] = []
        self.content_val_paths: list[Path] = []
        self.style_paths: list[Path] = []
        self.train_dataset: UnpairedStyleDataset | None = None
        self.val_dataset: UnpairedStyleDataset | None = None
        self.validate()

    def validate(self) -> None:
        """Resolve the folders (generating the sample set if needed), list the images and split the content.

        Raises :class:`DataConfigError` naming the offending path and config key.
        """
        content_dir, style_dir, sample_root = self._requested
        if content_dir is None or style_dir is None:
            if sample_root is None:
                raise DataConfigError(
                    "data.content_dir / data.style_dir are not set and data.sample_root is missing: set "
                    "data.content_dir and data.style_dir to image folders, or data.sample_root to a writable "
                    "folder for the built-in sample dataset."
                )
            try:
                sample_content, sample_style = ensure_sample_dataset(Path(sample_root).expanduser())
            except OSError as exc:
                raise DataConfigError(
                    f"data.sample_root={sample_root}: cannot write the built-in sample dataset there ({exc}); "
                    "point data.sample_root to a writable folder."
                ) from exc
            content_dir = str(sample_content) if content_dir is None else content_dir
            style_dir = str(sample_style) if style_dir is None else style_dir
        self.content_dir = Path(content_dir).expanduser()
        self.style_dir = Path(style_dir).expanduser()
        self.content_paths = list_images(self.content_dir, config_key="data.content_dir")
        self.style_paths = list_images(self.style_dir, config_key="data.style_dir")
        extra_styles = _list_extra(self.extra_style_dirs, "data.extra_style_dirs", "paintings", "make paintings")
        extra_contents = _list_extra(self.extra_content_dirs, "data.extra_content_dirs", "photos", "make photos")
        content_scale = ("data.crop_size", self.crop_size)
        style_scale = ("data.style_size", self.style_size) if self.style_size else ("data.crop_size", self.crop_size)
        for paths, folder, key, (size_key, size) in (
            (self.content_paths, self.content_dir, "data.content_dir", content_scale),
            (self.style_paths, self.style_dir, "data.style_dir", style_scale),
            *((paths, folder, "data.extra_style_dirs", style_scale) for folder, paths in extra_styles),
            *((paths, folder, "data.extra_content_dirs", content_scale) for folder, paths in extra_contents),
        ):
            sizes = check_readable(paths, key, folder, draft_min_side=self.load_size)
            _warn_if_all_upscaled(sizes, key, size_key, size)
        held_content = _held_out(self.content_paths, self.holdout[0], "data.holdout_content")
        held_styles = _held_out(self.style_paths, self.holdout[1], "data.holdout_styles")
        if held_content:
            self.content_train_paths = [p for p in self.content_paths if p not in held_content]
            self.content_val_paths = [p for p in self.content_paths if p in held_content]
        else:
            self.content_train_paths, self.content_val_paths = split_by_path_hash(
                self.content_paths, self.content_dir, self.val_fraction
            )
        self.style_train_paths = _union(
            [p for p in self.style_paths if p not in held_styles], *(extra for _, extra in extra_styles))
        self.style_val_paths = [p for p in self.style_paths if p in held_styles] or list(self.style_paths)
        self.content_train_paths = _union(
            self.content_train_paths, *(extra for _, extra in extra_contents),
            self.style_train_paths if self.paintings_as_content else [])

    def setup(self, stage: str | None = None) -> None:
        if self.train_dataset is not None:
            return
        common: dict[str, Any] = {
            "crop_size": self.crop_size,
            "load_size": self.load_size,
            "seed": self.seed,
            "cache": self.cache,
            "style_size": self.style_size,
        }
        self.train_dataset = UnpairedStyleDataset(
            self.content_train_paths, self.style_train_paths, train=True, length=self.train_length,
            style_augment=self.style_augment, style_variants=self.style_variants, **common
        )
        self.val_dataset = UnpairedStyleDataset(
            self.content_val_paths, self.style_val_paths, train=False, length=self.num_val_pairs, **common
        )
        if self.cache and self.num_workers > 0:
            # Decode once here so forked/spawned workers share one cache instead of each decoding every file.
            # Validation is small (num_val_pairs) and decodes lazily.
            self.train_dataset.preload(num_threads=min(4, os.cpu_count() or 1))

    def set_epoch(self, epoch: int) -> None:
        """Forward the epoch to the training dataset (pairing and crops depend on it)."""
        if self.train_dataset is not None:
            self.train_dataset.set_epoch(epoch)

    @property
    def num_bad_files(self) -> int:
        """Unreadable files skipped so far, over train and val (a style file may be counted by both)."""
        return sum(ds.num_bad_files for ds in (self.train_dataset, self.val_dataset) if ds is not None)

    def train_dataloader(self) -> DataLoader:
        dataset = self._dataset("train_dataset")
        # Order from (seed, epoch) and a checkpointable position: a resumed run sees the same batches.
        return ResumableDataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=EpochShuffleSampler(len(dataset), seed=self.seed),
            drop_last=len(dataset) >= self.batch_size,
            **self._loader_kwargs(),
        )

    def val_dataloader(self) -> DataLoader:
        dataset = self._dataset("val_dataset")
        return DataLoader(dataset, batch_size=self.val_batch_size, shuffle=False, **self._loader_kwargs())

    def test_dataloader(self) -> DataLoader:
        """The validation pairs: content held out from training, styles shared (see the class docstring)."""
        return self.val_dataloader()

    def _dataset(self, name: str) -> UnpairedStyleDataset:
        if getattr(self, name) is None:
            self.setup()
        dataset = getattr(self, name)
        assert dataset is not None
        return dataset

    def _loader_kwargs(self) -> dict[str, Any]:
        return {
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.persistent_workers,
        }


def _held_out(paths: Sequence[Path], names: Sequence[str], key: str) -> set[Path]:
    """The files named (by stem or file name) in ``names``: kept out of training, used for validation.

    Every name must match a file, and at least one file must stay for training.
    """
    wanted = set(names)
    held = {p for p in paths if p.stem in wanted or p.name in wanted}
    unknown = sorted(wanted - {p.stem for p in held} - {p.name for p in held})
    if unknown:
        raise DataConfigError(f"{key}: no image named {unknown} in the folder; use file names or stems")
    if held and len(held) == len(paths):
        raise DataConfigError(f"{key} holds out every image; leave at least one for training")
    return held


def _warn_if_all_upscaled(sizes: dict[Path, tuple[int, int]], folder_key: str, size_key: str, size: int) -> None:
    """One warning when every image is smaller than the crop: all are upscaled, so training is slower (larger
    crops than the data holds) and learns from blurry pixels, which is rarely what was meant."""
    if not sizes or rank_zero_only.rank != 0:
        return
    width, height = max(sizes.values(), key=min)
    if size > min(width, height):
        log.warning("%s=%d is larger than every image in %s (the largest is %dx%d): all are upscaled to fill it, "
                    "which is slower and blurrier; lower %s to at most %d or use larger images",
                    size_key, size, folder_key, width, height, size_key, min(width, height))


def _require(ok: bool, key: str, value: object, rule: str) -> None:
    if not ok:
        raise ValueError(f"{key}={value!r} {rule}.")


def _union(*lists: Sequence[Path]) -> list[Path]:
    """The paths of ``lists`` in order, each once (an image in two training folders is not drawn twice)."""
    return list(dict.fromkeys(p for paths in lists for p in paths))


def _list_extra(folders: Sequence[Path], key: str, what: str, make: str) -> list[tuple[Path, list[Path]]]:
    """List training-only image folders; a missing one says where its images come from."""
    listed = []
    for folder in folders:
        if not folder.is_dir():  # list_images would say so too, without saying where they come from
            raise DataConfigError(
                f"{key}: {folder} does not exist; fetch those {what} first (the cpu_quality recipe's come from "
                f"`{make}`) or set {key}=[]."
            )
        listed.append((folder, list_images(folder, config_key=key)))
    return listed
