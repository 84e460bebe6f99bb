"""Tiles: balanced spans, seamless blending, and the same result as one pass when statistics are exact."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from adaptive_st.inference import StyleTransfer, StylizeOptions, load_stylizer, read_image, resolve_runtime
from adaptive_st.inference.tiling import (
    axis_spans,
    axis_weights,
    default_overlap,
    modulate,
    receptive_radius,
    run_tiled,
    shared_statistics,
)
from adaptive_st.models import FeatureStatsStyle, FeatureTransformGenerator
from adaptive_st.models.layers import AdaIN


@pytest.mark.parametrize(("length", "tile", "overlap"),
                         [(512, 256, 64), (1104, 512, 96), (3840, 1024, 176), (64, 256, 32), (512, 128, 0)])
def test_axis_spans_cover_with_overlap(length: int, tile: int, overlap: int):
    spans = axis_spans(length, tile, overlap)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(s % 8 == 0 and e % 8 == 0 and e - s <= tile for s, e in spans)
    assert all(prev_end - start >= overlap for (_, prev_end), (start, _) in itertools.pairwise(spans))
    weight = torch.zeros(length)
    for (s, e), w in zip(spans, axis_weights(spans)):
        weight[s:e] += w
    torch.testing.assert_close(weight, torch.ones(length))  # a partition of unity: no seams in brightness


def test_replayed_statistics_reproduce_adain():
    x, gamma, beta = torch.randn(2, 5, 6, 7), torch.rand(2, 5) + 0.5, torch.randn(2, 5)
    var, mean = torch.var_mean(x, dim=(2, 3), keepdim=True, correction=0)
    for alpha in (1.0, 0.3, torch.tensor([0.2, 0.9])):
        torch.testing.assert_close(modulate(x, mean, (var + 1e-5).sqrt(), gamma, beta, alpha),
                                   AdaIN()(x, gamma, beta, alpha))


@pytest.fixture(scope="module")
def engine(conditional_ckpt: Path) -> StyleTransfer:
    return StyleTransfer(load_stylizer(conditional_ckpt), resolve_runtime("cpu"))


def test_tiled_matches_untiled_on_512(engine: StyleTransfer, images: Path):
    content = read_image(images / "content" / "golden_gate.jpg")  # 512 x 512
    style = engine.style_from_images([read_image(images / "style" / "candy.jpg")], "candy")
    whole = engine.stylize(content, style, StylizeOptions(tile=0))
    tiled = engine.stylize(content, style, StylizeOptions(tile=192))
    assert tiled.shape == whole.shape == content.shape
    assert (whole - content).abs().mean() > 1e-3  # the model does something, so the comparison means something
    assert (tiled - whole).abs().max() < 1e-4
    thumb = engine.stylize(content, style, StylizeOptions(tile=192, stats_size=256))
    assert (thumb - whole).abs().mean() < 0.01  # statistics from a half-size thumbnail: close in tone


def test_large_image_tiles_to_input_size(engine: StyleTransfer, images: Path):
    photo = read_image(images / "content" / "newyork.jpg")
    content = F.interpolate(photo[None], size=(1100, 1500), mode="bilinear", antialias=True)[0].clamp(0, 1)
    style = engine.style_from_images([read_image(images / "style" / "udnie.jpg")], "udnie")
    tiled = engine.stylize(content, style, StylizeOptions(tile=512, stats_size=1504))
    assert tiled.shape == (3, 1100, 1500)
    whole = engine.stylize(content, style, StylizeOptions(tile=0))
    assert (tiled - whole).abs().max() < 1e-4  # exact statistics (thumbnail = image): no seams at all


def test_default_overlap_follows_the_receptive_field(engine: StyleTransfer):
    g = engine.model.stylizer.generator
    assert receptive_radius(g) == 15 + 16 * len(g.blocks)
    assert default_overlap(g) >= 2 * receptive_radius(g) and default_overlap(g) % 8 == 0


@pytest.mark.parametrize("colour_match", [0.0, 0.5])
def test_the_quality_model_tiles_with_the_whole_images_whitening_statistics(colour_match: float):
    """WCT whitens with the content's covariance (and the colour stage with the output's): tiles share the
    whole image's, so tiling changes nothing."""
    torch.manual_seed(0)
    g = FeatureTransformGenerator(width=8, depth=2, coarse_blocks=1, pretrained=False, colour_match=colour_match).eval()
    params = FeatureStatsStyle(g.modulation_dims, pretrained=False)(torch.rand(1, 3, 64, 64))
    x = F.interpolate(torch.rand(1, 3, 12, 16), size=(192, 256), mode="bilinear")  # smooth, like a photo
    with torch.no_grad():
        whole = g(x, params)
        assert float(whole.std()) > 0.02  # not saturated: the comparison means something
        with shared_statistics(g) as store:
            tiled = run_tiled(lambda t: g(t, params), x, store, tile=160, overlap=default_overlap(g), stats_size=256)
        own = g(x[..., :, :160], params)  # one tile whitened with its own statistics: another tone
    assert (tiled - whole).abs().max() < 1e-4
    assert (own - whole[..., :, :160]).abs().mean() > 10 * (tiled - whole).abs().mean()
