"""The quality model's pieces: WCT/AdaIN statistics, shapes, frozen encoder, stats-based style targets."""

from __future__ import annotations

import pytest
import torch

from adaptive_st.losses import PerceptualLoss, VGGFeatures
from adaptive_st.losses.feature_stats import channel_mean_cov
from adaptive_st.losses.perceptual import gram_style_loss, meanstd_style_loss, style_stats
from adaptive_st.models import FeatureStatsStyle, FeatureTransformGenerator, Stylizer
from adaptive_st.models.feature_transform import (
    LEVELS,
    colour_transfer,
    colouring,
    matrix_power_sym,
    rgb_colouring,
    transform_features,
)
from adaptive_st.models.layers import image_range


def correlated(b: int, c: int, hw: int, seed: int) -> torch.Tensor:
    """Features with non-trivial means and cross-channel correlations, (B, C, hw, hw)."""
    g = torch.Generator().manual_seed(seed)
    mix = torch.randn(b, c, c, generator=g)
    x = mix @ torch.randn(b, c, hw * hw, generator=g) + 3 * torch.randn(b, c, 1, generator=g)
    return x.reshape(b, c, hw, hw)


def test_matrix_power_inverts_and_squares():
    cov = channel_mean_cov(correlated(2, 8, 16, 0))[1]
    root, inv_root = matrix_power_sym(cov, 0.5), matrix_power_sym(cov, -0.5)
    assert torch.allclose(root @ root, cov, rtol=1e-3, atol=1e-3)
    assert torch.allclose(inv_root @ root, torch.eye(8).expand(2, 8, 8), atol=1e-3)


def test_wct_output_has_the_style_mean_and_covariance():
    content, style = correlated(2, 16, 24, 1), correlated(2, 16, 24, 2)
    mean_s, cov_s = channel_mean_cov(style)
    out = transform_features(content, *colouring(mean_s, cov_s, "wct"), "wct")
    mean_o, cov_o = channel_mean_cov(out)
    assert torch.allclose(mean_o, mean_s, atol=1e-3)
    assert torch.allclose(cov_o, cov_s, rtol=1e-2, atol=1e-2 * cov_s.abs().max().item())
    # ... which is why WCT closes the Gram distance, not only mean/std.
    assert not torch.allclose(channel_mean_cov(content)[1], cov_s, atol=1.0)


def test_adain_output_has_the_style_mean_and_std_and_alpha_blends():
    content, style = correlated(2, 16, 24, 3), correlated(2, 16, 24, 4)
    mean_s, cov_s = channel_mean_cov(style)
    out = transform_features(content, *colouring(mean_s, cov_s, "adain"), "adain")
    mean_o, cov_o = channel_mean_cov(out)
    assert torch.allclose(mean_o, mean_s, atol=1e-3)
    assert torch.allclose(cov_o.diagonal(dim1=1, dim2=2).sqrt(), cov_s.diagonal(dim1=1, dim2=2).sqrt(), rtol=1e-3)
    same = transform_features(content, *colouring(mean_s, cov_s, "adain"), "adain", alpha=0.0)
    assert torch.allclose(same, content, atol=1e-5)


@pytest.mark.parametrize("transform", ["wct", "adain"])
def test_alpha_blends_transformed_and_original_features_per_sample(transform):
    """The transform is applied as one fused affine map; alpha (a float or one value per sample) must still
    be the plain blend α·T(f) + (1 − α)·f, with the style broadcast over the batch."""
    content, style = correlated(3, 16, 24, 5), correlated(1, 16, 24, 6)
    params = colouring(*channel_mean_cov(style), transform)
    full = transform_features(content, *params, transform)
    alpha = torch.tensor([0.0, 0.4, 1.0])
    blended = transform_features(content, *params, transform, alpha=alpha)
    expected = alpha.reshape(-1, 1, 1, 1) * full + (1 - alpha.reshape(-1, 1, 1, 1)) * content
    assert torch.allclose(blended, expected, atol=1e-4 * full.abs().max().item())
    assert torch.allclose(transform_features(content, *params, transform, alpha=0.4), 0.4 * full + 0.6 * content,
                          atol=1e-4 * full.abs().max().item())


def test_generator_shapes_gradients_reach_the_decoder_only():
    g = FeatureTransformGenerator(width=8, pretrained=False)
    s = FeatureStatsStyle(g.modulation_dims, pretrained=False)
    stylizer = Stylizer(g, s).train()
    content, style = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 40, 40)
    out = stylizer(content, style)
    assert out.shape == content.shape
    out.mean().backward()
    assert all(p.grad is None for p in g.encoder.parameters())
    assert all(p.grad is None for p in s.parameters())
    assert g.to_rgb.weight.grad is not None and g.dec3.weight.grad.abs().sum() > 0
    g.eval()
    with torch.no_grad():
        shown = Stylizer(g, s)(content, style)
    assert shown.min() >= 0 and shown.max() <= 1


def test_training_output_is_the_clamped_image_with_gradients_only_back_into_range():
    x = torch.tensor([-0.5, 0.5, 1.5])
    assert torch.equal(image_range(x, training=True), torch.tensor([0.0, 0.5, 1.0]))
    for sign, expected in ((1.0, [0.0, 1.0, 1.0]), (-1.0, [-1.0, -1.0, 0.0])):
        # loss = sign·Σx: descent moves every x by −sign. sign=+1 lowers x: the pixel above 1 may come
        # back, the one below 0 may not go further out; sign=−1 the other way round.
        leaf = x.clone().requires_grad_(True)
        (sign * image_range(leaf, training=True)).sum().backward()
        assert leaf.grad.tolist() == expected
    g = FeatureTransformGenerator(width=8, pretrained=False).train()
    with torch.no_grad():
        g.to_rgb.bias.fill_(3.0)  # every pixel far above 1
    out = Stylizer(g, FeatureStatsStyle(g.modulation_dims, pretrained=False))(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    assert out.max() <= 1  # the losses and D see the image inference returns
    out.mean().backward()  # the loss asks for darker pixels: the gradient reaches the decoder
    assert g.to_rgb.bias.grad.abs().sum() > 0


def test_style_code_is_the_statistics_and_mixes_linearly():
    s = FeatureStatsStyle(pretrained=False)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    code_a, code_b = s.encode(a), s.encode(b)
    assert code_a.shape == (1, s.style_dim)
    stats = s.stats(a)
    mean, colour = s.modulation(code_a)[0]
    assert torch.allclose(mean, stats["relu1_1"][0])
    cov = stats["relu1_1"][1]
    assert torch.allclose(colour @ colour, cov, atol=1e-3 * cov.abs().max().item())
    mixed = Stylizer(FeatureTransformGenerator(width=8, pretrained=False), s).style_code(
        torch.cat([a, b]), torch.tensor([0.25, 0.75]))
    assert torch.allclose(mixed, 0.25 * code_a + 0.75 * code_b, rtol=1e-5, atol=1e-4)


def test_style_generator_refuses_a_lambda_input():
    with pytest.raises(ValueError, match="no λ input"):
        FeatureStatsStyle(cond_dim=1, pretrained=False)


def test_cached_style_statistics_give_the_same_losses_as_fresh_features():
    vgg = VGGFeatures.random(LEVELS)
    out, style = vgg(torch.rand(2, 3, 32, 32)), vgg(torch.rand(1, 3, 48, 48))
    stats = style_stats(style, LEVELS)
    for loss in (gram_style_loss, meanstd_style_loss):
        assert torch.allclose(loss(out, stats, LEVELS), loss(out, style, LEVELS), rtol=1e-4)
    # The Gram target from statistics equals the Gram matrix of the features.
    from adaptive_st.losses import gram_matrix
    mean, cov = stats["relu2_1"]
    assert torch.allclose((cov + mean[:, :, None] * mean[:, None]) / mean.shape[1],
                          gram_matrix(style["relu2_1"]), rtol=1e-4, atol=1e-7)
    perceptual = PerceptualLoss(vgg, ["relu3_1"], list(LEVELS), style_kind="meanstd+gram", gram_weight=10.0)
    combined = perceptual.style_loss(out, stats)
    expected = meanstd_style_loss(out, style, LEVELS) + 10 * gram_style_loss(out, style, LEVELS)
    assert torch.allclose(combined, expected, rtol=1e-4)


def test_big_batches_are_split_under_the_32_bit_index_limit(monkeypatch):
    """A batch whose largest activation passes 2^31 elements runs in chunks, with the same result."""
    import adaptive_st.models.feature_transform as ft

    torch.manual_seed(0)
    g = ft.FeatureTransformGenerator(width=8, pretrained=False).eval()
    s = ft.FeatureStatsStyle(modulation_dims=g.modulation_dims, pretrained=False)
    x = torch.rand(5, 3, 16, 16)
    params = s(torch.rand(5, 3, 16, 16))
    whole = g(x, params, alpha=torch.linspace(0.2, 1.0, 5))
    monkeypatch.setattr(ft, "_INDEX_LIMIT", (8 + 64) * 16 * 16 * 2)  # two samples per call
    calls = []
    monkeypatch.setattr(g, "decode", lambda t, *a, f=g.decode: calls.append(t["relu1_1"].shape[0]) or f(t, *a))
    chunked = g(x, params, alpha=torch.linspace(0.2, 1.0, 5))
    assert calls == [2, 2, 1]
    torch.testing.assert_close(chunked, whole, atol=2e-4, rtol=1e-4)  # batched vs per-chunk eigh


def test_coarse_blocks_start_as_the_plain_decoder_and_widen_its_receptive_field():
    torch.manual_seed(0)
    plain = FeatureTransformGenerator(width=8, depth=2, pretrained=False).eval()
    deep = FeatureTransformGenerator(width=8, depth=2, coarse_blocks=2, pretrained=False).eval()
    missing = deep.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("coarse.") for k in missing)  # old checkpoints keep their keys
    s = FeatureStatsStyle(plain.modulation_dims, pretrained=False)
    x, params = torch.rand(1, 3, 64, 64), s(torch.rand(1, 3, 32, 32))
    torch.testing.assert_close(deep(x, params), plain(x, params))  # identity at initialisation
    deep.train()
    deep(x, params).mean().backward()
    assert deep.coarse[0].conv2.weight.grad.abs().sum() > 0
    with torch.no_grad():  # a trained block: one coarse pixel now reaches farther in the output
        for block in deep.coarse:
            block.conv2.weight.normal_(0, 0.1)
        for g in (plain, deep):
            g.to_rgb.bias.fill_(0.5)  # mid-grey: no pixel saturates, so every change shows
    t = {k: torch.rand(1, c, 64 // 2**i, 64 // 2**i) for i, (k, c) in enumerate(zip(LEVELS, (64, 128, 256)))}
    poked = {**t, "relu3_1": t["relu3_1"].clone()}
    poked["relu3_1"][..., 8, 8] += 10.0
    reach = [(g.eval().decode(poked) - g.decode(t)).abs().sum(1)[0].gt(1e-6).sum() for g in (plain, deep)]
    assert reach[1] > reach[0]
    with pytest.raises(ValueError, match="coarse_blocks"):
        FeatureTransformGenerator(coarse_blocks=-1, pretrained=False)


def test_the_colour_stage_gives_the_output_the_style_images_rgb_statistics():
    torch.manual_seed(0)
    image, style = torch.rand(2, 3, 32, 32) * 0.5 + 0.2, torch.rand(2, 3, 40, 40) ** 2
    mean_s, cov_s = channel_mean_cov(style)
    params = rgb_colouring(mean_s, cov_s)
    full = colour_transfer(image, *params, 1.0, channel_mean_cov(image))
    mean_o, cov_o = channel_mean_cov(full)
    torch.testing.assert_close(mean_o, mean_s, atol=1e-5, rtol=0)
    # Matched up to the regulariser (1e-3 on variances of ~2e-2): 10× closer than the image's own.
    assert (cov_o - cov_s).abs().max() * 10 < (channel_mean_cov(image)[1] - cov_s).abs().max()
    torch.testing.assert_close(colour_transfer(image, *params, 0.0, channel_mean_cov(image)), image)
    half = colour_transfer(image, *params, torch.tensor([0.5, 0.5]), channel_mean_cov(image))
    torch.testing.assert_close(half, 0.5 * image + 0.5 * full, atol=1e-5, rtol=0)
    # A grey output (equal colour variances) is where an eigen-decomposition's gradient blows up: not this one.
    grey = torch.rand(2, 1, 16, 16).expand(2, 3, 16, 16).clone().requires_grad_()
    colour_transfer(grey, *params, 1.0, channel_mean_cov(grey)).square().sum().backward()
    assert torch.isfinite(grey.grad).all() and grey.grad.abs().sum() > 0


def test_a_generator_with_the_colour_stage_asks_s_for_the_rgb_level_and_trains_through_it():
    torch.manual_seed(0)
    g = FeatureTransformGenerator(width=8, pretrained=False, colour_match=0.5)
    s = FeatureStatsStyle(g.modulation_dims, pretrained=False)
    assert g.modulation_dims == [64, 128, 256, 3] and s.style_dim == FeatureStatsStyle(pretrained=False).style_dim + 12
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    out = g.train()(content, s(style))
    assert out.shape == content.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    out.mean().backward()
    assert g.dec1a.weight.grad.abs().sum() > 0
    plain = FeatureTransformGenerator(width=8, pretrained=False)
    plain.load_state_dict(g.state_dict())  # the stage has no parameters: the same checkpoint keys
    with torch.no_grad():
        code = Stylizer(g, s).style_code(style)
        raw = plain.eval()(content, s.modulation(code)[:3])
        torch.testing.assert_close(g.eval()(content, s.modulation(code), alpha=1.0),
                                   colour_transfer(raw, *s.modulation(code)[3], 0.5, channel_mean_cov(raw)).clamp(0, 1))
    with pytest.raises(ValueError, match="colour_match"):
        FeatureTransformGenerator(colour_match=1.5, pretrained=False)
    # Trained at half strength, matched fully at inference (and validation): eval mode runs the other strength.
    full = FeatureTransformGenerator(width=8, pretrained=False, colour_match=0.5, colour_match_at_inference=1.0)
    full.load_state_dict(g.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(full.eval()(content, s.modulation(code)),
                                   colour_transfer(raw, *s.modulation(code)[3], 1.0, channel_mean_cov(raw)).clamp(0, 1))
        torch.testing.assert_close(full.train()(content, s.modulation(code)), g.train()(content, s.modulation(code)))
    with pytest.raises(ValueError, match="colour_match_at_inference"):
        FeatureTransformGenerator(colour_match=0.5, colour_match_at_inference=2.0, pretrained=False)
    # Off in training, on at inference: the stage exists (S gives the RGB level) and is the identity in training.
    late = FeatureTransformGenerator(width=8, pretrained=False, colour_match=0.0, colour_match_at_inference=1.0)
    assert late.modulation_dims == g.modulation_dims


def test_closed_form_cholesky_and_triangular_inverse_match_linalg():
    """The colour stage's 3×3 algebra is elementwise (it exports to ONNX): it must agree with LAPACK, also on
    the nearly singular covariance of a grey image."""
    from adaptive_st.models.feature_transform import cholesky3, tril3_inverse

    torch.manual_seed(0)
    x = torch.rand(4, 3, 500)
    x[3] = x[3, :1]  # grey: rank 1 before the regulariser
    cov = x @ x.transpose(1, 2) / 500 + 1e-3 * torch.eye(3)
    chol = cholesky3(cov)
    torch.testing.assert_close(chol, torch.linalg.cholesky(cov), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tril3_inverse(chol) @ chol, torch.eye(3).expand(4, 3, 3), atol=1e-4, rtol=0)


def test_newton_schulz_roots_and_the_texture_transfer_match_eigh_and_the_patch_average():
    """The texture stage's algebra exports to ONNX (matrix products only): its square roots must agree with an
    eigendecomposition on a smooth image's ill-conditioned 27×27 patch covariance, and its 5×5 convolution with
    whitening and colouring every 3×3 patch, then averaging the nine patches over each pixel (interior pixels)."""
    from adaptive_st.models.feature_transform import (
        _PATCH_EPS,
        patch_colouring,
        patch_mean_cov,
        sqrtm_newton_schulz,
        texture_transfer,
    )

    torch.manual_seed(0)
    # The stationary estimate is the covariance of the patches themselves, up to which pixels it averages over.
    big = torch.nn.functional.interpolate(torch.rand(1, 3, 16, 20), size=(256, 320), mode="bilinear")
    patches = torch.nn.functional.unfold(big, 3)[0]  # (27, positions): channel-major taps, as the stage's
    mean_b, cov_b = patch_mean_cov(big)
    assert (cov_b[0] - torch.cov(patches, correction=0)).abs().max() < 0.03 * cov_b.abs().max()
    torch.testing.assert_close(mean_b[0], patches.mean(1), atol=3e-3, rtol=0)
    for odd in (torch.rand(2, 3, 9, 7), torch.rand(1, 3, 2, 40)):  # small and thin images too: PSD, so roots exist
        assert torch.linalg.eigvalsh(patch_mean_cov(odd)[1].double()).min() > -1e-7
    smooth = torch.nn.functional.interpolate(torch.rand(1, 3, 11, 13), size=(44, 52), mode="bilinear")
    style = torch.rand(1, 3, 32, 32)
    mean_x, cov_x = patch_mean_cov(smooth)
    eye = torch.eye(27)
    evals, evecs = torch.linalg.eigh((cov_x[0] + _PATCH_EPS * eye).double())
    assert evals.max() / evals.min() > 100  # the ill-conditioned case the step count is sized for
    root, inv_root = sqrtm_newton_schulz(cov_x + _PATCH_EPS * eye)
    torch.testing.assert_close(root[0].double(), evecs @ torch.diag(evals.sqrt()) @ evecs.T, atol=1e-5, rtol=1e-3)
    torch.testing.assert_close(inv_root[0].double(), evecs @ torch.diag(evals.rsqrt()) @ evecs.T, atol=1e-3,
                               rtol=1e-3)
    mean_s, cov_s = patch_mean_cov(style)
    params = patch_colouring(mean_s, cov_s)
    out = texture_transfer(smooth, *params, 1.0, (mean_x, cov_x))
    matrix = params[1][0] @ inv_root[0]
    patches = torch.nn.functional.unfold(torch.nn.functional.pad(smooth, (1, 1, 1, 1), mode="reflect"), 3)[0]
    moved = (matrix @ (patches - mean_x[0, :, None]) + mean_s[0, :, None]).reshape(3, 3, 3, 44, 52)
    want = torch.zeros(3, 44, 52)
    for t in range(9):  # tap (dy, dx) of the patch centred at p lands on pixel p + (dy − 1, dx − 1)
        dy, dx = t // 3 - 1, t % 3 - 1
        want[:, 2:-2, 2:-2] += moved[:, t // 3, t % 3, 2 - dy : 42 - dy, 2 - dx : 50 - dx] / 9
    torch.testing.assert_close(out[0, :, 2:-2, 2:-2], want[:, 2:-2, 2:-2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(texture_transfer(smooth, *params, 0.0, (mean_x, cov_x)), smooth)
