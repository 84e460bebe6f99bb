"""GAN losses (hinge, non-saturating, LSGAN) for (multi-scale) PatchGAN logits, plus the R1 penalty.

The generator loss is per sample, shape (B,), so adaptive policies can weight it per image like the
perceptual terms; the discriminator loss is a plain scalar.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptive_st.losses.feature_stats import fp32_region

ADV_KINDS = ("hinge", "nonsaturating", "lsgan")
Logits = Tensor | Sequence[Tensor]


def _as_list(logits: Logits) -> list[Tensor]:
    items = [logits] if isinstance(logits, Tensor) else list(logits)
    if not items:
        raise ValueError("empty list of discriminator logits")
    return items


def _per_sample_mean(x: Tensor) -> Tensor:
    return x.flatten(1).mean(1) if x.dim() > 1 else x


class AdversarialLoss(nn.Module):
    """Adversarial objective ``hinge``, ``nonsaturating`` or ``lsgan`` (config ``loss.adversarial.kind``).

    Logits may be one tensor (B, …) or a list over discriminator scales; every term is averaged over
    patches, then over scales. Computed in float32 (autocast off) so bf16/fp16 logits do not saturate.
    """

    def __init__(self, kind: str = "hinge") -> None:
        super().__init__()
        if kind not in ADV_KINDS:
            raise ValueError(f"loss.adversarial.kind must be one of {ADV_KINDS}, got {kind!r}")
        self.kind = kind

    def _g_term(self, fake: Tensor) -> Tensor:
        if self.kind == "hinge":
            return -fake
        if self.kind == "nonsaturating":
            return F.softplus(-fake)
        return (fake - 1).pow(2)

    def _d_terms(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor]:
        if self.kind == "hinge":
            return F.relu(1 - real), F.relu(1 + fake)
        if self.kind == "nonsaturating":
            return F.softplus(-real), F.softplus(fake)
        return (real - 1).pow(2), fake.pow(2)

    def generator_loss(self, fake_logits: Logits) -> Tensor:
        """Per-sample generator loss, shape (B,)."""
        scales = _as_list(fake_logits)
        with fp32_region(scales[0]):
            return torch.stack([_per_sample_mean(self._g_term(f.float())) for f in scales]).mean(0)

    def discriminator_loss(self, real_logits: Logits, fake_logits: Logits) -> Tensor:
        """Scalar discriminator loss: mean real term + mean fake term, averaged over scales."""
        reals, fakes = _as_list(real_logits), _as_list(fake_logits)
        if len(reals) != len(fakes):
            raise ValueError(f"{len(reals)} real vs {len(fakes)} fake logit scales")
        with fp32_region(reals[0]):
            per_scale = []
            for r, f in zip(reals, fakes, strict=True):
                real_term, fake_term = self._d_terms(r.float(), f.float())
                per_scale.append(real_term.mean() + fake_term.mean())
            return torch.stack(per_scale).mean()

    forward = generator_loss

    @staticmethod
    def r1_penalty(real_logits: Logits, real_images: Tensor) -> Tensor:
        """R1 (Mescheder et al. 2018): E‖∇ₓ D(x)‖² on real images; scalar, without the γ/2 factor.

        D(x) is the quantity the losses see: the per-image mean of the patch logits, averaged over scales.
        (R1 of the *sum* of a PatchGAN's patches is (patches)² times larger: it flattened D to chance, a
        hinge loss of 2.00 for whole runs.)

        ``real_images`` must have ``requires_grad=True`` *before* D is run on them (call
        ``real.requires_grad_(True)`` then compute ``real_logits``). ``create_graph=True`` so the penalty
        can be backpropagated into D. Under fp16 with a GradScaler, scale-free logits are expected
        (call before scaling the loss).
        """
        if not real_images.requires_grad:
            raise ValueError("r1_penalty: real_images must require grad before running D on them")
        scales = _as_list(real_logits)
        total = sum(_per_sample_mean(r.float()).sum() for r in scales) / len(scales)
        (grad,) = torch.autograd.grad(total, real_images, create_graph=True)
        return grad.float().pow(2).flatten(1).sum(1).mean()
