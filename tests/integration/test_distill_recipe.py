"""Distillation (experiment=cpu_distill): the light model's content target is a trained quality model's output."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from adaptive_st.cli.validation import ConfigError, validate_config
from adaptive_st.models import MicroGenerator
from tests.cli.conftest import train_checkpoint
from tests.integration.test_micro_recipe import assert_stylizes_one_pair
from tests.integration.test_quality_recipe import SMALL as QUALITY_SMALL

SMALL = ("experiment=cpu_distill", "data.crop_size=64", "data.load_size=72", "data.style_size=64",
         "data.batch_size=2", "data.num_val_pairs=2", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "module.val_metrics=null", "model.generator.width=8",
         "data.extra_style_dirs=[]", "minutes=null", "trainer.max_steps=8")


@pytest.fixture
def teacher(tmp_path_factory, sample_root, shared_dir) -> Path:
    """The tiny quality checkpoint test_quality_recipe trains (same name and overrides: trained once)."""
    base = tmp_path_factory.getbasetemp() / "adaptive_st_checkpoints"
    return train_checkpoint(base, "quality", (*QUALITY_SMALL, "trainer.max_steps=4"), sample_root, shared_dir)


def test_distillation_needs_a_readable_teacher(compose_cfg, tmp_path, teacher):
    """Each half alone, or a missing file, is a one-line error naming the option (the CLI's ``build``)."""
    from adaptive_st.checkpoint import CheckpointError
    from adaptive_st.cli.train import build, error_lines

    cases = {
        (): (ConfigError, "loss.perceptual.content_target=teacher needs module.teacher=PATH"),
        (f"module.teacher={tmp_path / 'none.ckpt'}",): (CheckpointError, "module.teacher: .*does not exist"),
        ("experiment=cpu_quality", f"module.teacher={teacher}"): (ConfigError, "set loss.perceptual.content_target=teacher"),
    }
    for overrides, (error, message) in cases.items():
        cfg = compose_cfg(*SMALL, *overrides, "data.extra_style_dirs=[]", fast=False)
        validate_config(cfg)
        with pytest.raises(error, match=message) as info:
            build(cfg)
        assert len(error_lines(info.value)) == 1


def test_teacher_target_is_the_teachers_output_and_is_not_saved(compose_cfg, teacher):
    cfg = compose_cfg(*SMALL, f"module.teacher={teacher}", fast=False)
    validate_config(cfg)
    module = instantiate(cfg.module, run_config=None)
    assert isinstance(module.generator, MicroGenerator)
    assert module.teacher_reuses_vgg, "a quality teacher on the loss's VGG decodes from the loss's features"
    assert not any(k.startswith("teacher") for k in module.state_dict()), "the teacher is not saved with the student"
    assert all(not p.requires_grad for p in module.teacher.parameters())
    trained = {id(p) for p in module.parameters()}
    assert not any(id(p) in trained for p in module.teacher.parameters()), "no optimizer may see the teacher"

    torch.manual_seed(0)
    content = torch.rand(2, 3, 64, 64)
    from adaptive_st.models.feature_transform import PATCH, patch_mean_cov

    style = torch.rand(2, 3, 64, 64)
    assert module.style_generator.texture, "the recipe stylizes with the output texture stage"
    stats = module._style_stats({"content": content, "style": style}, style)  # what validation's S reads
    torch.testing.assert_close(stats[PATCH], patch_mean_cov(style))
    size = module.teacher.style_generator.image_size  # styles up to this size: the loss's statistics serve
    for style in (torch.rand(2, 3, size, size) ** 2, torch.rand(2, 3, 2 * size, 2 * size) ** 2):
        batch = {"content": content, "style": style}
        c_feats = module.perceptual.features(content)
        target = module._teacher_targets(batch, content, c_feats, module._style_stats(batch, style))
        with torch.no_grad():
            direct = module.perceptual.features(module.teacher(content, style).clamp(0, 1))
        assert set(target) == {"relu1_1", "relu2_1", "relu3_1"}
        for name in target:
            scale = direct[name].abs().max()
            assert (target[name] - direct[name]).abs().max() < 1e-3 * scale, (name, style.shape)
            assert not torch.allclose(target[name], c_feats[name]), "the teacher's output, not the photo"


def test_student_learns_the_teachers_output_on_a_fixed_batch(compose_cfg, teacher):
    """The distillation target is reachable through the student's parameters: 40 Adam steps on one batch
    cut the content term (feature distance to the teacher's output) by more than half."""
    cfg = compose_cfg(*SMALL, f"module.teacher={teacher}", fast=False)
    module = instantiate(cfg.module, run_config=None)
    torch.manual_seed(0)
    size = module.teacher.style_generator.image_size
    content, style = torch.rand(2, 3, 64, 64), torch.rand(2, 3, size, size) ** 2
    batch = {"content": content, "style": style}
    c_feats = module.perceptual.features(content)
    s_stats = module._style_stats(batch, style)
    opt = torch.optim.Adam([*module.generator.parameters(), *module.style_generator.parameters()], lr=3e-3)
    losses = []
    for _ in range(40):
        fake, target = module._stylize_for_loss(batch, content, c_feats, s_stats, None)
        loss = module.perceptual(fake, content, style, content_feats=target, style_feats=s_stats)["content"].mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0], " ".join(f"{v:.2f}" for v in losses)


@pytest.mark.slow
def test_distillation_run_saves_only_the_student(compose_cfg, teacher, shared_dir, tmp_path):
    from adaptive_st.cli.train import train

    cfg = compose_cfg(*SMALL, f"module.teacher={teacher}", "trainer.max_steps=6", "callbacks.image_grid=null",
                      fast=False)
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert any(k.startswith("generator.encoder") for k in state)
    assert not any(k.startswith("teacher") for k in state), "the teacher is not part of the student's checkpoint"
    assert_stylizes_one_pair(ckpt, shared_dir, tmp_path)
