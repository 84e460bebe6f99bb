"""A run resumed mid-epoch continues exactly like the uninterrupted run: same batches, bitwise same state."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from omegaconf import DictConfig

from adaptive_st.cli.train import build, resolve_ckpt_path
from adaptive_st.data.resumable import EpochShuffleSampler, ResumableDataLoader
from tests.reliability.conftest import TINY, in_dir

pytestmark = pytest.mark.slow


class RecordBatches(L.Callback):
    """(content ids, style ids, crop checksum) of every training batch."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[int], list[int], float]] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.seen.append((batch["content_index"].tolist(), batch["style_index"].tolist(),
                          round(float(batch["content"].sum()), 3)))


def fit(cfg: DictConfig) -> tuple[RecordBatches, L.LightningModule, L.Trainer]:
    L.seed_everything(cfg.seed)  # as train() does
    datamodule, module, trainer = build(cfg)
    recorder = RecordBatches()
    trainer.callbacks.append(recorder)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.ckpt_path, cfg.paths.output_dir))
    return recorder, module, trainer


@pytest.mark.parametrize("workers", [0, 2])
def test_mid_epoch_resume_matches_the_uninterrupted_run(compose_cfg, tmp_path: Path, workers: int) -> None:
    # 8 batches per epoch, 12 in all; the first run stops after batch 5 (mid-epoch 0), the resumed run
    # finishes epoch 0 and trains 4 batches of epoch 1. loss_ratio: a policy with state of its own.
    # Persistent workers: the dataset epoch must reach them through the restore, not only at epoch start.
    common = (*TINY, "policy=loss_ratio", "policy.window=2", f"data.num_workers={workers}",
              f"data.persistent_workers={workers > 0}")
    full, full_module, full_trainer = fit(in_dir(compose_cfg(*common, "trainer.max_steps=24"), tmp_path / "a"))
    first, _, _ = fit(in_dir(compose_cfg(*common, "trainer.max_steps=10", "checkpoint_every=2"), tmp_path / "b"))
    second, module, trainer = fit(in_dir(compose_cfg(*common, "trainer.max_steps=24", "ckpt_path=last"), tmp_path / "b"))

    assert len(first.seen) == 5 and len(full.seen) == 12
    assert first.seen + second.seen == full.seen  # same items, pairings and crops, in the same order
    for (name, a), b in zip(full_module.state_dict().items(), module.state_dict().values(), strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=0, msg=name)
    for opt_a, opt_b in zip(full_trainer.optimizers, trainer.optimizers, strict=True):
        for state_a, state_b in zip(opt_a.state.values(), opt_b.state.values(), strict=True):
            for key in state_a:
                torch.testing.assert_close(state_b[key], state_a[key], rtol=0, atol=0)


def test_loader_state_counts_taken_batches_and_rolls_over_at_epoch_end() -> None:
    data = list(range(10))
    loader = ResumableDataLoader(data, batch_size=2, sampler=EpochShuffleSampler(10, seed=1), drop_last=True)
    loader.sampler.set_epoch(3)
    it = iter(loader)
    taken = [next(it).tolist() for _ in range(2)]
    assert loader.state_dict() == {"epoch": 3, "batches": 2}

    resumed = ResumableDataLoader(data, batch_size=2, sampler=EpochShuffleSampler(10, seed=1), drop_last=True)
    resumed.load_state_dict(loader.state_dict())
    rest = [b.tolist() for b in resumed]
    assert taken + rest == [b.tolist() for b in loader_for_epoch(3)]
    assert resumed.state_dict() == {"epoch": 3, "batches": 5}

    at_end = ResumableDataLoader(data, batch_size=2, sampler=EpochShuffleSampler(10, seed=1), drop_last=True)
    at_end.load_state_dict({"epoch": 3, "batches": 5})
    assert [b.tolist() for b in at_end] == [b.tolist() for b in loader_for_epoch(4)]


def loader_for_epoch(epoch: int) -> ResumableDataLoader:
    sampler = EpochShuffleSampler(10, seed=1)
    sampler.set_epoch(epoch)
    return ResumableDataLoader(list(range(10)), batch_size=2, sampler=sampler, drop_last=True)
