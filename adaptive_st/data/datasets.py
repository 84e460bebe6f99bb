"""Unpaired (content, style) image dataset with deterministic pairing, caching and bad-file tolerance."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import Dataset

from adaptive_st.data.images import (
    DataConfigError,
    ImageLoadError,
    eval_crop_array,
    load_rgb,
    pil_to_uint8_tensor,
)
from adaptive_st.data.images import resize_shorter_side as resize_shorter_side

log = logging.getLogger(__name__)

_CONTENT, _STYLE = 0, 1
_KIND_NAMES = ("content", "style")
_CONFIG_KEYS = ("data.content_dir", "data.style_dir")
# Distinct RNG streams so that e.g. the style permutation and the crops never share random numbers.
_STREAM_STYLE_PERM, _STREAM_AUGMENT, _STREAM_VARIANT = 1, 2, 4


def default_load_size(crop_size: int) -> int:
    """Shorter side before cropping: ~15% margin around the crop gives translation jitter in training."""
    return max(crop_size, round(crop_size * 1.15))


class UnpairedStyleDataset(Dataset[dict[str, Any]]):
    """Pairs every content image with a style image; the two sets are unrelated (unpaired training).

    Item ``i`` uses ``content[i % Nc]``. Its style comes from a permutation of the style set seeded by
    ``(seed,)`` in eval mode (fixed, reproducible validation pairs) or ``(seed, epoch)`` in train mode, indexed
    by ``i % Ns``, so every epoch shows each style about equally often but in new combinations. Crops and flips
    in train mode are drawn from ``(seed, epoch, i)``: results do not depend on worker count or shuffling.
    Call :meth:`set_epoch` at the start of each epoch (``DatasetEpochCallback`` does it); the epoch lives in
    shared memory, so it reaches persistent DataLoader workers too.

    ``style_size`` (optional): style images are instead resized to that shorter side and centre-cropped,
    whole and deterministic, so their VGG statistics can be cached by index (the statistics of a whole
    painting, not of a crop, are what a user's style image gives at inference).

    Preprocessing: resize so the *shorter* side is ``load_size`` (images smaller than that are upscaled, since
    a tiny image must still fill a crop), then random (train) / centre (eval) crop of ``crop_size`` and a
    random horizontal flip in train mode. Outputs are float32 (3, S, S) in [0, 1].

    ``cache=True`` keeps each decoded + resized image as a uint8 tensor (about ``load_size**2 * 3 * aspect``
    bytes per file) so every file is decoded once instead of once per epoch. With ``num_workers > 0`` call
    :meth:`preload` first so workers share the cache instead of each building its own.

    Unreadable files never stop training: the first failure of each file is logged as a warning, the file is
    recorded in :attr:`bad_files` and the next valid file is used instead. Only if *every* content (or style)
    file is bad does it raise :class:`DataConfigError`.
    """

    def __init__(
        self,
        content_paths: Sequence[Path],
        style_paths: Sequence[Path],
        crop_size: int = 128,
        load_size: int | None = None,
        train: bool = True,
        seed: int = 0,
        length: int | None = None,
        cache: bool = True,
        style_size: int | None = None,
        style_augment: bool = False,
        style_variants: int = 1,
    ) -> None:
        if not content_paths:
            raise DataConfigError("No content images given; check `data.content_dir`.")
        if not style_paths:
            raise DataConfigError("No style images given; check `data.style_dir`.")
        if crop_size < 1:
            raise ValueError(f"data.crop_size must be >= 1, got {crop_size}.")
        load_size = default_load_size(crop_size) if load_size is None else int(load_size)
        if crop_size > load_size:
            raise ValueError(
                f"data.crop_size={crop_size} is larger than data.load_size={load_size} (the shorter side images "
                "are resized to); lower data.crop_size or raise data.load_size."
            )
        self.content_paths: tuple[Path, ...] = tuple(Path(p) for p in content_paths)
        self.style_paths: tuple[Path, ...] = tuple(Path(p) for p in style_paths)
        self.crop_size = int(crop_size)
        self.load_size = load_size
        self.train = train
        self.seed = int(seed)
        self.length = max(len(self.content_paths), len(self.style_paths)) if length is None else int(length)
        if self.length < 1:
            raise ValueError(f"Dataset length must be >= 1, got {self.length}.")
        self.cache = cache
        if style_size is not None and style_size < crop_size:
            raise ValueError(f"data.style_size={style_size} must be >= data.crop_size={crop_size} (or null)")
        if style_augment and style_size is None:
            raise ValueError("data.style_augment=true needs data.style_size (whole style images to re-crop)")
        if style_variants < 1:
            raise ValueError(f"data.style_variants must be >= 1, got {style_variants}")
        if style_variants > 1 and (style_size is None or style_augment):
            raise ValueError("data.style_variants > 1 needs data.style_size and data.style_augment=false "
                             "(variants are fixed augmentations; style_augment draws new ones every time)")
        self.style_size = style_size
        self.style_augment = style_augment and train
        self.style_variants = int(style_variants) if train else 1

        n_content = len(self.content_paths)
        # One shared-memory block: [epoch, bad flags of content files..., bad flags of style files...]. Shared
        # memory lets set_epoch reach persistent workers and lets the main process see bad files found in workers.
        self._shared = torch.zeros(1 + n_content + len(self.style_paths), dtype=torch.int64).share_memory_()
        self._bad = (self._shared[1 : 1 + n_content], self._shared[1 + n_content :])
        self._paths = (self.content_paths, self.style_paths)
        self._cache: tuple[dict[int, torch.Tensor], dict[int, torch.Tensor]] = ({}, {})
        self._perm: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return self.length

    @property
    def epoch(self) -> int:
        return int(self._shared[0])

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose pairing and augmentation (train mode) the next items use."""
        self._shared[0] = int(epoch)

    @property
    def bad_files(self) -> set[Path]:
        """Files that failed to load so far (in this process or any DataLoader worker)."""
        return {
            paths[j]
            for paths, flags in zip(self._paths, self._bad)
            for j in torch.nonzero(flags).flatten().tolist()
        }

    @property
    def num_bad_files(self) -> int:
        return int(self._bad[0].count_nonzero() + self._bad[1].count_nonzero())

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for dataset of length {self.length}")
        epoch = self.epoch if self.train else 0
        style_index = int(self._style_permutation(epoch)[index % len(self.style_paths)])
        content, content_index = self._load_valid(_CONTENT, index % len(self.content_paths))
        style, style_index = self._load_valid(_STYLE, style_index)
        rng = (
            np.random.default_rng([_STREAM_AUGMENT, self.seed % 2**63, epoch, index]) if self.train else None
        )
        variant = int(rng.integers(self.style_variants)) if rng is not None and self.style_variants > 1 else 0
        return {
            "content": self._crop(content, rng),
            "style": self._style_item(style, rng, style_index, variant),
            "content_index": content_index,
            "style_index": style_index,
            # Names the exact style image (painting and variant): the key of the module's style-target cache.
            "style_key": style_index * self.style_variants + variant,
        }

    def _style_item(self, style: torch.Tensor, rng: np.random.Generator | None, style_index: int,
                    variant: int) -> torch.Tensor:
        if self.style_size is None:
            return self._crop(style, rng)
        if self.style_augment and rng is not None:
            return augment_style(style, self.style_size, rng)
        if variant:  # a fixed augmentation of this painting: same image every time, so its targets cache
            fixed = np.random.default_rng([_STREAM_VARIANT, self.seed % 2**63, style_index, variant])
            return augment_style(style, self.style_size, fixed)
        return self._crop(style, None, self.style_size)

    def preload(self, num_threads: int = 1) -> None:
        """Decode every file into the cache now (no-op without ``cache``); marks bad files as a side effect."""
        if not self.cache:
            return
        jobs = [(kind, j) for kind in (_CONTENT, _STYLE) for j in range(len(self._paths[kind]))]
        with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:  # Pillow decodes without the GIL
            list(pool.map(lambda job: self._try_decode(*job), jobs))

    def _style_permutation(self, epoch: int) -> np.ndarray:
        if self._perm is None or self._perm[0] != epoch:
            entropy = [_STREAM_STYLE_PERM, self.seed % 2**63] + ([epoch] if self.train else [])
            self._perm = (epoch, np.random.default_rng(entropy).permutation(len(self.style_paths)))
        return self._perm[1]

    def _load_valid(self, kind: int, index: int) -> tuple[torch.Tensor, int]:
        """The image at ``index`` or, if it is unreadable, the next readable one (wrapping around)."""
        n = len(self._paths[kind])
        for step in range(n):
            j = (index + step) % n
            if not self._bad[kind][j]:
                image = self._try_decode(kind, j)
                if image is not None:
                    return image, j
        split = "training" if self.train else "validation"
        raise DataConfigError(
            f"All {n} {_KIND_NAMES[kind]} images failed to load ({split} split; see the warnings above); "
            f"fix or replace the files in `{_CONFIG_KEYS[kind]}`."
        )

    def _try_decode(self, kind: int, j: int) -> torch.Tensor | None:
        cached = self._cache[kind].get(j)
        if cached is not None:
            return cached
        path = self._paths[kind][j]
        size = self.style_size if kind == _STYLE and self.style_size is not None else self.load_size
        try:
            img = load_rgb(path, draft_min_side=size)
        except ImageLoadError as exc:
            if not self._bad[kind][j]:
                log.warning(
                    "Skipping unreadable %s image (using another one instead): %s", _KIND_NAMES[kind], exc
                )
                self._bad[kind][j] = 1
            return None
        tensor = pil_to_uint8_tensor(resize_shorter_side(img, size))
        if self.cache:
            self._cache[kind][j] = tensor
        return tensor

    def _crop(self, image: torch.Tensor, rng: np.random.Generator | None, size: int | None = None) -> torch.Tensor:
        """Crop (+ flip) and scale to [0, 1] in numpy: tiny torch ops in the main process are slow (see images).

        ``rng=None``: the centre crop, no flip (validation, and whole style images with ``style_size``)."""
        size = size or self.crop_size
        if rng is None:
            return center_crop(image, size)
        _, h, w = image.shape
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        flip = bool(rng.random() < 0.5)
        patch = image.numpy()[:, top : top + size, left : left + size]
        if flip:
            patch = patch[:, :, ::-1]
        out = np.array(patch, dtype=np.float32, order="C")
        out /= np.float32(255.0)
        return torch.from_numpy(out)


def hue_rotation(theta: float) -> np.ndarray:
    """The 3×3 RGB matrix that rotates colours by ``theta`` about the grey axis (greys stay grey)."""
    k = np.full(3, 1 / np.sqrt(3))
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.cos(theta) * np.eye(3) + np.sin(theta) * cross + (1 - np.cos(theta)) * np.outer(k, k)


def augment_style(image: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """A new painting from a known one, for a learned style encoder that must generalise from a few
    dozen paintings: a random square of 50–100 % of the shorter side scaled to ``size`` (a new stroke
    scale), flipped half of the time, and in 3 of 4 cases its palette rotated about the grey axis (new
    colours, same texture). ``image``: uint8 (3, H, W); returns float32 (3, size, size) in [0, 1]."""
    _, h, w = image.shape
    side = max(1, round(min(h, w) * rng.uniform(0.5, 1.0)))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    patch = image[:, top : top + side, left : left + side].float().div_(255.0)
    if side != size:
        patch = F.interpolate(patch[None], size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0]
    if rng.random() < 0.5:
        patch = patch.flip(-1)
    if rng.random() < 0.75:
        rotation = torch.from_numpy(hue_rotation(rng.uniform(-np.pi, np.pi))).float()
        patch = torch.einsum("ij,jhw->ihw", rotation, patch)
    return patch.clamp_(0, 1).contiguous()


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """The centre ``size`` crop of a uint8 (3, H, W) image, as float32 in [0, 1]."""
    _, h, w = image.shape
    top, left = (h - size) // 2, (w - size) // 2
    return image[:, top : top + size, left : left + size].float().div_(255.0).contiguous()


def eval_crop(img: Image.Image, load_size: int, crop_size: int) -> torch.Tensor:
    """The evaluation-mode preprocessing, the one used everywhere an image is not randomly cropped: validation,
    the policy comparison, and the style code / per-image λ at inference (``inference.images``). The shorter
    side is resized to ``load_size`` (PIL bicubic), then the centre ``crop_size`` crop; float32 (3, crop, crop)
    (``data.images.eval_crop_array``, which the torch-free stylize path calls directly)."""
    return torch.from_numpy(eval_crop_array(img, load_size, crop_size))
