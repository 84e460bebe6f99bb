"""Inference loads the EMA weights training kept, and refuses NaN/inf weights and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptive_st.inference import NonFiniteError, StyleTransfer, load_stylizer, read_image, resolve_runtime
from adaptive_st.inference.images import resize_longer_side
from tests.cli.conftest import edited_checkpoint


def subset(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def test_ema_weights_are_loaded_by_default_and_live_ones_on_request(ema_ckpt: Path):
    checkpoint = torch.load(ema_ckpt, map_location="cpu", weights_only=True)
    state = checkpoint["state_dict"]
    assert checkpoint["adaptive_st"]["ema"] == {"decay": 0.5, "prefix": "ema."}
    ema, live = load_stylizer(ema_ckpt), load_stylizer(ema_ckpt, use_ema=False)
    assert (ema.weights, live.weights) == ("ema", "live")
    for model, prefix in ((ema, "ema."), (live, "")):
        torch.testing.assert_close(model.stylizer.generator.state_dict(), subset(state, f"{prefix}generator."),
                                   rtol=0, atol=0)
        torch.testing.assert_close(model.stylizer.style_generator.state_dict(),
                                   subset(state, f"{prefix}style_generator."), rtol=0, atol=0)
    differing = [k for k, v in ema.stylizer.generator.state_dict().items()
                 if v.is_floating_point() and not torch.equal(v, live.stylizer.generator.state_dict()[k])]
    assert differing, "three G steps with β=0.5 must leave the average away from the live weights"


def test_checkpoint_without_ema_loads_its_live_weights(constant_ckpt: Path):
    assert load_stylizer(constant_ckpt).weights == "live"
    assert load_stylizer(constant_ckpt, use_ema=False).weights == "live"


def test_nan_ema_weights_are_refused_naming_the_file_and_the_fix(ema_ckpt: Path, tmp_path: Path):
    path = edited_checkpoint(ema_ckpt, tmp_path / "nan_ema.ckpt", ema__generator__stem__conv__weight=float("nan"))
    with pytest.raises(NonFiniteError) as info:
        load_stylizer(path)
    message = str(info.value)
    assert message.startswith(f"{path}: the EMA weights are not finite")
    assert "ema.generator.stem.conv.weight" in message and "--no-ema (the live weights are finite)" in message
    assert load_stylizer(path, use_ema=False).weights == "live"  # the live weights are untouched


def test_inf_live_weights_are_refused(constant_ckpt: Path, tmp_path: Path):
    path = edited_checkpoint(constant_ckpt, tmp_path / "inf.ckpt", style_generator__head__weight=float("inf"))
    with pytest.raises(NonFiniteError, match=r"inf\.ckpt: the live weights are not finite.*earlier checkpoint"):
        load_stylizer(path)


def test_non_finite_output_is_an_error_not_a_black_image(ema_ckpt: Path, images: Path, tmp_path: Path):
    # Finite weights that overflow: the first conv's activations become inf, instance norm makes NaN.
    path = edited_checkpoint(ema_ckpt, tmp_path / "overflow.ckpt", ema__generator__stem__conv__weight=1e38)
    engine = StyleTransfer(load_stylizer(path), resolve_runtime("cpu"))
    style = engine.style_from_images([resize_longer_side(read_image(images / "style" / "candy.jpg"), 96)], "c")
    content = resize_longer_side(read_image(images / "content" / "sailboat.jpg"), 64)
    with pytest.raises(NonFiniteError, match=r"overflow\.ckpt: the model's outputs are not finite.*--no-ema"):
        engine.stylize(content, style)
