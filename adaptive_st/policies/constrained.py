"""Constrained stylization: as stylized as possible while content fidelity stays within a target.

GECO (Rezende & Viola 2018, "Taming VAEs") turns a trade-off weight into the Lagrange multiplier
of a constraint the user can state in interpretable units; the PID Lagrangian (Stooke, Achiam &
Abbeel 2020, ICML) updates that multiplier with a PI(D) controller instead of plain gradient
ascent, which removes the oscillation and overshoot of the multiplier.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyContext, WeightPolicy


class ConstrainedPolicy(WeightPolicy):
    """min L_style (+ adv)  s.t.  C ≤ τ, with C = the content loss or a metric; λ_content is the multiplier.

    The Lagrangian is L_style + λ·(C − τ) (+ adv), so the content weight *is* the multiplier λ ≥ 0 and
    style / adv stay at their base weights. When fidelity is better than needed (C < τ) λ falls,
    towards ``lambda_min`` (0 by default), and training is free to stylize more; when C > τ, λ
    rises until content is pulled back to τ. The equilibrium is the most stylized model with C ≈ τ,
    i.e. "as stylized as possible while content ≤ τ". (Making the *style* weight the multiplier
    would instead solve min content s.t. style loss ≤ τ_style: a style target, not a fidelity one.)

    Update, once per step on rank-averaged values (Stooke et al.'s PID Lagrangian, Alg. 2):
    C̄ ← β·C̄ + (1−β)·C (GECO's moving average, C̄ starts at the first C); g = C̄ − τ;
    I ← clamp(I + g, (λ_min − λ_0)/K_i, (λ_max − λ_0)/K_i); D = max(0, g − g_prev);
    λ = clamp(λ_0 + K_p·g + K_i·I + K_d·D, λ_min, λ_max), with λ_0 = ``lambda_init``.
    Anti-windup: I is clamped to the range where K_i·I alone can move λ between its bounds, so a
    long violation (or a long slack period) cannot wind the integral past saturation and λ reacts
    as soon as g changes sign. With K_p = K_d = 0 this is projected dual ascent λ ← clamp(λ + K_i·g).

    If ``constraint`` names a metric (``content_distance``: VGG content loss to the photo, the fidelity
    measure when the content term targets stylised features; ``lpips``), the training step computes it
    every step into ``ctx.metrics`` (rank-averaged, lower = better). A step without it keeps λ; if it was never provided
    ``update`` raises, so a run that cannot see the constraint fails on its first step.

    Args:
        base_weights: weights of the non-constrained terms; content's is the default ``lambda_init``.
        target: τ, in the units of the constrained quantity (> 0).
        constraint: ``content`` or a metric name.
        kp / ki / kd: PID gains (≥ 0; at least one of kp, ki > 0).
        ema_decay: β of the constraint's moving average.
        lambda_init: λ_0 (default: ``base_weights.content``).
        lambda_min / lambda_max: bounds on λ.
    """

    def __init__(
        self,
        base_weights: Mapping[str, float],
        target: float,
        constraint: str = "content",
        kp: float = 0.1,
        ki: float = 0.01,
        kd: float = 0.0,
        ema_decay: float = 0.9,
        lambda_init: float | None = None,
        lambda_min: float = 0.0,
        lambda_max: float = 100.0,
    ) -> None:
        super().__init__(base_weights)
        target = float(target)
        if not (math.isfinite(target) and target > 0):
            raise ValueError(f"policy.target={target}: the fidelity target τ must be finite and > 0 "
                             "(a loss or distance of 0 cannot be reached while stylizing)")
        if constraint in ("style", "adv") or not constraint:
            raise ValueError(f"policy.constraint={constraint!r}: expected 'content' or a metric name (e.g. lpips)")
        for key, value in (("kp", kp), ("ki", ki), ("kd", kd)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"policy.{key}={value}: gains must be finite and >= 0")
        if kp == 0 and ki == 0:
            raise ValueError("policy.kp and policy.ki are both 0: the multiplier would never move")
        if not 0 <= ema_decay < 1:
            raise ValueError(f"policy.ema_decay={ema_decay}: must be in [0, 1)")
        if not (math.isfinite(lambda_max) and 0 <= lambda_min < lambda_max):
            raise ValueError(f"policy.lambda_min={lambda_min}, policy.lambda_max={lambda_max}: "
                             "need finite 0 <= lambda_min < lambda_max")
        lam0 = float(self.base_weights.get("content", 1.0) if lambda_init is None else lambda_init)
        if not lambda_min <= lam0 <= lambda_max:
            raise ValueError(f"policy.lambda_init={lam0}: must lie in [lambda_min, lambda_max]")
        self.target = target
        self.constraint = constraint
        self.needs_metrics = () if constraint == "content" else (constraint,)
        self.kp, self.ki, self.kd = float(kp), float(ki), float(kd)
        self.ema_decay = float(ema_decay)
        self.lambda_init = lam0
        self.lambda_min = float(lambda_min)
        self.lambda_max = float(lambda_max)
        self.register_buffer("multiplier", torch.tensor(lam0))
        self.register_buffer("ema", torch.zeros(()))
        self.register_buffer("integral", torch.zeros(()))
        self.register_buffer("prev_violation", torch.zeros(()))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        return {"content": self.multiplier.float().clone()}

    def _measure(self, ctx: PolicyContext) -> Tensor | None:
        if self.constraint == "content":
            return ctx.losses["content"]
        if self.constraint in ctx.metrics:
            return ctx.metrics[self.constraint]
        if int(self.steps) == 0:
            raise KeyError(
                f"policy.constraint={self.constraint!r}: the training step provides no such metric in "
                f"ctx.metrics (got {sorted(ctx.metrics)}); use constraint=content or compute it every step"
            )
        return None

    def update(self, ctx: PolicyContext) -> None:
        value = self._measure(ctx)
        if value is None:
            return
        c = value.detach().float().mean().to(self.ema.device)
        first = int(self.steps) == 0
        ema = c if first else self.ema_decay * self.ema.float() + (1 - self.ema_decay) * c
        g = ema - self.target
        deriv = torch.zeros_like(g) if first else (g - self.prev_violation.float()).clamp_min(0.0)
        if self.ki > 0:
            lo = (self.lambda_min - self.lambda_init) / self.ki
            hi = (self.lambda_max - self.lambda_init) / self.ki
            self.integral.copy_((self.integral.float() + g).clamp(lo, hi))
        lam = self.lambda_init + self.kp * g + self.ki * self.integral.float() + self.kd * deriv
        self.multiplier.copy_(lam.clamp(self.lambda_min, self.lambda_max))
        self.ema.copy_(ema)
        self.prev_violation.copy_(g)
        self.steps += 1
