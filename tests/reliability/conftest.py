"""Helpers for the reliability tests: tiny fast runs, metrics CSV and checkpoint readers."""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from tests.cli.conftest import (  # noqa: F401  (fixtures: the checkpoints trained once per session)
    _retain_freed_memory,
    checkpoint_factory,
    conditional_ckpt,
    constant_ckpt,
    images,
)
from tests.conftest import FAST

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


def assert_one_line_error(err: str, command: str) -> str:
    """A user error as the CLIs must report it: no traceback, exactly one ``adaptive-st <command>: error:``
    line per problem, each a single line. Returns the error text (without the prefix)."""
    assert "Traceback" not in err, err
    prefix = f"adaptive-st {command}: error: "
    lines = [line for line in err.splitlines() if line.startswith(prefix)]
    assert lines, err
    return "\n".join(line[len(prefix):] for line in lines)


TrainCli = Callable[..., tuple[int, str]]


@pytest.fixture
def train_cli(tmp_path: Path, sample_root: Path, shared_dir: Path, capsys: pytest.CaptureFixture[str],
              monkeypatch: pytest.MonkeyPatch) -> Iterator[TrainCli]:
    """Run ``python -m adaptive_st.train`` in this process (Hydra's ``main``, as the console runs it):
    tiny, CSV-logged, into ``tmp_path/run``. Returns (exit code, stderr)."""
    from adaptive_st.cli import train as cli

    def run(*overrides: str) -> tuple[int, str]:
        GlobalHydra.instance().clear()
        argv = ["adaptive_st.train", *FAST, *TINY, "logger=csv", f"paths.data_dir={sample_root}",
                f"paths.shared_dir={shared_dir}", f"hydra.run.dir={tmp_path / 'run'}", *overrides]
        monkeypatch.setattr(sys, "argv", argv)
        capsys.readouterr()
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        finally:
            GlobalHydra.instance().clear()
            # Hydra configured logging for the job, to this test's captured stderr: undo it for later tests.
            for handler in root.handlers:
                if handler not in handlers:
                    handler.close()
            root.handlers[:] = handlers
            root.setLevel(level)
        return code, capsys.readouterr().err

    yield run
