"""Homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla 2018, CVPR).

Each term gets a learned log-variance s_i and the objective Σ_i exp(−s_i)·L_i + s_i. Minimising
over s_i gives exp(s_i) = L_i, i.e. each adapted term is weighted by the inverse of its own scale,
so terms of very different magnitude contribute comparably without hand tuning.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyContext, WeightPolicy, adam_step, validate_terms

OPTIMIZERS = ("sgd", "adam")


class UncertaintyPolicy(WeightPolicy):
    """λ_i = base_i · exp(−s_i), s_i learned in ``update`` by an explicit gradient step.

    s is a buffer (not an ``nn.Parameter``): with L = Σ exp(−s_i)·L_i + s_i,
    ∂L/∂s_i = 1 − exp(−s_i)·L_i, evaluated on the step's rank-averaged losses, then
    ``sgd``: s ← s − lr·∂L/∂s, or ``adam``: an Adam step (scale-free, as the paper trains s with the
    network's optimizer); finally s is clamped to [``s_min``, ``s_max``] for stability. The base
    weight multiplies outside the objective, so at equilibrium λ_i = base_i / L_i: base keeps its
    meaning as a relative importance. Needs positive losses (a hinge generator loss is not: its s
    would climb to ``s_max``), hence default terms content and style.

    Args:
        base_weights: λ the learned factors exp(−s) apply to (usually 1 for the adapted terms).
        terms: the adapted terms.
        lr: step size on s.
        optimizer: ``sgd`` or ``adam``.
        betas: Adam's (β1, β2).
        s_init: initial s (0 → λ = base).
        s_min / s_max: clamp range of s (λ factor within [exp(−s_max), exp(−s_min)]).
    """

    def __init__(
        self,
        base_weights: Mapping[str, float],
        terms: Sequence[str] = ("content", "style"),
        lr: float = 1e-3,
        optimizer: str = "adam",
        betas: Sequence[float] = (0.9, 0.999),
        s_init: float = 0.0,
        s_min: float = -5.0,
        s_max: float = 5.0,
    ) -> None:
        super().__init__(base_weights)
        self.terms = validate_terms(terms, self.base_weights)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"policy.optimizer={optimizer!r}: expected one of {list(OPTIMIZERS)}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"policy.lr={lr}: must be finite and > 0")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"policy.betas={list(betas)}: expected two values in [0, 1)")
        if not (math.isfinite(s_min) and math.isfinite(s_max) and s_min < s_max):
            raise ValueError(f"policy.s_min={s_min}, policy.s_max={s_max}: need finite s_min < s_max")
        if not s_min <= s_init <= s_max:
            raise ValueError(f"policy.s_init={s_init}: must lie in [s_min, s_max]")
        self.lr = float(lr)
        self.optimizer = optimizer
        self.betas = (float(betas[0]), float(betas[1]))
        self.s_min = float(s_min)
        self.s_max = float(s_max)
        k = len(self.terms)
        self.register_buffer("log_vars", torch.full((k,), float(s_init)))
        self.register_buffer("exp_avg", torch.zeros(k))
        self.register_buffer("exp_avg_sq", torch.zeros(k))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        factor = torch.exp(-self.log_vars.float())
        return {t: self.base_weights[t] * factor[i] for i, t in enumerate(self.terms)}

    def update(self, ctx: PolicyContext) -> None:
        losses = torch.stack([ctx.losses[t].detach().float().reshape(()) for t in self.terms])
        s = self.log_vars.float()
        grad = 1.0 - torch.exp(-s) * losses.to(s)
        self.steps += 1
        if self.optimizer == "adam":
            adam_step(self.log_vars, grad, self.exp_avg, self.exp_avg_sq, int(self.steps), self.lr, self.betas)
        else:
            self.log_vars.copy_(s - self.lr * grad)
        self.log_vars.clamp_(self.s_min, self.s_max)
