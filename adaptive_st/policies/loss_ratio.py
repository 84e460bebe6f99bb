"""SoftAdapt (Heydari et al. 2019, arXiv:1912.12355): weight each term by how its loss is moving.

A term whose loss still falls fast needs no help; one that stalls or rises gets more weight. The
rate of change is a finite difference over the last ``window`` (rank-averaged) losses; a softmax
with temperature β turns the rates into weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyContext, WeightPolicy, validate_terms

VARIANTS = ("plain", "normalized", "loss-weighted")


class LossRatioPolicy(WeightPolicy):
    """λ_k = base_k · w_k, w = K · softmax over the adapted terms (K of them), Σ w_k = K.

    With the last n = min(steps seen, ``window``) losses L_k(t−n+1..t) (oldest first):

    - rate: s_k = (L_k(t) − L_k(t−n+1)) / (n − 1), the mean of the n−1 backward differences
      (the paper's first-order difference, averaged over the window against GAN-loss noise);
    - ``plain``: α_k = exp(β s_k) / Σ_j exp(β s_j);
    - ``normalized``: the same on s_k / (Σ_j |s_j| + ε), so β does not depend on loss scale;
    - ``loss-weighted``: α_k = f_k exp(β s_k) / Σ_j f_j exp(β s_j), f_k = window mean of L_k
      (floored at ε: a hinge generator loss can be negative, where the weighting is meaningless).

    β > 0 favours the slowest-improving term (the paper's setting); β < 0 the fastest. Until two
    steps have been seen w = 1. State (the loss window) changes in ``update`` only.

    Args:
        base_weights: λ the multipliers apply to; terms not adapted stay at these values.
        terms: the adapted terms (default style and adv; content is the anchor).
        window: number of recent losses the rate is taken over (≥ 2).
        beta: softmax temperature β.
        variant: ``plain``, ``normalized`` or ``loss-weighted``.
        eps: ε in the normalisation and the loss floor.
    """

    def __init__(
        self,
        base_weights: Mapping[str, float],
        terms: Sequence[str] = ("style", "adv"),
        window: int = 10,
        beta: float = 1.0,
        variant: str = "normalized",
        eps: float = 1e-8,
    ) -> None:
        super().__init__(base_weights)
        self.terms = validate_terms(terms, self.base_weights)
        if variant not in VARIANTS:
            raise ValueError(f"policy.variant={variant!r}: expected one of {list(VARIANTS)}")
        if int(window) < 2:
            raise ValueError(f"policy.window={window}: need at least 2 losses for a rate of change")
        if not math.isfinite(beta):
            raise ValueError(f"policy.beta={beta}: must be finite")
        if not eps > 0:
            raise ValueError(f"policy.eps={eps}: must be > 0")
        self.window = int(window)
        self.beta = float(beta)
        self.variant = variant
        self.eps = float(eps)
        # Last `window` losses, oldest first (only the last `count` rows are valid).
        self.register_buffer("history", torch.zeros(self.window, len(self.terms)))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    def multipliers(self) -> Tensor:
        """w (K,) from the current loss window; ones until two steps have been seen."""
        n = min(int(self.count), self.window)
        k = len(self.terms)
        if n < 2:
            return torch.ones(k, device=self.history.device)
        h = self.history[-n:].float()
        s = (h[-1] - h[0]) / (n - 1)
        if self.variant == "normalized":
            s = s / (s.abs().sum() + self.eps)
        logits = self.beta * s
        if self.variant == "loss-weighted":
            logits = logits + h.mean(0).clamp_min(self.eps).log()
        return k * torch.softmax(logits, dim=0)

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        w = self.multipliers()
        return {t: self.base_weights[t] * w[i] for i, t in enumerate(self.terms)}

    def update(self, ctx: PolicyContext) -> None:
        losses = torch.stack([ctx.losses[t].detach().float().reshape(()) for t in self.terms])
        self.history.copy_(torch.cat([self.history[1:], losses.to(self.history).unsqueeze(0)]))
        self.count += 1
