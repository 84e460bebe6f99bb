"""The light model: shapes, per-level AdaIN to the style's statistics, dual modulation, λ input, export."""

from __future__ import annotations

import pytest
import torch

from adaptive_st.models import MicroGenerator, MicroStyle, Stylizer
from adaptive_st.models.micro import NUM_LEVELS, level_channels, mean_std


def pair(width: int = 8, cond_dim: int = 0, conv_first: bool = False, colour_match: float = 0.0,
         strength_at: str = "sites", last_stage: str | None = None,
         texture_at_inference: float | None = None) -> tuple[MicroGenerator, MicroStyle]:
    torch.manual_seed(0)
    g = MicroGenerator(width=width, conv_first=conv_first, colour_match=colour_match, last_stage=last_stage,
                       texture_match_at_inference=texture_at_inference)
    return g, MicroStyle(g.modulation_dims, width=width, cond_dim=cond_dim, strength_at=strength_at)


def test_shapes_and_code_layout():
    g, s = pair()
    content, style = torch.rand(2, 3, 40, 64), torch.rand(2, 3, 56, 56)
    code = s.encode(style)
    assert code.shape == (2, 2 * sum(level_channels(8))) == (2, s.style_dim)
    params = s.modulation(code)
    assert [p[0].shape[1] for p in params] == g.modulation_dims
    out = Stylizer(g, s).eval()(content, style)
    assert out.shape == content.shape and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="divisible by 8"):
        g(torch.rand(1, 3, 36, 64), params[:1])


def test_content_levels_take_the_style_encoders_statistics():
    """Every encoder level of G is AdaIN'd to the mean/std S measured at the same level (α=1), and α=0
    leaves the content's own features: the part of the style code that needs no training to generalise."""
    g, s = pair()
    with torch.no_grad():  # activations well above AdaIN's eps (1e-5 on the variance)
        for p in (*g.encoder.parameters(), *s.encoder.parameters()):
            p.mul_(3)
    content, style = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64) * 0.5 + 0.3
    params = s(style)
    feats = g.encoder(content)
    s_feats = s.encoder(style)
    for i in range(NUM_LEVELS):
        out = g.level_norms[i](feats[i], *params[i])
        for got, want in zip(mean_std(out), mean_std(s_feats[i]), strict=True):
            assert torch.allclose(got, want, rtol=1e-3, atol=1e-3)
        same = g.level_norms[i](feats[i], *params[i], alpha=0.0)
        assert torch.allclose(same, feats[i], atol=1e-4)


def test_gradients_reach_both_encoders_and_the_modulation_head():
    g, s = pair()
    with torch.no_grad():
        s.head.weight.normal_(0, 0.01)  # the head starts at zero: the identity modulation
    out = Stylizer(g, s).train()(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    (out - 0.5).pow(2).mean().backward()
    for name, net in (("G encoder", g.encoder), ("S encoder", s.encoder), ("S head", s.head), ("decoder", g.ups)):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters()), name


def test_lambda_condition_changes_only_the_decoder_modulation():
    _, s = pair(cond_dim=1)
    with torch.no_grad():
        s.head.weight.normal_(0, 0.1)
    code = s.encode(torch.rand(1, 3, 32, 32))
    low, high = s.modulation(code, torch.tensor([0.1])), s.modulation(code, torch.tensor([10.0]))
    for i in range(NUM_LEVELS):
        assert all(torch.equal(a, b) for a, b in zip(low[i], high[i], strict=True))
    assert not torch.allclose(low[NUM_LEVELS][0], high[NUM_LEVELS][0])
    with pytest.raises(ValueError, match="condition"):
        s.modulation(code)


def test_lambda_sets_the_style_strength_at_every_adain_site():
    g, s = pair(cond_dim=1)
    stylizer = Stylizer(g, s).eval()
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    lams = torch.tensor([0.5, 2.0, 8.0, 32.0])
    assert torch.all(torch.diff(s.strength(lams)) > 0)  # more λ_style, more style
    with torch.no_grad():
        for lam, alpha in ((1e-9, 0.0), (1e9, 1.0)):  # the ends: the content's own statistics / full style
            cond = torch.full((2,), lam)
            params = s(style, cond)
            torch.testing.assert_close(stylizer(content, style, cond=cond), g(content, params, alpha),
                                       atol=1e-6, rtol=1e-5)
        # Per sample, and multiplied with a user's --alpha.
        cond = torch.tensor([1.0, 3.0])
        expected = torch.stack([g(content[i:i + 1], s(style[i:i + 1], cond[i:i + 1]), a)[0]
                                for i, a in enumerate((0.25, 0.375))])
        torch.testing.assert_close(stylizer(content, style, alpha=0.5, cond=cond), expected, atol=1e-6, rtol=1e-5)


def test_lambda_strength_at_the_output_blends_full_strength_g_with_the_photo():
    """``strength_at="output"``: G's sites always run at full strength (what the warm model was trained at) and
    α(λ) only blends its output with the photo, per sample and times a user's α."""
    g, s = pair(cond_dim=1, strength_at="output")
    stylizer = Stylizer(g, s).eval()
    assert g.output_alpha
    code = s.encode(torch.rand(1, 3, 32, 32))  # λ acts through α alone: G's modulation is the same for every λ
    for a, b in zip(s.modulation(code, torch.tensor([1.5])), s.modulation(code, torch.tensor([60.0])), strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    cond = torch.tensor([1.5, 30.0])
    with torch.no_grad():
        full = g(content, s(style, cond), 1.0)
        a = s.strength(cond).reshape(-1, 1, 1, 1)
        torch.testing.assert_close(stylizer(content, style, cond=cond), a * full + (1 - a) * content)
        torch.testing.assert_close(stylizer(content, style, alpha=0.5, cond=cond),
                                   0.5 * a * full + (1 - 0.5 * a) * content)
    with pytest.raises(ValueError, match="strength_at"):
        pair(cond_dim=1, strength_at="decoder")


def test_render_with_learners_sends_g_only_their_gradient_and_the_gate_everyones():
    """``ConditionalPolicy(top_share>0)``: only the λ_max draws train G at full strength; every draw trains the
    λ → strength gate. The output is the same blend either way."""
    g, s = pair(cond_dim=1, strength_at="output")
    stylizer = Stylizer(g, s).train()
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    cond, learn = torch.tensor([2.0, 10.0]), torch.tensor([False, True])
    params = s(style, cond)
    alpha = stylizer.alpha_for(1.0, cond)
    out = stylizer.render(content, params, alpha, learn)
    torch.testing.assert_close(out, stylizer.render(content, params, alpha))
    for sample, reaches_g in ((0, False), (1, True)):
        stylizer.zero_grad()
        stylizer.render(content, s(style, cond), stylizer.alpha_for(1.0, cond), learn)[sample].square().mean().backward()
        g_grad = sum(float(p.grad.abs().sum()) for p in g.parameters() if p.grad is not None)
        assert (g_grad > 0) == reaches_g
        assert float(s.lambda_gate.grad.abs().sum()) > 0


def test_strength_gain_keeps_the_init_and_speeds_up_the_gate():
    g, _ = pair()
    slow = MicroStyle(g.modulation_dims, width=8, cond_dim=1, strength_at="output")
    fast = MicroStyle(g.modulation_dims, width=8, cond_dim=1, strength_at="output", strength_gain=20.0)
    cond = torch.tensor([1.5, 10.0])
    torch.testing.assert_close(slow.strength(cond), fast.strength(cond))  # α = λ / (1 + λ) at init
    slow.strength(cond).sum().backward()
    fast.strength(cond).sum().backward()
    torch.testing.assert_close(fast.lambda_gate.grad, 20.0 * slow.lambda_gate.grad)  # Adam: 20× the step on k, b
    with pytest.raises(ValueError, match="strength_gain"):
        MicroStyle(g.modulation_dims, width=8, cond_dim=1, strength_gain=0.0)


def test_top_share_needs_a_gate_on_the_output():
    from adaptive_st.models import build_stylizer
    from adaptive_st.policies import ConditionalPolicy

    policy = ConditionalPolicy({"content": 1.0, "style": 5.0}, 1.5, 10.0, top_share=0.5)
    g, s = pair(cond_dim=1, strength_at="sites")
    with pytest.raises(ValueError, match=r"policy\.top_share"):
        build_stylizer(g, s, policy)
    g, s = pair(cond_dim=1, strength_at="output")
    assert build_stylizer(g, s, policy).style_generator is s


@pytest.mark.parametrize("colour_match", [0.0, 0.5])
def test_alpha_of_an_unconditioned_model_blends_with_the_photo(colour_match):
    """Trained at α = 1 only, the light model's AdaIN sites cannot keep part of their own statistics (at α = 0.3
    a trained model's activations reached 1e5 and its output saturated): α blends the output with the photo,
    also with the output colour stage (whose own strength must not replace α in the blend)."""
    g, s = pair(colour_match=colour_match)
    stylizer = Stylizer(g, s).eval()
    assert g.output_alpha
    content, style = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        full = stylizer(content, style)
        torch.testing.assert_close(stylizer(content, style, alpha=0.0), content)
        torch.testing.assert_close(stylizer(content, style, alpha=0.3), 0.3 * full + 0.7 * content)
        per_sample = stylizer(content, style, alpha=torch.tensor([0.0, 1.0]))
        torch.testing.assert_close(per_sample, torch.stack([content[0], full[1]]))
    g_cond, s_cond = pair(cond_dim=1)
    Stylizer(g_cond, s_cond)
    assert not g_cond.output_alpha, "a λ-conditioned model trained over α: it keeps feature-space α"


def test_style_width_must_match_the_generator():
    g = MicroGenerator(width=8)
    with pytest.raises(ValueError, match=r"model\.style_generator\.width"):
        MicroStyle(g.modulation_dims, width=16)


def assert_tiles_reproduce_the_whole_image(g: MicroGenerator, s: MicroStyle, tile: int) -> None:
    """Tiles of a 320×448 image with G's default overlap (from its receptive radius) equal the untiled output."""
    from adaptive_st.inference.tiling import default_overlap, run_tiled, shared_statistics

    g.eval()
    with torch.no_grad():
        for p in g.parameters():  # a generator whose output varies across the image
            p.mul_(2)
        params = s(torch.rand(1, 3, 48, 48))
        x = torch.nn.functional.interpolate(torch.rand(1, 3, 20, 28), size=(320, 448), mode="bilinear")
        whole = g(x, params)
        with shared_statistics(g) as store:
            tiled = run_tiled(lambda t: g(t, params), x, store, tile=tile, overlap=default_overlap(g), stats_size=448)
    assert whole.std() > 0.01 and (tiled - whole).abs().max() < 1e-4


@pytest.mark.parametrize("last_stage", [None, "full_res"])
def test_conv_first_decoder_costs_less_and_keeps_shapes_and_tiling(last_stage):
    """``conv_first``: the decoder's convs run at the coarse resolution (≈ 35 % fewer MACs at width 16; a
    ``last_stage`` at full resolution costs 0.9 GMAC of 5.0 back); the receptive field walk
    sees each stage at its own scale, so tiles with the default overlap reproduce the whole image."""
    from torch.utils.flop_counter import FlopCounterMode

    from adaptive_st.inference.tiling import receptive_radius

    macs = {}
    for conv_first, last in ((False, None), (True, None), (True, "full_res")):
        g, s = pair(width=16, conv_first=conv_first, last_stage=last)
        g.eval()
        x = torch.rand(1, 3, 512, 512)
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            assert g(x, s(torch.rand(1, 3, 32, 32))).shape == x.shape
        macs[conv_first, last] = counter.get_total_flops() / 2e9  # GMAC
    assert macs[True, None] < 0.7 * macs[False, None]
    assert macs[True, "full_res"] - macs[True, None] == pytest.approx(0.9, abs=0.05)
    assert [up.conv_first for up in pair(conv_first=True, last_stage="full_res")[0].ups] == [True, True, False]
    g, s = pair(conv_first=True, last_stage=last_stage)
    assert receptive_radius(g) > receptive_radius(pair()[0])
    assert_tiles_reproduce_the_whole_image(g, s, tile=256)


def test_the_texture_stages_passes_count_in_the_receptive_field_and_tiles_stay_exact():
    """The distillation recipe's G (coarse decoder, full-resolution last stage, colour stage, three texture passes):
    each pass is a functional 5×5 convolution, invisible to the module walk, so the stage declares 2 px per pass;
    tiles with the default overlap then reproduce the whole image."""
    from adaptive_st.inference.tiling import receptive_radius

    def recipe(passes: int, texture: float | None) -> tuple[MicroGenerator, MicroStyle]:
        torch.manual_seed(0)
        g = MicroGenerator(width=8, conv_first=True, last_stage="full_res", colour_match=0.5,
                           colour_match_at_inference=1.0, texture_match_at_inference=texture, texture_passes=passes)
        return g, MicroStyle(g.modulation_dims, width=8)

    plain = receptive_radius(recipe(1, None)[0])
    assert [receptive_radius(recipe(n, 1.0)[0]) - plain for n in (1, 2, 3)] == [2, 4, 6]
    g, s = recipe(3, 1.0)
    assert_tiles_reproduce_the_whole_image(g, s, tile=192)


@pytest.mark.parametrize(("conv_first", "colour_match", "last_stage", "texture"),
                         [(False, 0.0, None, None), (True, 0.0, None, None), (True, 0.5, None, None),
                          (True, 0.5, "full_res", None), (True, 0.5, None, 1.0)])
def test_exports_to_onnx_with_eager_numbers(tmp_path, conv_first, colour_match, last_stage, texture):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    import onnxruntime

    g, s = pair(conv_first=conv_first, colour_match=colour_match, last_stage=last_stage, texture_at_inference=texture)
    stylizer = Stylizer(g, s).eval()

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stylizer = stylizer

        def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
            return self.stylizer(content, style)

    content, style = torch.rand(1, 3, 48, 64), torch.rand(1, 3, 40, 40)
    path = tmp_path / "micro.onnx"
    graph = Graph().eval()
    if texture:  # per-image convolution weights: only the exporter `export` uses (dynamo) takes them
        dim = torch.export.Dim
        torch.onnx.export(graph, (content, style), str(path), input_names=["content", "style"], dynamo=True,
                          dynamic_shapes=({2: dim("h", min=16, max=512), 3: dim("w", min=16, max=512)},
                                          {2: dim("sh", min=16, max=512), 3: dim("sw", min=16, max=512)}),
                          verbose=False, external_data=False)
    else:
        torch.onnx.export(graph, (content, style), str(path), input_names=["content", "style"],
                          dynamic_axes={"content": {2: "h", 3: "w"}, "style": {2: "sh", 3: "sw"}}, dynamo=False)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    content2 = torch.rand(1, 3, 64, 96)
    got = session.run(None, {"content": content2.numpy(), "style": style.numpy()})[0]
    with torch.no_grad():
        want = graph(content2, style)
    assert torch.allclose(torch.from_numpy(got), want, atol=1e-4)


def test_the_colour_stage_gives_the_output_the_styles_rgb_statistics_and_tiles_exactly():
    """colour_match: S appends the style image's RGB mean and covariance to the code (the heads never read
    them), G's output gets them (at strength 1, up to the 1e-3 regulariser), and tiles share the whole
    output's statistics."""
    from adaptive_st.inference.tiling import default_overlap, run_tiled, shared_statistics
    from adaptive_st.losses.feature_stats import channel_mean_cov

    g, s = pair(colour_match=1.0)
    plain = MicroStyle(MicroGenerator(width=8).modulation_dims, width=8)
    assert g.modulation_dims[-1] == 3 and s.colour and not plain.colour
    assert s.style_dim == plain.style_dim + 12
    style = torch.rand(1, 3, 48, 48) * torch.tensor([0.9, 0.5, 0.2]).reshape(1, 3, 1, 1)
    code = s.encode(style)
    mean_s, cov_s = channel_mean_cov(style)
    torch.testing.assert_close(code[:, -12:], torch.cat([mean_s, cov_s.flatten(1)], 1))
    other = code.clone()
    other[:, -12:] = torch.cat([torch.full((1, 3), 0.5), 0.02 * torch.eye(3).flatten()[None]], 1)
    a, b = s.modulation(code), s.modulation(other)
    assert all(torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a[:-1], b[:-1], strict=True))
    assert not torch.equal(a[-1][1], b[-1][1])
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16), size=(192, 256), mode="bilinear")
    with torch.no_grad():
        out = g.train()(x, a)  # unclamped: the stage's own result
        mean_o, cov_o = channel_mean_cov(out)
        torch.testing.assert_close(mean_o, mean_s, atol=1e-4, rtol=0)
        assert (cov_o - cov_s).abs().max() < 2e-3 < (channel_mean_cov(x)[1] - cov_s).abs().max()
        g.eval()
        whole = g(x, a)
        with shared_statistics(g) as store:
            tiled = run_tiled(lambda t: g(t, a), x, store, tile=160, overlap=default_overlap(g), stats_size=256)
    assert float(whole.std()) > 0.02 and (tiled - whole).abs().max() < 1e-4
    with pytest.raises(ValueError, match="colour_match"):
        MicroGenerator(colour_match=-0.1)


@pytest.mark.parametrize("padding_mode", ["reflect", "zeros"])
def test_the_sub_pixel_upsample_conv_is_nearest_then_conv(padding_mode):
    """``upsample_conv`` (what a full-resolution decoder stage runs) gives conv(nearest ×2) and its gradients,
    borders included, without building the upsampled input; a bad ``last_stage`` names the key."""
    from adaptive_st.models.layers import conv3x3, upsample_conv

    torch.manual_seed(0)
    conv = conv3x3(5, 7)
    conv.padding_mode = padding_mode
    x = torch.randn(2, 5, 6, 9, requires_grad=True)
    want = conv(torch.nn.functional.interpolate(x, scale_factor=2.0, mode="nearest"))
    got = upsample_conv(conv, x)
    assert got.shape == want.shape == (2, 7, 12, 18)
    assert torch.allclose(got, want, atol=1e-5)
    g_want = torch.autograd.grad(want.square().sum(), [x, conv.weight])
    g_got = torch.autograd.grad(got.square().sum(), [x, conv.weight])
    assert all(torch.allclose(a, b, atol=1e-4) for a, b in zip(g_got, g_want, strict=True))
    with pytest.raises(ValueError, match=r"model\.generator\.last_stage"):
        MicroGenerator(last_stage="bicubic")
    with pytest.raises(ValueError, match="plain 3×3 conv"):  # a conv whose sub-pixel form would be wrong
        upsample_conv(torch.nn.Conv2d(5, 7, 3, padding=1, dilation=1, stride=2), x)


def test_the_texture_stage_moves_the_output_to_the_styles_patch_statistics_at_inference_only():
    """texture_match_at_inference: S appends the style image's 3×3-patch mean and covariance to the code (after the
    RGB part; the heads never read them), eval mode moves G's output towards them (two passes closer than one, the
    strength 0 pass is the identity), training at texture_match 0 is exactly the model without the stage, and tiles
    share the whole output's statistics."""
    from adaptive_st.inference.tiling import default_overlap, run_tiled, shared_statistics
    from adaptive_st.models.feature_transform import patch_mean_cov

    g, s = pair(colour_match=0.5, texture_at_inference=1.0)
    plain_g, plain_s = pair(colour_match=0.5)
    assert g.modulation_dims == [*plain_g.modulation_dims, 27] and s.texture and s.colour and not plain_s.texture
    assert s.style_dim == plain_s.style_dim + 27 + 27 * 27
    plain_g.load_state_dict(g.state_dict())
    plain_s.load_state_dict(s.state_dict())
    grain = torch.nn.functional.interpolate(torch.rand(1, 1, 48, 24), size=(48, 48), mode="nearest")
    style = 0.2 + 0.6 * grain * torch.tensor([0.9, 0.5, 0.2]).reshape(1, 3, 1, 1)  # sharp, horizontally stretched grain
    code = s.encode(style)
    mean_s, cov_s = patch_mean_cov(style)
    torch.testing.assert_close(code[:, -27 - 27 * 27:], torch.cat([mean_s, cov_s.flatten(1)], 1))
    torch.testing.assert_close(code[:, : plain_s.style_dim], plain_s.encode(style))
    x = torch.nn.functional.interpolate(torch.rand(1, 3, 12, 16), size=(192, 256), mode="bilinear")
    params = s.modulation(code)
    with torch.no_grad():
        torch.testing.assert_close(g.train()(x, params), plain_g.train()(x, params[:-1]))  # training: no stage
        g.eval()
        untextured = plain_g.eval()(x, params[:-1])
        outputs = {}
        for passes in (1, 2):
            g.texture_stage.stats = g.texture_stage.stats[:1] if passes == 1 else torch.nn.ModuleList(
                [g.texture_stage.stats[0], type(g.texture_stage.stats[0])()])
            outputs[passes] = g(x, params)
        gap = {k: (patch_mean_cov(v)[1] - cov_s).norm().item() for k, v in {0: untextured, **outputs}.items()}
        assert gap[2] < gap[1] < 0.75 * gap[0], gap
        whole = outputs[2]
        with shared_statistics(g) as store:
            tiled = run_tiled(lambda t: g(t, params), x, store, tile=160, overlap=default_overlap(g), stats_size=256)
        assert (tiled - whole).abs().max() < 1e-4
    with pytest.raises(ValueError, match="colour stage"):
        MicroGenerator(texture_match_at_inference=1.0)
    with pytest.raises(ValueError, match="texture_match_at_inference"):
        MicroGenerator(colour_match=0.5, texture_match_at_inference=1.5)
