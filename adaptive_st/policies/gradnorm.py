"""GradNorm (Chen et al. 2018, ICML): learn weights that balance the terms' gradient magnitudes.

Each term's gradient on the generator's last layer is pushed towards the average magnitude,
scaled up for terms that are training slower (higher L_i(t)/L_i(0)), so no term dominates the
shared weights and lagging terms catch up. α sets how strongly training rates are equalised.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyContext, WeightPolicy, adam_step, validate_terms

OPTIMIZERS = ("sgd", "adam")


class GradNormPolicy(WeightPolicy):
    """λ_i = base_i · w_i, with w (Σ w = K) learned in ``update`` from G_i = ‖∇_W L_i‖ (unweighted).

    Per step, with the rank-averaged losses and ``ctx.grad_norms``:
    G_W^(i) = w_i·G_i; L̃_i = L_i(t)/L_i(0) (L_i(0) = the first losses seen); r_i = L̃_i / mean(L̃);
    target_i = mean(G_W)·r_i^α (held constant, as in the paper); the GradNorm loss
    Σ_i |G_W^(i) − target_i| has ∂/∂w_i = sign(w_i·G_i − target_i)·G_i. Step ``sgd``
    (w ← w − lr·grad) or ``adam`` (scale-free: G depends on the layer's scale), clamp w at
    ``min_weight`` so it stays positive, and renormalise w ← K·w / Σw. Because w balances the
    *unweighted* gradients, base_i sets the ratio of the final weighted gradient magnitudes (use 1s
    for the paper's plain GradNorm). Losses are floored at ``eps`` (the ratios need positive
    losses: only adapt ``adv`` with a non-negative GAN loss).

    Args:
        base_weights: λ the learned w apply to.
        terms: the adapted terms (default content and style).
        alpha: α, the restoring-force strength (paper: 0.12–3; 0 equalises gradient norms only).
        lr: step size on w.
        optimizer: ``sgd`` or ``adam``.
        betas: Adam's (β1, β2).
        min_weight: floor on w before renormalising.
        eps: floor on losses.
    """

    needs_grad_norms = True

    def __init__(
        self,
        base_weights: Mapping[str, float],
        terms: Sequence[str] = ("content", "style"),
        alpha: float = 1.5,
        lr: float = 1e-3,
        optimizer: str = "adam",
        betas: Sequence[float] = (0.9, 0.999),
        min_weight: float = 1e-3,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(base_weights)
        self.terms = validate_terms(terms, self.base_weights)
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"policy.optimizer={optimizer!r}: expected one of {list(OPTIMIZERS)}")
        if not (math.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"policy.alpha={alpha}: must be finite and >= 0")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"policy.lr={lr}: must be finite and > 0")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"policy.betas={list(betas)}: expected two values in [0, 1)")
        if not 0 < min_weight < 1:
            raise ValueError(f"policy.min_weight={min_weight}: must be in (0, 1)")
        if not eps > 0:
            raise ValueError(f"policy.eps={eps}: must be > 0")
        self.alpha = float(alpha)
        self.lr = float(lr)
        self.optimizer = optimizer
        self.betas = (float(betas[0]), float(betas[1]))
        self.min_weight = float(min_weight)
        self.eps = float(eps)
        k = len(self.terms)
        self.register_buffer("task_weights", torch.ones(k))
        self.register_buffer("initial_losses", torch.ones(k))
        self.register_buffer("exp_avg", torch.zeros(k))
        self.register_buffer("exp_avg_sq", torch.zeros(k))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        w = self.task_weights.float()
        return {t: self.base_weights[t] * w[i] for i, t in enumerate(self.terms)}

    def update(self, ctx: PolicyContext) -> None:
        if ctx.grad_norms is None:
            raise RuntimeError("GradNormPolicy needs ctx.grad_norms (the training step computes them when "
                               "policy.needs_grad_norms is set)")
        w = self.task_weights.float()
        losses = torch.stack([ctx.losses[t].detach().float().reshape(()) for t in self.terms]).to(w)
        norms = torch.stack([ctx.grad_norms[t].detach().float().reshape(()) for t in self.terms]).to(w)
        losses = losses.clamp_min(self.eps)
        if int(self.steps) == 0:
            self.initial_losses.copy_(losses)
        self.steps += 1
        ratio = losses / self.initial_losses.float()
        rate = ratio / ratio.mean()
        weighted = w * norms
        target = weighted.mean() * rate.pow(self.alpha)
        grad = torch.sign(weighted - target) * norms
        if self.optimizer == "adam":
            adam_step(self.task_weights, grad, self.exp_avg, self.exp_avg_sq, int(self.steps), self.lr, self.betas)
        else:
            self.task_weights.copy_(w - self.lr * grad)
        w = self.task_weights.float().clamp_min(self.min_weight)
        self.task_weights.copy_(len(self.terms) * w / w.sum())
