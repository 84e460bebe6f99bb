"""The CPU quality recipe (experiment=cpu_quality): composition, cached targets, a short run, stylize."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from adaptive_st.losses.perceptual import style_stats
from adaptive_st.models import FeatureStatsStyle, FeatureTransformGenerator
from tests.cli.conftest import train_checkpoint

#: The recipe at test size: 64² crops against 64² paintings, a few batches.
SMALL = ("experiment=cpu_quality", "model=quality", "data.crop_size=64", "data.load_size=72", "data.style_size=64",
         "data.batch_size=2", "data.num_val_pairs=2", "trainer.enable_progress_bar=false",
         "trainer.enable_model_summary=false", "module.val_metrics=null", "model.generator.width=16",
         "data.extra_style_dirs=[]")


def test_recipe_composes_with_held_out_images(compose_cfg):
    full = compose_cfg("experiment=cpu_quality", fast=False)
    assert list(full.data.extra_style_dirs) == [f"{full.paths.data_dir}/paintings"], \
        "the recipe trains on the `make paintings` set too"
    cfg = compose_cfg(*SMALL, fast=False)
    assert cfg.model.generator._target_.endswith("FeatureTransformGenerator")
    assert set(cfg.data.holdout_styles) and set(cfg.data.holdout_content)
    dm = instantiate(cfg.data)
    trained_styles = {p.stem for p in dm.style_train_paths}
    assert trained_styles.isdisjoint(cfg.data.holdout_styles)
    assert {p.stem for p in dm.style_val_paths} == set(cfg.data.holdout_styles)
    assert {p.stem for p in dm.content_train_paths}.isdisjoint(cfg.data.holdout_content)
    module = instantiate(cfg.module, run_config=None)
    assert module.reuse_loss_features, "G and S share the loss VGG: the step must not run it twice"


def test_paintings_as_content_adds_only_training_paintings(compose_cfg):
    cfg = compose_cfg(*SMALL, "data.paintings_as_content=true", fast=False)
    dm = instantiate(cfg.data)
    content = {p.stem for p in dm.content_train_paths}
    assert {p.stem for p in dm.style_train_paths} <= content
    assert content.isdisjoint({*cfg.data.holdout_styles, *cfg.data.holdout_content})
    assert {p.stem for p in dm.content_val_paths} == set(cfg.data.holdout_content), "validation stays photos"


def test_recipe_trains_bf16_where_the_cpu_has_it(compose_cfg):
    """bf16-mixed (2.4× fp32 on AMX) trains the most batches in the recipe's 27 minutes; elsewhere it falls
    back to fp32 (fewer batches in the same time budget)."""
    from adaptive_st.cli.train import apply_cpu_precision

    for native, expected in ((True, "bf16-mixed"), (False, "32-true")):
        cfg = compose_cfg(*SMALL, fast=False)
        assert cfg.trainer.precision == "bf16-mixed" and cfg.minutes == 27 and cfg.trainer.max_steps == -1
        apply_cpu_precision(cfg, native_bf16=native)
        assert cfg.trainer.precision == expected
    cfg = compose_cfg(*SMALL, "trainer.accelerator=gpu", fast=False)
    apply_cpu_precision(cfg, native_bf16=False)  # a GPU's bf16 is not the CPU's business
    assert cfg.trainer.precision == "bf16-mixed"


def test_cached_style_targets_equal_fresh_ones(compose_cfg):
    cfg = compose_cfg(*SMALL, fast=False)
    module = instantiate(cfg.module, run_config=None)
    style = torch.rand(3, 3, 64, 64)
    style[2] = style[0]  # one index, one image: what data.style_size guarantees
    batch = {"style_index": torch.tensor([4, 7, 4]), "style": style}
    first = module._style_stats(batch, style)
    assert sorted(module._style_cache) == [4, 7]
    cached = module._style_stats(batch, style.flip(0))  # would differ if recomputed
    layers = module.perceptual.style_layers
    fresh = style_stats(module.perceptual.features(style, layers), layers)
    for name in layers:
        for a, b, c in zip(first[name], cached[name], fresh[name]):
            assert torch.allclose(a, c, rtol=1e-5, atol=1e-6) and torch.equal(a, b)
    # With data.style_variants the key is style_key: a painting's variant is a different image.
    variant = {"style_index": torch.tensor([4]), "style_key": torch.tensor([4 * 8 + 3]), "style": style[1:2]}
    module._style_stats(variant, style[1:2])
    assert sorted(module._style_cache) == [4, 7, 35]
    assert not torch.equal(module._style_cache[35][layers[0]][1], module._style_cache[4][layers[0]][1])


def _short_run(compose_cfg, name: str, *overrides: str) -> tuple[list[float], list[float]]:
    """20 batches of the recipe at toy size in run folder ``name``: (train style loss per batch, validation style
    loss per check)."""
    import csv

    from adaptive_st.cli.train import train

    cfg = compose_cfg(*SMALL, "trainer.max_steps=40", "trainer.val_check_interval=5",
                      "trainer.log_every_n_steps=1", "callbacks.image_grid=null", *overrides, fast=False)
    cfg.paths.output_dir = str(Path(cfg.paths.output_dir).parent / name)
    train(cfg)
    rows = list(csv.DictReader((Path(cfg.paths.output_dir) / "csv" / "metrics.csv").open()))
    style = [float(r["train/loss_style"]) for r in rows if r.get("train/loss_style")]
    val = [float(r["val/loss_style"]) for r in rows if r.get("val/loss_style")]
    assert len(style) >= 10 and len(val) >= 2
    return style, val


@pytest.mark.slow
def test_style_loss_falls_in_a_short_run(compose_cfg):
    """The decoder learns: without the output colour stage the style loss halves in 20 batches. With it (the
    recipe), the palette is matched from the first batch, and what is left is texture, which 20 batches barely
    move: its validation style loss starts below where the plain run ends."""
    style, val = _short_run(compose_cfg, "plain", "model.generator.colour_match=0.0",
                            "model.generator.colour_match_at_inference=null")
    assert sum(style[-5:]) / 5 < 0.5 * sum(style[:5]) / 5, " ".join(f"{s:.2f}" for s in style)
    assert val[-1] < val[0], " ".join(f"{v:.3f}" for v in val)
    _, staged = _short_run(compose_cfg, "staged")
    assert len(staged) == len(val) and staged[0] < 0.5 * val[-1], (staged, val)


@pytest.mark.slow
def test_stylize_runs_the_quality_model(tmp_path_factory, sample_root, shared_dir, tmp_path):
    from adaptive_st.cli import stylize
    from adaptive_st.inference import load_stylizer

    base = tmp_path_factory.getbasetemp() / "adaptive_st_checkpoints"
    ckpt = train_checkpoint(base, "quality", (*SMALL, "trainer.max_steps=4"), sample_root, shared_dir)
    model = load_stylizer(ckpt)
    assert isinstance(model.stylizer.generator, FeatureTransformGenerator)
    assert isinstance(model.stylizer.style_generator, FeatureStatsStyle)
    content = shared_dir / "data" / "images" / "content" / "golden_gate.jpg"
    style = shared_dir / "data" / "images" / "style" / "the_scream.jpg"
    out = tmp_path / "out"
    code = stylize.main([str(ckpt), str(content), str(style), "--out", str(out), "--size", "96"])
    assert code in (0, None)
    files = list(out.glob("*.png"))
    assert len(files) == 1
    from PIL import Image

    image = torch.tensor(list(Image.open(files[0]).convert("RGB").getdata()), dtype=torch.float32)
    assert max(Image.open(files[0]).size) == 96 and image.std() > 5  # a picture, not a flat fill
