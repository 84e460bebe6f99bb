"""The light model's recipe (experiment=cpu_micro): the quality model's objective without its VGG."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from adaptive_st.losses.feature_stats import channel_mean_cov
from adaptive_st.models import MicroGenerator, MicroStyle

SMALL = ("experiment=cpu_micro", "data.crop_size=64", "data.load_size=72", "data.style_size=64",
         "data.batch_size=2", "data.num_val_pairs=2", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "module.val_metrics=null", "model.generator.width=8")


def test_recipe_builds_the_light_model_on_the_quality_loss(compose_cfg):
    cfg = compose_cfg(*SMALL, fast=False)
    module = instantiate(cfg.module, run_config=None)
    assert isinstance(module.generator, MicroGenerator) and isinstance(module.style_generator, MicroStyle)
    assert not module.reuse_loss_features, "the light model has its own encoders: no VGG at inference"
    assert module.perceptual.content_target == "stylized"
    assert not any(p.requires_grad for p in module.perceptual.parameters())


def test_stylized_target_carries_the_styles_statistics(compose_cfg):
    """The content target is WCT in the loss's VGG space: the photo's features with exactly the painting's
    channel mean and covariance at every content layer (what the quality model's decoder inverts)."""
    cfg = compose_cfg(*SMALL, "loss.perceptual.content_layers=[relu2_1,relu3_1]", fast=False)
    module = instantiate(cfg.module, run_config=None)
    torch.manual_seed(0)
    content, style = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64) ** 2
    c_feats = module.perceptual.features(content)
    s_stats = module._style_stats({"style": style}, style)
    assert {"relu2_1", "relu3_1"} <= set(s_stats)
    target = module._stylized_targets(c_feats, s_stats)
    assert set(target) == {"relu2_1", "relu3_1"}
    for name, feats in target.items():
        mean, cov = channel_mean_cov(feats)
        s_mean, s_cov = s_stats[name]
        assert torch.allclose(mean, s_mean, atol=1e-3), name
        scale = s_cov.abs().max()
        assert (cov - s_cov).abs().max() < 2e-2 * scale, name
        assert not torch.allclose(feats, c_feats[name]), "the target must differ from the photo's features"


def test_content_target_content_keeps_the_photos_features(compose_cfg):
    cfg = compose_cfg(*SMALL, "loss.perceptual.content_target=content", fast=False)
    module = instantiate(cfg.module, run_config=None)
    assert module.perceptual.content_target == "content"


@pytest.mark.slow
def test_short_run_trains_and_stylize_runs_the_light_model(compose_cfg, shared_dir, tmp_path):
    from adaptive_st.cli.train import train

    cfg = compose_cfg(*SMALL, "trainer.max_steps=6", "callbacks.image_grid=null", fast=False)
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    state = torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]
    assert not any(k.startswith(("generator.encoder.features", "style_generator.encoder.features")) for k in state)
    assert_stylizes_one_pair(ckpt, shared_dir, tmp_path)


def assert_stylizes_one_pair(ckpt: Path, shared_dir: Path, tmp_path: Path) -> None:
    """``stylize`` (torch) writes one PNG for a shared photo and painting with ``ckpt``."""
    from adaptive_st.cli import stylize

    content = shared_dir / "data" / "images" / "content" / "golden_gate.jpg"
    style = shared_dir / "data" / "images" / "style" / "the_scream.jpg"
    out = tmp_path / "out"
    assert stylize.main([str(ckpt), str(content), str(style), "--out", str(out), "--size", "96",
                         "--backend", "torch"]) in (0, None)
    assert len(list(out.glob("*.png"))) == 1


def test_vgg_style_encoder_reads_the_losss_statistics(compose_cfg):
    """encoder=vgg: S's code from the loss's cached style statistics equals its own VGG pass, so training
    skips that pass and inference (no loss) computes the same modulation."""
    cfg = compose_cfg(*SMALL, "model.style_generator.encoder=vgg", fast=False)
    module = instantiate(cfg.module, run_config=None)
    assert module.reuse_style_stats and not module.reuse_loss_features
    style = torch.rand(2, 3, 64, 64)
    s = module.style_generator
    with torch.no_grad():
        fast = s.code_from_stats(module._style_stats({"style": style}, style))
        slow = s.encode(style)
    assert fast.shape == slow.shape == (2, s.style_dim)
    assert torch.allclose(fast, slow, rtol=1e-4, atol=1e-4)
    assert not any(p.requires_grad for p in s.encoder.parameters()), "the VGG stays frozen"
