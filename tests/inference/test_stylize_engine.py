"""StyleTransfer: sizes, α, λ, colour preservation, style mixing — on real trained checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptive_st.inference import (
    ConditionError,
    StyleTransfer,
    StylizeOptions,
    load_stylizer,
    read_image,
    resolve_runtime,
)
from adaptive_st.inference.images import match_color, resize_longer_side, rgb_to_ycbcr, ycbcr_to_rgb


def small(path: Path, size: int = 160) -> torch.Tensor:
    return resize_longer_side(read_image(path), size)


@pytest.fixture(scope="module")
def constant(constant_ckpt: Path) -> StyleTransfer:
    return StyleTransfer(load_stylizer(constant_ckpt), resolve_runtime("cpu"))


@pytest.fixture(scope="module")
def conditional(conditional_ckpt: Path) -> StyleTransfer:
    return StyleTransfer(load_stylizer(conditional_ckpt), resolve_runtime("cpu"))


def test_keeps_odd_input_sizes_and_resizes_longer_side(constant: StyleTransfer, images: Path):
    content = read_image(images / "content" / "chicago.jpg")[:, :301, :437]  # not multiples of 8
    style = constant.style_from_images([small(images / "style" / "mosaic.jpg")], "mosaic")
    assert constant.stylize(content, style).shape == (3, 301, 437)
    assert constant.stylize(content, style, StylizeOptions(size=200)).shape == (3, 138, 200)


def test_alpha_zero_ignores_the_style(constant: StyleTransfer, images: Path):
    content = small(images / "content" / "sailboat.jpg")
    styles = [constant.style_from_images([small(images / "style" / n)], n) for n in ("candy.jpg", "sketch.png")]
    full = [constant.stylize(content, s) for s in styles]
    zero = [constant.stylize(content, s, StylizeOptions(alpha=0.0)) for s in styles]
    assert (full[0] - full[1]).abs().max() > 1e-3  # the styles do matter at α=1
    torch.testing.assert_close(zero[0], zero[1], atol=1e-6, rtol=0)
    half = constant.stylize(content, styles[0], StylizeOptions(alpha=0.5))
    assert 0 < (half - zero[0]).abs().mean() < (full[0] - zero[0]).abs().mean()


def test_alpha_out_of_range_is_rejected():
    with pytest.raises(ValueError, match=r"alpha \(--alpha\) 1.5: style strength must be in \[0, 1\]"):
        StylizeOptions(alpha=1.5)


def test_lambda_changes_a_conditional_model(conditional: StyleTransfer, images: Path):
    content = small(images / "content" / "flowers.jpg")
    style = conditional.style_from_images([small(images / "style" / "udnie.jpg")], "udnie")
    low = conditional.stylize(content, style, StylizeOptions(lam=0.5))
    high = conditional.stylize(content, style, StylizeOptions(lam=50.0))
    default, lam = conditional.stylize_with_condition(content, style)
    assert lam == pytest.approx(5.0)  # the policy's inference λ: geometric mean of [0.5, 50]
    assert (low - high).abs().mean() > 1e-3
    assert not torch.equal(default, low)


def test_lambda_is_rejected_for_a_constant_model(constant: StyleTransfer, images: Path):
    style = constant.style_from_images([small(images / "style" / "udnie.jpg")], "udnie")
    with pytest.raises(ConditionError, match=r"λ-conditioned policy \(conditional, per_image\).*policy=constant"):
        constant.stylize(small(images / "content" / "flowers.jpg"), style, StylizeOptions(lam=3.0))


def test_nonpositive_lambda_is_rejected(conditional: StyleTransfer, images: Path):
    style = conditional.style_from_images([small(images / "style" / "udnie.jpg")], "udnie")
    with pytest.raises(ConditionError, match="must be a finite number > 0"):
        conditional.stylize(small(images / "content" / "flowers.jpg"), style, StylizeOptions(lam=0.0))


def test_per_image_lambda_depends_on_the_pair(per_image_ckpt: Path, images: Path):
    engine = StyleTransfer(load_stylizer(per_image_ckpt), resolve_runtime("cpu"))
    style = engine.style_from_images([small(images / "style" / "candy.jpg")], "candy")
    lams = [engine.stylize_with_condition(small(images / "content" / n), style)[1]
            for n in ("sailboat.jpg", "newyork.jpg")]
    assert all(lam is not None and lam > 0 for lam in lams) and lams[0] != pytest.approx(lams[1])
    _, explicit = engine.stylize_with_condition(small(images / "content" / "sailboat.jpg"), style,
                                                StylizeOptions(lam=2.0))
    assert explicit == 2.0


def test_preserve_color_luminance_keeps_content_chroma(constant: StyleTransfer, images: Path):
    content = small(images / "content" / "golden_gate.jpg", 256)
    style = constant.style_from_images([small(images / "style" / "candy.jpg")], "candy")
    plain = constant.stylize(content, style)
    kept = constant.stylize(content, style, StylizeOptions(preserve_color="luminance"))
    chroma = rgb_to_ycbcr(content)[1:]
    assert (rgb_to_ycbcr(kept)[1:] - chroma).abs().mean() < 0.01
    assert (rgb_to_ycbcr(kept)[1:] - chroma).abs().mean() < (rgb_to_ycbcr(plain)[1:] - chroma).abs().mean()


def test_preserve_color_histogram_runs_and_recolours_the_style(constant: StyleTransfer, images: Path):
    content, style_img = small(images / "content" / "golden_gate.jpg"), small(images / "style" / "candy.jpg")
    matched = match_color(style_img, content)  # mean (and covariance) now the content's, up to clamping
    torch.testing.assert_close(matched.flatten(1).mean(1), content.flatten(1).mean(1), atol=0.02, rtol=0)
    style = constant.style_from_images([style_img], "candy")
    out = constant.stylize(content, style, StylizeOptions(preserve_color="histogram"))
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1


def test_ycbcr_round_trip():
    x = torch.rand(3, 8, 9)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(x)), x, atol=1e-5, rtol=0)


def test_style_mix_interpolates_codes(constant: StyleTransfer, images: Path):
    a, b = small(images / "style" / "candy.jpg"), small(images / "style" / "sketch.png")
    sa, sb = constant.style_from_images([a], "a"), constant.style_from_images([b], "b")
    mix = constant.style_from_images([a, b], "mix", weights=[3.0, 1.0])
    torch.testing.assert_close(mix.code, 0.75 * sa.code + 0.25 * sb.code, atol=1e-5, rtol=0)
    only_a = constant.style_from_images([a, b], "mix", weights=[1.0, 0.0])
    torch.testing.assert_close(only_a.code, sa.code, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="2 style weights for 1 styles"):
        constant.style_from_images([a], "x", weights=[1.0, 2.0])


def test_bf16_autocast_is_close_to_fp32(constant_ckpt: Path, images: Path):
    content = small(images / "content" / "sailboat.jpg")
    style_img = small(images / "style" / "candy.jpg")
    outs = []
    for precision in ("fp32", "bf16"):
        engine = StyleTransfer(load_stylizer(constant_ckpt), resolve_runtime("cpu", precision))
        outs.append(engine.stylize(content, engine.style_from_images([style_img], "candy")))
    assert outs[1].dtype == torch.float32 and (outs[0] - outs[1]).abs().mean() < 0.01
