"""StyleDistance metric: both style statistics, optional content distance, DDP-style state merging."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptive_st.losses import VGGFeatures, content_loss, gram_style_loss, meanstd_style_loss
from adaptive_st.metrics import StyleDistance

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TRUNCATED = SHARED / "weights" / "vgg_normalised_conv3_1.pth"
pytestmark = pytest.mark.skipif(not TRUNCATED.is_file(), reason=f"{TRUNCATED} missing")
LAYERS = ("relu1_1", "relu2_1", "relu3_1")


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    return VGGFeatures.from_normalised(TRUNCATED, LAYERS)


def test_zero_for_identical_and_matches_the_losses(vgg) -> None:
    torch.manual_seed(0)
    out, style, content = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    metric = StyleDistance(vgg)
    metric.update(style, style)
    same = metric.compute()
    assert set(same) == {"style_meanstd", "style_gram"}
    assert same["style_meanstd"] < 1e-6 and same["style_gram"] < 1e-9

    metric.reset()
    metric.update(out, style, content)
    got = metric.compute()
    fo, fs, fc = vgg(out), vgg(style), vgg(content)
    torch.testing.assert_close(got["style_meanstd"], meanstd_style_loss(fo, fs, LAYERS).mean())
    torch.testing.assert_close(got["style_gram"], gram_style_loss(fo, fs, LAYERS).mean())
    torch.testing.assert_close(got["content_loss"], content_loss(fo, fc, ["relu3_1"]).mean())
    assert not any("body" in k for k in metric.state_dict())  # the borrowed VGG is not checkpointed


def test_merged_states_equal_the_metric_over_all_data(vgg) -> None:
    torch.manual_seed(1)
    a, b, s = torch.rand(2, 3, 32, 32), torch.rand(3, 3, 32, 32), torch.rand(1, 3, 32, 32)
    whole, rank0, rank1 = StyleDistance(vgg), StyleDistance(vgg), StyleDistance(vgg)
    whole.update(torch.cat([a, b]), s)
    rank0.update(a, s)
    rank1.update(b, s)
    rank0.merge_state(rank1)
    for key, value in whole.compute().items():
        torch.testing.assert_close(rank0.compute()[key], value)


def test_layers_must_be_computed_by_the_vgg(vgg) -> None:
    with pytest.raises(ValueError, match="not computed"):
        StyleDistance(VGGFeatures.random(["relu1_1"]), style_layers=["relu2_1"])
