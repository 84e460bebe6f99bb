"""Training faults reported as one line by the CLI, with the state they leave behind stated truthfully:
non-finite losses before any good step, a disk that fills up during a checkpoint write, bad Hydra values."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import adaptive_st.checkpoint.files as checkpoint_io
from adaptive_st.cli.train import train
from tests.reliability.conftest import TINY, assert_one_line_error, load_ckpt
from tests.reliability.test_nonfinite import nan_on_training_calls


@pytest.mark.parametrize(("override", "expected"), [
    ("loss.weights.style=abc", "loss.weights.style='abc': not a number"),
    ("data.crop_size=abc", "data.crop_size='abc': expected an integer"),
    ("trainer.max_steps=1.5", "trainer.max_steps=1.5: expected an integer"),
    ("+data.colour=1", "data: StyleTransferDataModule.__init__() got an unexpected keyword argument 'colour'"),
])
def test_bad_hydra_values_are_one_line_errors_naming_the_key(train_cli, override: str, expected: str) -> None:
    code, err = train_cli(override)
    assert code == 1
    assert expected in assert_one_line_error(err, "train")


@pytest.mark.slow
def test_nonfinite_from_the_first_step_still_leaves_the_promised_checkpoint(compose_cfg, monkeypatch) -> None:
    nan_on_training_calls(monkeypatch, set(range(1000)))  # no step is ever finite: global_step stays 0
    cfg = compose_cfg(*TINY, "trainer.max_steps=40", "module.max_consecutive_nonfinite=2", "checkpoint_every=100")
    with pytest.raises(Exception, match=r"consecutive non-finite losses.*resume with ckpt_path=last"):
        train(cfg)
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert last.is_file(), "the error says to resume from last.ckpt, so it must exist"
    ckpt = load_ckpt(last)
    assert ckpt["global_step"] == 0 and ckpt["state_dict"]["skipped_steps"] == 2
    monkeypatch.undo()  # finite again: the promised resume works
    assert train(compose_cfg(*TINY, "trainer.max_steps=4", "ckpt_path=last"))["train/skipped_steps"] == 2


def fill_disk_on_save(monkeypatch: pytest.MonkeyPatch, from_save: int) -> None:
    """Checkpoint temp files from the ``from_save``-th save on are opened on /dev/full: every write fails
    with ENOSPC, exactly as on a full disk (torch reports it from its zip writer)."""
    saves = {"n": 0}

    def open_full(path, mode="r", *args, **kwargs):
        if str(path).endswith(".tmp"):
            saves["n"] += 1
            if saves["n"] >= from_save:
                return open("/dev/full", "wb")  # closed by the caller's `with`
        return open(path, mode, *args, **kwargs)

    monkeypatch.setattr(checkpoint_io, "open", open_full, raising=False)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full to simulate a full disk")
def test_full_disk_during_a_checkpoint_is_one_line_and_keeps_the_old_file(train_cli, tmp_path, monkeypatch) -> None:
    fill_disk_on_save(monkeypatch, from_save=3)  # step 4 writes step000004.ckpt and last.ckpt; step 8 fails
    code, err = train_cli("trainer.max_steps=12", "checkpoint_every=4")
    assert code == 1
    message = assert_one_line_error(err, "train")
    folder = tmp_path / "run" / "checkpoints"
    assert f"could not write checkpoint {folder}" in message and "No space left on device" in message
    assert f"the checkpoints already in {folder} are intact" in message
    assert load_ckpt(folder / "last.ckpt")["global_step"] == 4  # the old checkpoint, safe
    assert not list(folder.glob(".*.tmp")) and not (folder / "emergency.ckpt").exists()
    assert "inline_container" not in err


def test_failed_write_raises_checkpoint_write_error_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    io = checkpoint_io.AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, path)
    fill_disk_on_save(monkeypatch, from_save=1)
    with pytest.raises(checkpoint_io.CheckpointWriteError) as info:
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(100_000)}, path)
    assert str(info.value).startswith(f"could not write checkpoint {path} (No space left on device); "
                                      f"the checkpoints already in {tmp_path} are intact")
    assert "\n" not in str(info.value)
    monkeypatch.undo()
    assert io.load_checkpoint(path)["global_step"] == 1
