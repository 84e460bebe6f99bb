"""Checkpoints are written atomically and a bad one is refused at start-up with a clear reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from adaptive_st.checkpoint import AtomicCheckpointIO, CheckpointError, load_resume_checkpoint
from adaptive_st.cli.train import build, train
from tests.reliability.conftest import TINY, in_dir


def test_failed_write_keeps_the_previous_file_and_no_temp(tmp_path: Path, monkeypatch) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"global_step": 1, "w": torch.ones(3)}, path)
    real_save = torch.save

    def crash_halfway(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", crash_halfway)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"global_step": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert io.load_checkpoint(path)["global_step"] == 1  # the old file, intact
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]

    (path.parent / ".last.ckpt.deadbeef.tmp").write_bytes(b"left by a killed process")
    io.save_checkpoint({"global_step": 3, "w": torch.zeros(3)}, path)
    assert io.load_checkpoint(path)["global_step"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # stale temp cleaned up


def test_loading_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "loops": {}, "payload": Path("/etc")}, path)  # an arbitrary class
    with pytest.raises(CheckpointError, match="weights_only=True refuses"):
        load_resume_checkpoint(path)
    with pytest.raises(Exception, match="Weights only load failed"):
        AtomicCheckpointIO().load_checkpoint(path)


@pytest.mark.slow
def test_bad_checkpoints_fail_before_training_naming_the_problem(compose_cfg, tmp_path: Path) -> None:
    cfg = compose_cfg(*TINY, "trainer.max_steps=2", "checkpoint_every=2")
    train(cfg)
    good = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert load_resume_checkpoint(good, None)["global_step"] == 2

    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=r"truncated\.ckpt: the file is truncated or corrupt .* ckpt_path=null"):
        build(compose_cfg(*TINY, f"ckpt_path={truncated}"))

    not_lightning = tmp_path / "weights_only.ckpt"
    torch.save({"state_dict": torch.load(good, weights_only=True)["state_dict"]}, not_lightning)
    with pytest.raises(CheckpointError, match="not a Lightning training checkpoint"):
        build(compose_cfg(*TINY, f"ckpt_path={not_lightning}"))

    other = in_dir(compose_cfg(*TINY, "ckpt_path=last", "model.generator.width=16", "model.discriminator.num_scales=2"),
                   Path(cfg.paths.output_dir))
    with pytest.raises(CheckpointError) as info:
        build(other)
    message = str(info.value)
    assert "model.generator.width: checkpoint 8, config 16" in message
    assert "model.discriminator.num_scales: checkpoint 1, config 2" in message
    assert "same model=... option" in message

    shutil.copy(good, tmp_path / "copy.ckpt")  # the same config resumes fine from any path
    build(compose_cfg(*TINY, f"ckpt_path={tmp_path / 'copy.ckpt'}"))


def test_resume_check_refuses_changed_keys_and_notes_keys_the_checkpoint_predates(tmp_path: Path, caplog) -> None:
    from adaptive_st.checkpoint.files import META_KEY

    path = tmp_path / "old.ckpt"
    saved = {"model": {"generator": {"_target_": "G", "width": 16}}}
    torch.save({"state_dict": {}, "loops": {}, META_KEY: {"config": saved}}, path)
    newer = {"model": {"generator": {"_target_": "G", "width": 16, "new_option": "default"}}}
    assert load_resume_checkpoint(path, newer)["loops"] == {}
    assert "predates config keys model.generator.new_option" in caplog.text
    changed = {"model": {"generator": {"_target_": "G", "width": 32, "new_option": "default"}}}
    with pytest.raises(CheckpointError, match=r"model\.generator\.width: checkpoint 16, config 32"):
        load_resume_checkpoint(path, changed)
