"""Helpers for the reliability tests: tiny fast runs, metrics CSV and checkpoint readers."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from omegaconf import DictConfig

#: On top of tests.conftest.FAST: smaller crops, no image grid, checkpoints every 2 batches.
TINY = (
    "data.crop_size=32",
    "data.batch_size=2",
    "data.train_length=16",
    "data.num_val_pairs=2",
    "trainer.val_check_interval=1000",
    "trainer.num_sanity_val_steps=0",
    "~callbacks.image_grid",
    "checkpoint_every=4",
)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny convolutions on a busy 2-core machine run ~10x faster on one thread than on two."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def in_dir(cfg: DictConfig, output_dir: Path) -> DictConfig:
    """``compose_cfg`` fixes ``paths.output_dir`` to one folder per test; runs that need their own set it here."""
    cfg.paths.output_dir = str(output_dir)
    return cfg


def read_csv(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "csv" / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def train_steps(rows: list[dict[str, str]]) -> list[int]:
    """Logger steps of the rows that carry training metrics, in file order."""
    return [int(r["step"]) for r in rows if r.get("train/loss_g")]


def load_ckpt(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)
