"""Scheduled λ: a deterministic function of the step (warmup, cosine, step decay).

Typical use is ramping the style/adversarial weight up after the generator has learned to
reconstruct content, which avoids early mode collapse onto the style's texture.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from adaptive_st.policies.base import LOSS_TERMS, PolicyContext, WeightPolicy

SHAPES = ("linear", "cosine", "step")


class SchedulePolicy(WeightPolicy):
    """λ_i(t) = base_i · f(t), where f goes from ``start_factor`` to ``end_factor``.

    Args:
        base_weights: λ at the end of the schedule (factor 1 unless ``end_factor`` says otherwise).
        terms: the terms that follow the schedule; the others stay at ``base_weights``.
        shape: ``linear`` warmup, ``cosine`` warmup (half cosine), or ``step`` (multiply by
            ``gamma`` every ``step_size`` steps, starting from ``start_factor``).
        warmup_steps: length of the ramp for ``linear``/``cosine``; the factor is held after it.
    """

    def __init__(
        self,
        base_weights: Mapping[str, float],
        terms: Sequence[str] = ("style",),
        shape: str = "linear",
        warmup_steps: int = 1000,
        start_factor: float = 0.0,
        end_factor: float = 1.0,
        step_size: int = 1000,
        gamma: float = 0.5,
    ) -> None:
        super().__init__(base_weights)
        if shape not in SHAPES:
            raise ValueError(f"policy.shape={shape!r}: expected one of {list(SHAPES)}")
        for t in terms:
            if t not in LOSS_TERMS:
                raise ValueError(f"policy.terms: unknown term {t!r}; expected some of {list(LOSS_TERMS)}")
        if warmup_steps < 0 or step_size <= 0:
            raise ValueError("policy.warmup_steps must be >= 0 and policy.step_size > 0")
        if min(start_factor, end_factor) < 0 or gamma < 0:
            raise ValueError("policy.start_factor, end_factor and gamma must be >= 0")
        self.terms = tuple(terms)
        self.shape = shape
        self.warmup_steps = int(warmup_steps)
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def factor(self, step: int) -> float:
        """The schedule's multiplier at ``step`` (pure; exposed for tests and plots)."""
        if self.shape == "step":
            return self.start_factor * self.gamma ** (step // self.step_size)
        if self.warmup_steps == 0 or step >= self.warmup_steps:
            return self.end_factor
        progress = step / self.warmup_steps
        if self.shape == "cosine":
            progress = 0.5 * (1.0 - math.cos(math.pi * progress))
        return self.start_factor + (self.end_factor - self.start_factor) * progress

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        f = self.factor(ctx.step)
        return {t: torch.tensor(self.base_weights[t] * f) for t in self.terms if t in self.base_weights}
