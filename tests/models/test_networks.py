import pytest
import torch

from adaptive_st.models import ContentGenerator, MultiScaleDiscriminator, StyleGenerator, Stylizer


def make_stylizer(cond_dim: int = 0, encoder: str = "image", num_styles: int = 0) -> Stylizer:
    torch.manual_seed(0)
    g = ContentGenerator(width=8, n_res_blocks=1)
    s = StyleGenerator(g.modulation_dims, style_dim=16, width=8, image_size=32, cond_dim=cond_dim,
                       encoder=encoder, num_styles=num_styles, hidden=32)
    # G and S start at the identity; perturb them so styles actually differ.
    torch.nn.init.normal_(s.head.weight, std=0.1)
    torch.nn.init.normal_(g.to_rgb.weight, std=0.1)
    return Stylizer(g, s)


def test_generator_keeps_shape_and_range():
    st = make_stylizer()
    x, y = torch.rand(2, 3, 48, 64), torch.rand(2, 3, 40, 40)
    out = st(x, y)
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1


def test_residual_generator_starts_as_identity():
    g = ContentGenerator(width=8, n_res_blocks=1, residual=True)
    s = StyleGenerator(g.modulation_dims, style_dim=8, width=8, image_size=32)
    x = torch.rand(2, 3, 32, 32).clamp(0.01, 0.99)
    torch.testing.assert_close(g(x, s(torch.rand(2, 3, 32, 32))), x, atol=1e-5, rtol=1e-5)


def test_generator_rejects_sizes_not_divisible_by_8():
    st = make_stylizer()
    with pytest.raises(ValueError, match="divisible by 8"):
        st(torch.rand(1, 3, 30, 32), torch.rand(1, 3, 32, 32))


def test_modulation_dims_match_consumed_params():
    g = ContentGenerator(width=8, n_res_blocks=3)
    assert len(g.modulation_dims) == 3 * 2 + 3
    s = StyleGenerator(g.modulation_dims, style_dim=8, width=8, image_size=32)
    params = s(torch.rand(2, 3, 32, 32))
    assert [p[0].shape[1] for p in params] == g.modulation_dims
    with pytest.raises(ValueError, match="pairs"):
        g(torch.rand(2, 3, 32, 32), params[:-1])


def test_style_changes_output_and_alpha_zero_removes_it():
    st = make_stylizer()
    x = torch.rand(1, 3, 32, 32)
    s1, s2 = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32) * 0.2
    assert not torch.allclose(st(x, s1), st(x, s2), atol=1e-4)
    # α=0 keeps the features' own statistics: the style no longer matters.
    torch.testing.assert_close(st(x, s1, alpha=0.0), st(x, s2, alpha=0.0))


def test_conditioned_model_needs_and_uses_lambda():
    st = make_stylizer(cond_dim=1)
    x, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="condition"):
        st(x, s)
    a = st(x, s, cond=torch.tensor([0.1, 0.1]))
    b = st(x, s, cond=torch.tensor([10.0, 10.0]))
    assert not torch.allclose(a, b, atol=1e-5)


def test_style_embedding_encoder_uses_ids():
    st = make_stylizer(encoder="embedding", num_styles=3)
    x = torch.rand(2, 3, 32, 32)
    out0 = st(x, torch.tensor([0, 0]))
    out1 = st(x, torch.tensor([1, 1]))
    assert out0.shape == x.shape
    assert not torch.allclose(out0, out1, atol=1e-5)


def test_style_interpolation_weights():
    st = make_stylizer()
    styles = torch.rand(2, 3, 32, 32)
    codes = st.style_code(styles)
    torch.testing.assert_close(st.style_code(styles, torch.tensor([1.0, 0.0])), codes[:1])
    torch.testing.assert_close(st.style_code(styles, torch.tensor([1.0, 1.0])), codes.mean(0, keepdim=True))
    x = torch.rand(3, 3, 32, 32)
    out = st.stylize_with_code(x, codes[:1])
    torch.testing.assert_close(out, st(x, styles[:1].expand(3, -1, -1, -1)), atol=1e-5, rtol=1e-4)


def test_multiscale_discriminator_shapes_and_spectral_norm():
    d = MultiScaleDiscriminator(width=8, n_layers=3, num_scales=2)
    logits = d(torch.rand(2, 3, 64, 64))
    assert [tuple(t.shape) for t in logits] == [(2, 1, 8, 8), (2, 1, 4, 4)]
    names = [n for n, _ in d.named_parameters()]
    assert any("parametrizations.weight.original" in n for n in names)


def test_gradients_reach_generator_and_style_generator():
    st = make_stylizer()
    out = st(torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32))
    out.mean().backward()
    assert st.generator.to_rgb.weight.grad is not None
    assert st.style_generator.head.weight.grad is not None
    assert st.style_generator.encoder.proj.weight.grad is not None
