"""Adversarial losses: exact values on known logits, multi-scale averaging, R1 on a linear D."""

from __future__ import annotations

import math

import pytest
import torch

from adaptive_st.losses import AdversarialLoss

# Two samples, 2 patches each.
REAL = torch.tensor([[2.0, 0.5], [-1.0, 0.0]]).view(2, 1, 1, 2)
FAKE = torch.tensor([[-2.0, 0.5], [1.0, 0.0]]).view(2, 1, 1, 2)


def sp(x: float) -> float:
    return math.log1p(math.exp(x))


def test_hinge_values() -> None:
    adv = AdversarialLoss("hinge")
    torch.testing.assert_close(adv.generator_loss(FAKE), torch.tensor([0.75, -0.5]))
    real_term = (0 + 0.5 + 2 + 1) / 4  # relu(1 - real)
    fake_term = (0 + 1.5 + 2 + 1) / 4  # relu(1 + fake)
    torch.testing.assert_close(adv.discriminator_loss(REAL, FAKE), torch.tensor(real_term + fake_term))


def test_nonsaturating_values() -> None:
    adv = AdversarialLoss("nonsaturating")
    g = [(sp(2.0) + sp(-0.5)) / 2, (sp(-1.0) + sp(0.0)) / 2]  # softplus(-fake)
    torch.testing.assert_close(adv.generator_loss(FAKE), torch.tensor(g))
    real_term = (sp(-2.0) + sp(-0.5) + sp(1.0) + sp(0.0)) / 4
    fake_term = (sp(-2.0) + sp(0.5) + sp(1.0) + sp(0.0)) / 4
    torch.testing.assert_close(adv.discriminator_loss(REAL, FAKE), torch.tensor(real_term + fake_term))


def test_lsgan_values() -> None:
    adv = AdversarialLoss("lsgan")
    torch.testing.assert_close(adv.generator_loss(FAKE), torch.tensor([(9 + 0.25) / 2, (0 + 1) / 2]))
    real_term = (1 + 0.25 + 4 + 1) / 4
    fake_term = (4 + 0.25 + 1 + 0) / 4
    torch.testing.assert_close(adv.discriminator_loss(REAL, FAKE), torch.tensor(real_term + fake_term))


def test_multiscale_averages_per_sample_over_scales() -> None:
    adv = AdversarialLoss("hinge")
    small = torch.tensor([1.0, 3.0]).view(2, 1, 1, 1)
    g = adv.generator_loss([FAKE, small])
    torch.testing.assert_close(g, (torch.tensor([0.75, -0.5]) + torch.tensor([-1.0, -3.0])) / 2)
    d = adv.discriminator_loss([REAL, small], [FAKE, -small])
    single = adv.discriminator_loss(REAL, FAKE)
    torch.testing.assert_close(d, (single + adv.discriminator_loss(small, -small)) / 2)
    with pytest.raises(ValueError, match="scales"):
        adv.discriminator_loss([REAL], [FAKE, small])


def test_bf16_logits_give_fp32_losses() -> None:
    adv = AdversarialLoss("nonsaturating")
    g = adv.generator_loss(FAKE.bfloat16())
    assert g.dtype == torch.float32 and g.shape == (2,)


def test_r1_penalty_of_a_linear_discriminator_is_the_weight_norm() -> None:
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4, requires_grad=True)
    x = torch.rand(5, 3, 4, 4, requires_grad=True)
    logits = (x * w).sum(dim=(1, 2, 3))  # D(x) = <w, x>, so ∇ₓD = w for every sample
    penalty = AdversarialLoss.r1_penalty(logits, x)
    torch.testing.assert_close(penalty, w.detach().pow(2).sum())
    penalty.backward()  # create_graph=True: the penalty trains D
    torch.testing.assert_close(w.grad, 2 * w.detach())


def test_r1_penalty_does_not_grow_with_the_number_of_patches() -> None:
    """R1 regularises the per-image mean logit the losses see, whatever a PatchGAN's patch count."""
    torch.manual_seed(0)
    w = torch.randn(1, 3, 4, 4)
    x = torch.rand(2, 3, 4, 4, requires_grad=True)
    logit = (x * w).sum(dim=(1, 2, 3))
    one = AdversarialLoss.r1_penalty(logit[:, None, None, None], x)
    many = AdversarialLoss.r1_penalty(logit[:, None, None, None].expand(-1, 1, 8, 8), x)
    scales = AdversarialLoss.r1_penalty([logit[:, None, None, None].expand(-1, 1, 8, 8), logit.view(2, 1, 1, 1)], x)
    torch.testing.assert_close(many, one)
    torch.testing.assert_close(scales, one)
    torch.testing.assert_close(one, w.pow(2).sum())


def test_r1_requires_grad_and_kind_is_validated() -> None:
    x = torch.rand(2, 3, 4, 4)
    with pytest.raises(ValueError, match="require grad"):
        AdversarialLoss.r1_penalty(x.sum(dim=(1, 2, 3)), x)
    with pytest.raises(ValueError, match=r"loss\.adversarial\.kind"):
        AdversarialLoss("wgan")


def test_a_patchgan_with_r1_leaves_chance_on_separable_images() -> None:
    """The quality recipe's D setting (hinge, R1 0.5 every 4 steps, 2 scales) learns to tell textured
    "paintings" from smooth "photos": its loss leaves 2.0, the hinge loss at chance. With R1 on the sum
    of the patch logits it stayed near 2.0 (the bug this guards)."""
    from adaptive_st.models.discriminator import MultiScaleDiscriminator

    torch.manual_seed(0)
    d = MultiScaleDiscriminator(width=8, n_layers=2, num_scales=2, use_spectral_norm=False)
    adv = AdversarialLoss("hinge")
    opt = torch.optim.Adam(d.parameters(), 1e-3, betas=(0.5, 0.99))
    losses = []
    for step in range(60):
        real = (torch.rand(4, 3, 32, 32) > 0.5).float()  # high-frequency texture
        fake = torch.rand(4, 3, 1, 1).expand(-1, -1, 32, 32).clone()  # flat colours
        use_r1 = step % 4 == 0
        real.requires_grad_(use_r1)
        real_logits = d(real)
        loss = adv.discriminator_loss(real_logits, d(fake))
        total = loss + (0.5 * 4 * adv.r1_penalty(real_logits, real) if use_r1 else 0)
        opt.zero_grad()
        total.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert sum(losses[:5]) / 5 > 1.9
    assert sum(losses[-10:]) / 10 < 1.0  # ≈ 0.2 here; ≈ 1.9 with the old R1 of the summed logits
