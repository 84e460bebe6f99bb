"""Per-sample perceptual losses: zeros, invariances, gradient routing, fp32 statistics under autocast."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from adaptive_st.losses import (
    PerceptualLoss,
    VGGFeatures,
    content_loss,
    gram_matrix,
    gram_style_loss,
    meanstd_style_loss,
)
from adaptive_st.losses.perceptual import style_distances

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TRUNCATED = SHARED / "weights" / "vgg_normalised_conv3_1.pth"
IMAGES = SHARED / "data" / "images"
pytestmark = pytest.mark.skipif(not TRUNCATED.is_file(), reason=f"{TRUNCATED} missing")
LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def load(kind: str, name: str, size: int = 64) -> torch.Tensor:
    img = Image.open(IMAGES / kind / name).convert("RGB")
    return TF.to_tensor(TF.center_crop(TF.resize(img, size), size)).unsqueeze(0)


@pytest.fixture(scope="module")
def vgg() -> VGGFeatures:
    return VGGFeatures.from_normalised(TRUNCATED, LAYERS)


@pytest.fixture(scope="module")
def images() -> dict[str, torch.Tensor]:
    return {
        "chicago": load("content", "chicago.jpg"),
        "sailboat": load("content", "sailboat.jpg"),
        "starry": load("style", "vangogh_starry_night.jpg"),
        "mosaic": load("style", "mosaic.jpg"),
    }


def test_content_loss_zero_for_identical_positive_otherwise(vgg, images) -> None:
    a = torch.cat([images["chicago"], images["sailboat"]])
    b = torch.cat([images["chicago"], images["starry"]])
    fa, fb = vgg(a), vgg(b)
    loss = content_loss(fa, fb, LAYERS)
    assert loss.shape == (2,)
    assert loss[0] == 0 and loss[1] > 0
    torch.testing.assert_close(content_loss(fa, fb, ["relu1_1", "relu2_1"], weights=[1.0, 0.0]),
                               content_loss(fa, fb, ["relu1_1"]))  # fmt: skip


@pytest.mark.parametrize("fn", [gram_style_loss, meanstd_style_loss])
def test_style_losses_zero_for_same_image_and_per_sample(vgg, images, fn) -> None:
    out = torch.cat([images["starry"], images["chicago"]])
    style = torch.cat([images["starry"], images["mosaic"]])
    loss = fn(vgg(out), vgg(style), LAYERS)
    assert loss.shape == (2,)
    assert loss[0].abs() < 1e-6 and loss[1] > 0
    one_style = fn(vgg(out), vgg(images["mosaic"]), LAYERS)  # style batch 1 broadcasts
    torch.testing.assert_close(one_style[1], loss[1])


def test_style_statistics_ignore_spatial_arrangement(vgg, images) -> None:
    """Gram and mean/std are orderless statistics: permuting feature positions leaves them unchanged,
    while the content loss (which compares positions) sees the difference."""
    feats = vgg(images["chicago"])
    perm = {}
    for k, f in feats.items():
        idx = torch.randperm(f.shape[2] * f.shape[3])
        perm[k] = f.flatten(2)[:, :, idx].reshape(f.shape)
    assert gram_style_loss(feats, perm, LAYERS) < 1e-6 * gram_style_loss(feats, vgg(images["mosaic"]), LAYERS)
    assert meanstd_style_loss(feats, perm, LAYERS) < 1e-3
    assert content_loss(feats, perm, LAYERS) > 1.0


def test_style_of_a_tiled_image_is_close_to_the_original(vgg, images) -> None:
    """On real images: re-arranging the same texture (2×2 tiling) barely moves the style statistics,
    compared with the distance to a different painting."""
    starry = images["starry"]
    tiled = starry.repeat(1, 1, 2, 2)
    for fn in (gram_style_loss, meanstd_style_loss):
        same = fn(vgg(tiled), vgg(starry), LAYERS)
        other = fn(vgg(images["mosaic"]), vgg(starry), LAYERS)
        assert same < 0.1 * other, fn.__name__


def test_gradients_reach_the_output_only(vgg, images) -> None:
    loss_fn = PerceptualLoss(vgg, ["relu3_1"], LAYERS)
    output = images["sailboat"].clone().requires_grad_(True)
    content = images["chicago"].clone().requires_grad_(True)
    style = images["starry"].clone().requires_grad_(True)
    losses = loss_fn(output, content, style)
    assert losses["content"].shape == (1,) and losses["style"].shape == (1,)
    (losses["content"] + losses["style"]).sum().backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    assert content.grad is None and style.grad is None
    assert all(p.grad is None for p in vgg.parameters())


def test_one_vgg_pass_for_both_targets_and_none_with_precomputed(vgg, images) -> None:
    loss_fn = PerceptualLoss(vgg, ["relu3_1"], LAYERS, style_kind="gram")
    calls = []
    handle = vgg.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    out, content, style = images["sailboat"], images["chicago"], images["starry"]
    ref = loss_fn(out, content, style)
    assert calls == [2, 1]  # content+style concatenated, then the output
    content_feats, style_feats = loss_fn.features(content), loss_fn.features(style)
    calls.clear()
    again = loss_fn(out, None, None, content_feats=content_feats, style_feats=style_feats)
    assert calls == [1]  # only the output
    handle.remove()
    torch.testing.assert_close(again, ref)
    different_size = loss_fn(out, content, load("style", "vangogh_starry_night.jpg", 96))
    assert torch.isfinite(different_size["style"]).all()


def test_bf16_autocast_keeps_statistics_fp32_and_finite(vgg, images) -> None:
    loss_fn = PerceptualLoss(vgg, ["relu3_1"], LAYERS, style_kind="gram")
    args = (images["sailboat"], images["chicago"], images["starry"])
    ref = loss_fn(*args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = loss_fn(*args)
    for key in ("content", "style"):
        assert low[key].dtype == torch.float32 and torch.isfinite(low[key]).all()
        assert (low[key] - ref[key]).abs() / ref[key] < 0.1


def test_gram_matrix_does_not_overflow_half_precision_features() -> None:
    f = torch.full((1, 4, 64, 64), 300.0, dtype=torch.float16)  # Σ over 4096 positions of 9e4 >> fp16 max
    with torch.autocast("cpu", dtype=torch.float16):
        g = gram_matrix(f)
    assert g.dtype == torch.float32 and torch.isfinite(g).all()
    torch.testing.assert_close(g, torch.full((1, 4, 4), 300.0**2 / 4))


def test_style_distance_and_validation(vgg, images) -> None:
    starry, chicago = vgg(images["starry"], LAYERS), vgg(images["chicago"], LAYERS)
    d = style_distances(starry, starry, LAYERS)
    assert d["style_gram"].shape == (1,) and d["style_gram"].abs() < 1e-6 and d["style_meanstd"].abs() < 1e-6
    assert style_distances(chicago, starry, LAYERS)["style_meanstd"] > 0
    with pytest.raises(ValueError, match=r"loss\.perceptual\.style_kind"):
        PerceptualLoss(vgg, ["relu3_1"], LAYERS, style_kind="wasserstein")
    with pytest.raises(ValueError, match=r"loss\.perceptual\.content_layers"):
        PerceptualLoss(VGGFeatures.random(["relu1_1"]), ["relu3_1"], ["relu1_1"])
    with pytest.raises(ValueError, match="content_weight_per_layer"):
        PerceptualLoss(vgg, ["relu3_1"], LAYERS, content_weight_per_layer=[1.0, 2.0])


def test_gram_weight_per_layer_reweights_only_the_training_gram_term(vgg, images) -> None:
    """The per-layer Gram weights sum weighted layer terms (relu1_1's Gram is ~10× the deeper layers', so
    equal averaging leaves them little say); the reported style distance keeps the plain mean."""
    starry, chicago = vgg(images["starry"], LAYERS), vgg(images["chicago"], LAYERS)
    per_layer = [gram_style_loss(chicago, starry, [k]) for k in LAYERS]
    weights = {"relu1_1": 0.5, "relu2_1": 1.0, "relu3_1": 2.0}
    loss = PerceptualLoss(vgg, ["relu3_1"], LAYERS, style_kind="meanstd+gram", gram_weight=10.0,
                          gram_weight_per_layer=weights)
    expected = meanstd_style_loss(chicago, starry, LAYERS) + 10.0 * sum(
        w * t for w, t in zip(weights.values(), per_layer, strict=True))
    torch.testing.assert_close(loss.style_loss(chicago, starry), expected)
    plain = PerceptualLoss(vgg, ["relu3_1"], LAYERS, style_kind="meanstd+gram", gram_weight=10.0)
    torch.testing.assert_close(plain.style_loss(chicago, starry) - meanstd_style_loss(chicago, starry, LAYERS),
                               10.0 * torch.stack(per_layer).mean(0))
    torch.testing.assert_close(style_distances(chicago, starry, LAYERS)["style_gram"], torch.stack(per_layer).mean(0))
    with pytest.raises(ValueError, match=r"loss\.perceptual\.gram_weight_per_layer keys"):
        PerceptualLoss(vgg, ["relu3_1"], LAYERS, gram_weight_per_layer={"relu1_1": 1.0})
