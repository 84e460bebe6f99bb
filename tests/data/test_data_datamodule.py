"""StyleTransferDataModule on the real shared photos/paintings and on the built-in sample set."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from adaptive_st.data import DataConfigError, StyleTransferDataModule
from adaptive_st.data.split import split_by_path_hash
from adaptive_st.training.callbacks import DatasetEpochCallback


def _module(shared: Path, **kwargs: object) -> StyleTransferDataModule:
    defaults: dict[str, object] = {"crop_size": 64, "batch_size": 4, "num_val_pairs": 5}
    return StyleTransferDataModule(str(shared / "content"), str(shared / "style"), **{**defaults, **kwargs})


def test_content_split_is_disjoint_stable_and_seed_independent(shared_images: Path) -> None:
    dm = _module(shared_images)
    assert len(dm.content_paths) == 11 and len(dm.style_paths) == 23
    assert len(dm.content_val_paths) == 2  # round(0.15 * 11)
    assert set(dm.content_val_paths).isdisjoint(dm.content_train_paths)
    assert sorted(dm.content_val_paths + dm.content_train_paths) == dm.content_paths
    again = _module(shared_images, seed=123)
    assert again.content_val_paths == dm.content_val_paths


def test_split_depends_only_on_relative_paths() -> None:
    names = [f"sub/img_{k}.jpg" for k in range(20)]
    _, val_a = split_by_path_hash([Path("/machine_a/data") / n for n in names], Path("/machine_a/data"), 0.2)
    _, val_b = split_by_path_hash([Path("/b/x") / n for n in names], Path("/b/x"), 0.2)
    assert [p.name for p in val_a] == [p.name for p in val_b] and len(val_a) == 4
    train, val = split_by_path_hash([Path("/r/a.png"), Path("/r/b.png")], Path("/r"), 0.0)
    assert len(train) == 1 and len(val) == 1  # val gets at least one, train keeps at least one


def test_batches_have_expected_shapes(shared_images: Path) -> None:
    dm = _module(shared_images, val_batch_size=3)
    dm.setup("fit")
    train = dm.train_dataloader()
    assert train.drop_last and len(train.dataset) == 23  # max(9 train content, 23 styles)
    batch = next(iter(train))
    assert batch["content"].shape == (4, 3, 64, 64) and batch["style"].shape == (4, 3, 64, 64)
    assert batch["content"].dtype == torch.float32
    assert float(batch["content"].min()) >= 0.0 and float(batch["style"].max()) <= 1.0
    val_batches = list(dm.val_dataloader())
    assert [b["content"].shape[0] for b in val_batches] == [3, 2]  # num_val_pairs=5
    assert {int(i) for b in val_batches for i in b["content_index"]} <= set(range(len(dm.content_val_paths)))
    test_batch = next(iter(dm.test_dataloader()))
    assert torch.equal(test_batch["style"], val_batches[0]["style"])  # deterministic eval pairs
    assert dm.num_bad_files == 0


def test_loader_options_are_honoured(shared_images: Path) -> None:
    dm = _module(shared_images, num_workers=0, persistent_workers=True, pin_memory=False, train_length=40)
    dm.setup()
    loader = dm.train_dataloader()
    assert loader.num_workers == 0 and not loader.persistent_workers and len(loader.dataset) == 40
    dm.set_epoch(3)
    assert dm.train_dataset is not None and dm.train_dataset.epoch == 3


def test_extra_style_dirs_add_training_paintings_only(tmp_path: Path, shared_images: Path, make_folder) -> None:
    extra = make_folder("extra", 3, size=(80, 70))
    dm = _module(shared_images, extra_style_dirs=[str(tmp_path / "extra")], holdout_styles=["candy"])
    assert len(dm.style_train_paths) == 22 + 3 and set(extra) <= set(dm.style_train_paths)
    assert [p.stem for p in dm.style_val_paths] == ["candy"], "extra paintings are never validated on"
    with pytest.raises(DataConfigError, match=r"data\.extra_style_dirs: .*missing.*make paintings"):
        _module(shared_images, extra_style_dirs=[str(tmp_path / "missing")])


def test_extra_content_dirs_add_training_photos_only(tmp_path: Path, shared_images: Path, make_folder) -> None:
    extra = make_folder("photos", 4, size=(90, 70))
    dm = _module(shared_images, extra_content_dirs=[str(tmp_path / "photos")], holdout_content=["cornell"])
    assert len(dm.content_train_paths) == 10 + 4 and set(extra) <= set(dm.content_train_paths)
    assert [p.stem for p in dm.content_val_paths] == ["cornell"], "extra photos are never validated on"
    assert not set(extra) & set(dm.style_train_paths)
    with pytest.raises(DataConfigError, match=r"data\.extra_content_dirs: .*missing.*make photos"):
        _module(shared_images, extra_content_dirs=[str(tmp_path / "missing")])


def test_empty_content_folder_names_config_key(tmp_path: Path, shared_images: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataConfigError) as info:
        StyleTransferDataModule(str(empty), str(shared_images / "style"))
    assert "data.content_dir" in str(info.value) and str(empty) in str(info.value)


def test_missing_folders_without_sample_root_names_sample_root() -> None:
    with pytest.raises(DataConfigError, match=r"data\.sample_root"):
        StyleTransferDataModule()


def test_invalid_numbers_name_their_keys(shared_images: Path) -> None:
    with pytest.raises(ValueError, match=r"data\.crop_size=200 is larger than data\.load_size=150"):
        _module(shared_images, crop_size=200, load_size=150)
    with pytest.raises(ValueError, match=r"data\.val_fraction"):
        _module(shared_images, val_fraction=1.0)


def test_default_sample_dataset_is_used_when_no_folders(tmp_path: Path) -> None:
    dm = StyleTransferDataModule(sample_root=str(tmp_path / "sample"), crop_size=64, batch_size=8)
    assert len(dm.content_paths) == 32 and len(dm.style_paths) == 8
    assert dm.content_dir == tmp_path / "sample" / "content"
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    assert batch["content"].shape == (8, 3, 64, 64)


class _RecordEpochs(L.LightningModule):
    """Minimal module that records which dataset epoch each training batch came from."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen: list[tuple[int, int]] = []

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        dataset = self.trainer.datamodule.train_dataset
        self.seen.append((self.current_epoch, dataset.epoch))
        return (self.weight * batch["content"].mean()).sum()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_epoch_callback_drives_dataset_epoch_in_a_real_trainer(shared_images: Path) -> None:
    dm = _module(shared_images, crop_size=32)
    module = _RecordEpochs()
    trainer = L.Trainer(
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        callbacks=[DatasetEpochCallback()],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(module, datamodule=dm)
    assert module.seen == [(e, e) for e in range(3) for _ in range(2)]
