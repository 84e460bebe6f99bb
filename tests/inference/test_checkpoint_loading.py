"""load_stylizer: only G, S and the policy are rebuilt; every broken checkpoint is one clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptive_st.inference import CheckpointError, load_stylizer, read_checkpoint
from adaptive_st.models import ContentGenerator, StyleGenerator


def test_loads_generators_and_policy_only(constant_ckpt: Path):
    model = load_stylizer(constant_ckpt)
    assert isinstance(model.stylizer.generator, ContentGenerator)
    assert isinstance(model.stylizer.style_generator, StyleGenerator)
    assert model.policy_name == "constant" and not model.conditioned
    assert not model.stylizer.training and not any(p.requires_grad for p in model.stylizer.parameters())
    # Weights equal the checkpoint's, and nothing of D / VGG was built.
    state, _ = read_checkpoint(constant_ckpt)
    for key, value in model.stylizer.generator.state_dict().items():
        torch.testing.assert_close(value, state[f"generator.{key}"])
    names = {n for n, _ in model.stylizer.named_modules()}
    assert not any("discriminator" in n or "perceptual" in n for n in names)


def test_truncated_checkpoint_names_file(constant_ckpt: Path, tmp_path: Path):
    broken = tmp_path / "truncated.ckpt"
    broken.write_bytes(constant_ckpt.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match=r"truncated\.ckpt: not a readable PyTorch checkpoint"):
        load_stylizer(broken)


def test_garbage_and_missing_files(tmp_path: Path):
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00not a checkpoint" * 10)
    with pytest.raises(CheckpointError, match=r"junk\.ckpt"):
        load_stylizer(junk)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_stylizer(tmp_path / "nope.ckpt")
    with pytest.raises(CheckpointError, match="is a directory"):
        load_stylizer(tmp_path)


def test_foreign_checkpoint_is_refused(tmp_path: Path):
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError, match="not an adaptive_st training checkpoint"):
        load_stylizer(path)


def _edited(ckpt: Path, tmp_path: Path, edit) -> Path:
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    edit(checkpoint["adaptive_st"]["config"])
    path = tmp_path / "edited.ckpt"
    torch.save(checkpoint, path)
    return path


def test_weights_from_another_model_config(constant_ckpt: Path, tmp_path: Path):
    path = _edited(constant_ckpt, tmp_path, lambda cfg: cfg["model"]["generator"].update(width=12))
    with pytest.raises(CheckpointError, match=r"edited\.ckpt: the content generator \(G\) weights do not fit.*shape"):
        load_stylizer(path)


def test_targets_outside_the_package_are_not_instantiated(constant_ckpt: Path, tmp_path: Path):
    path = _edited(constant_ckpt, tmp_path, lambda cfg: cfg["policy"].update(_target_="os.system"))
    with pytest.raises(CheckpointError, match="refusing to instantiate"):
        load_stylizer(path)
