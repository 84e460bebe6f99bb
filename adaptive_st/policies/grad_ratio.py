"""Gradient-ratio weighting: VQGAN's adaptive weight (Esser et al. 2021, "Taming Transformers").

taming-transformers' ``calculate_adaptive_weight`` sets the GAN weight so that its gradient on the
decoder's last layer has the magnitude of the reconstruction gradient; here the anchor is the
content loss, and the same rule may also drive the style term.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyContext, WeightPolicy, validate_terms


class GradRatioPolicy(WeightPolicy):
    """λ_t = base_t · clamp(‖∇_W L_content‖ / (‖∇_W L_t‖ + δ), 0, ``max_ratio``) for each adapted t.

    Uses the *current* step's ``ctx.grad_norms`` (on G's last layer, unweighted), so
    ‖∇_W (λ_t L_t)‖ ≈ base_t · ‖∇_W L_content‖: base_t is the wanted gradient-magnitude ratio to the
    content term (VQGAN: ``disc_weight``; δ = 1e-4, max 1e4). Optional EMA smoothing
    λ̄_t ← β·λ̄_t + (1−β)·λ_t (β = ``ema_decay``, λ̄ starts at the first λ) damps the noise of
    single-batch gradient norms; ``weights`` returns the smoothed value for this step without
    changing state, ``update`` commits the same value. Content stays at its base weight.

    Args:
        base_weights: base factors (content's is its fixed λ).
        terms: adapted terms, from style and adv.
        delta: δ in the denominator.
        max_ratio: upper clamp on the gradient ratio.
        ema_decay: β; 0 disables smoothing.
    """

    needs_grad_norms = True

    def __init__(
        self,
        base_weights: Mapping[str, float],
        terms: Sequence[str] = ("adv",),
        delta: float = 1e-4,
        max_ratio: float = 1e4,
        ema_decay: float = 0.0,
    ) -> None:
        super().__init__(base_weights)
        self.terms = validate_terms(terms, self.base_weights, allowed=("style", "adv"))
        if not (math.isfinite(delta) and delta > 0):
            raise ValueError(f"policy.delta={delta}: must be finite and > 0")
        if not (math.isfinite(max_ratio) and max_ratio > 0):
            raise ValueError(f"policy.max_ratio={max_ratio}: must be finite and > 0")
        if not 0 <= ema_decay < 1:
            raise ValueError(f"policy.ema_decay={ema_decay}: must be in [0, 1)")
        self.delta = float(delta)
        self.max_ratio = float(max_ratio)
        self.ema_decay = float(ema_decay)
        self.register_buffer("ema", torch.zeros(len(self.terms)))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _smoothed(self, ctx: PolicyContext) -> Tensor:
        """This step's (smoothed) λ for ``terms`` (K,); pure: state is not changed."""
        if ctx.grad_norms is None:
            raise RuntimeError("GradRatioPolicy needs ctx.grad_norms (the training step computes them when "
                               "policy.needs_grad_norms is set)")
        content = ctx.grad_norms["content"].detach().float().reshape(())
        norms = torch.stack([ctx.grad_norms[t].detach().float().reshape(()) for t in self.terms])
        base = torch.tensor([self.base_weights[t] for t in self.terms], device=norms.device)
        lam = base * (content / (norms + self.delta)).clamp(0.0, self.max_ratio)
        if self.ema_decay == 0 or not bool(self.initialized):
            return lam
        return self.ema_decay * self.ema.float().to(lam.device) + (1 - self.ema_decay) * lam

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        lam = self._smoothed(ctx)
        return {t: lam[i] for i, t in enumerate(self.terms)}

    def update(self, ctx: PolicyContext) -> None:
        self.ema.copy_(self._smoothed(ctx))
        self.initialized.fill_(True)
