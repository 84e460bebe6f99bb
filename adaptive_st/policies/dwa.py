"""Dynamic Weight Average (Liu, Johns & Davison 2019, "End-to-End Multi-Task Learning with Attention").

Weights each term by how slowly its loss fell over the last period: a term whose loss ratio
L(t−1)/L(t−2) is close to (or above) 1 is learning slowest and gets more weight. It needs only
loss values, no gradients, so it costs nothing per step.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyContext, WeightPolicy, validate_terms


class DWAPolicy(WeightPolicy):
    """λ_k = base_k · w_k, w_k(t) = K · exp(r_k(t−1)/T) / Σ_i exp(r_i(t−1)/T), r_k = L_k(t−1) / L_k(t−2).

    The paper's L_k(t) is the average loss over *epoch* t. Here a period is ``window`` training
    steps: losses are averaged over each block of ``window`` steps, and r uses the last two
    complete blocks, so w changes once per block. (Per-step EMA-smoothed losses would not work: the
    ratio of consecutive EMA values is 1 + O(1 − decay), which leaves w ≈ 1.) Until two blocks are
    complete w = 1, as the paper sets w = 1 for t = 1, 2. Loss averages are floored at ``eps``
    because the ratio needs positive losses: only adapt ``adv`` with a non-negative GAN loss
    (non-saturating / LSGAN, not hinge).

    Args:
        base_weights: λ the multipliers apply to; terms not adapted stay at these values.
        terms: the adapted terms (default content and style).
        temperature: T; the paper uses 2. Larger T → more uniform weights.
        window: steps per period (the paper's epoch).
        eps: floor on the period averages.
    """

    def __init__(
        self,
        base_weights: Mapping[str, float],
        terms: Sequence[str] = ("content", "style"),
        temperature: float = 2.0,
        window: int = 100,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(base_weights)
        self.terms = validate_terms(terms, self.base_weights)
        if not (math.isfinite(temperature) and temperature > 0):
            raise ValueError(f"policy.temperature={temperature}: must be finite and > 0")
        if int(window) < 1:
            raise ValueError(f"policy.window={window}: must be >= 1 step")
        if not eps > 0:
            raise ValueError(f"policy.eps={eps}: must be > 0")
        self.temperature = float(temperature)
        self.window = int(window)
        self.eps = float(eps)
        k = len(self.terms)
        self.register_buffer("block_sum", torch.zeros(k))
        self.register_buffer("block_steps", torch.zeros((), dtype=torch.long))
        # Averages of the last two complete blocks: row 0 = L(t−1), row 1 = L(t−2).
        self.register_buffer("block_means", torch.zeros(2, k))
        self.register_buffer("blocks", torch.zeros((), dtype=torch.long))

    def multipliers(self) -> Tensor:
        """w (K,) from the last two complete blocks; ones before there are two."""
        k = len(self.terms)
        if int(self.blocks) < 2:
            return torch.ones(k, device=self.block_means.device)
        m = self.block_means.float()
        r = m[0] / m[1]
        return k * torch.softmax(r / self.temperature, dim=0)

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        w = self.multipliers()
        return {t: self.base_weights[t] * w[i] for i, t in enumerate(self.terms)}

    def update(self, ctx: PolicyContext) -> None:
        losses = torch.stack([ctx.losses[t].detach().float().reshape(()) for t in self.terms])
        self.block_sum += losses.to(self.block_sum)
        self.block_steps += 1
        if int(self.block_steps) < self.window:
            return
        mean = (self.block_sum.float() / self.window).clamp_min(self.eps)
        self.block_means.copy_(torch.stack([mean, self.block_means[0].float()]))
        self.blocks += 1
        self.block_sum.zero_()
        self.block_steps.zero_()
