"""Loss-conditional training (YOTO: Dosovitskiy & Djolonga 2020, "You Only Train Once", ICLR).

Instead of picking one style weight, train a single generator over a whole range of them: each
sample gets its own λ_style, drawn at random, which is both its loss weight and an input of the
generator. At inference the user dials the stylization strength with λ, no retraining.

With ``top_share`` > 0 the roles split (for a style generator whose λ sets a strength gate on G's output,
``MicroStyle(strength_at="output")``): a share of the draws is λ_max exactly, and only those train G and S's
heads, at full strength; every draw trains the gate α(λ) that blends that output with the photo. It measures
what the λ mixture costs G (compare_quality, 2026-12-08, front 0.988 / 0.882 / 0.836): at 0.999 G came within
0.05 of ``constant`` at λ_max (0.863 against 0.817, one seed); at 0.5 the sweep's top was the plain mixture's
(0.995 against 0.996, 3 seeds) with 2.6× its seed spread, so the default stays 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from adaptive_st.policies.base import PolicyBatch, PolicyContext, WeightPolicy

DISTRIBUTIONS = ("log_uniform", "uniform")


class ConditionalPolicy(WeightPolicy):
    """λ_style,i ~ p(λ) per sample in training; λ_i is fed to the generator and weights sample i.

    ``log_uniform``: log λ ~ U(log λ_min, log λ_max) (YOTO's choice for weights spanning orders of
    magnitude); ``uniform``: λ ~ U(λ_min, λ_max). Draws use a CPU ``torch.Generator`` seeded from
    (``seed``, step) only, so a resumed run redraws the same λ at the same step and every DDP rank
    draws the same λ vector (for its own, different images). With ``scale_adv``,
    λ_adv,i = λ_i · base_adv / base_style keeps the base adv:style ratio. Outside training
    (``batch.training`` false) every sample gets ``inference_lambda`` — default the distribution's
    centre (geometric mean for log-uniform, mean for uniform) — so validation is deterministic;
    ``inference_condition(batch, lam=...)`` picks another.

    Args:
        base_weights: weights of the other terms (and the adv:style ratio for ``scale_adv``).
        lambda_min / lambda_max: range of λ_style (> 0).
        distribution: ``log_uniform`` or ``uniform``.
        inference_lambda: λ outside training; within [λ_min, λ_max].
        scale_adv: scale adv with λ_style per sample.
        seed: base seed of the draws (≥ 0).
        top_share: share of the draws that are λ_max exactly and the only ones that train G (see above);
            0: every draw from p(λ), every draw trains G (plain YOTO).
    """

    conditions_generator = True

    def __init__(
        self,
        base_weights: Mapping[str, float],
        lambda_min: float = 0.5,
        lambda_max: float = 50.0,
        distribution: str = "log_uniform",
        inference_lambda: float | None = None,
        scale_adv: bool = False,
        seed: int = 0,
        top_share: float = 0.0,
    ) -> None:
        super().__init__(base_weights)
        if distribution not in DISTRIBUTIONS:
            raise ValueError(f"policy.distribution={distribution!r}: expected one of {list(DISTRIBUTIONS)}")
        if not (math.isfinite(lambda_max) and 0 < lambda_min < lambda_max):
            raise ValueError(f"policy.lambda_min={lambda_min}, policy.lambda_max={lambda_max}: "
                             "need finite 0 < lambda_min < lambda_max")
        if inference_lambda is None:
            log_uniform = distribution == "log_uniform"
            inference_lambda = math.sqrt(lambda_min * lambda_max) if log_uniform else (lambda_min + lambda_max) / 2
        if not lambda_min <= inference_lambda <= lambda_max:
            raise ValueError(f"policy.inference_lambda={inference_lambda}: must lie in [lambda_min, lambda_max]")
        if scale_adv and not (self.base_weights.get("style", 0.0) > 0 and "adv" in self.base_weights):
            raise ValueError("policy.scale_adv needs base_weights.style > 0 and a base_weights.adv")
        if int(seed) < 0:
            raise ValueError(f"policy.seed={seed}: must be >= 0")
        if not 0.0 <= top_share < 1.0:
            raise ValueError(f"policy.top_share={top_share}: must be in [0, 1) (the share of draws at lambda_max)")
        self.lambda_min = float(lambda_min)
        self.lambda_max = float(lambda_max)
        self.distribution = distribution
        self.inference_lambda = float(inference_lambda)
        self.scale_adv = bool(scale_adv)
        self.seed = int(seed)
        self.top_share = float(top_share)

    def sample(self, step: int, n: int) -> Tensor:
        """The n λ drawn at ``step`` (CPU; a pure function of seed and step)."""
        seed = int(np.random.SeedSequence([self.seed, int(step)]).generate_state(1, dtype=np.uint64)[0])
        rng = torch.Generator().manual_seed(seed)
        u = torch.rand(n, generator=rng, dtype=torch.float64)
        if self.distribution == "log_uniform":
            lo, hi = math.log(self.lambda_min), math.log(self.lambda_max)
            lam = torch.exp(lo + (hi - lo) * u)
        else:
            lam = self.lambda_min + (self.lambda_max - self.lambda_min) * u
        if self.top_share > 0:
            lam = torch.where(torch.rand(n, generator=rng, dtype=torch.float64) < self.top_share, self.lambda_max, lam)
        return lam.float()

    @property
    def trains_generator_on_subset(self) -> bool:
        return self.top_share > 0

    def generator_samples(self, cond: Tensor | None) -> Tensor | None:
        """With ``top_share``: the draws at λ_max (the only ones that train G), else ``None`` (all do)."""
        if not self.trains_generator_on_subset or cond is None:
            return None
        return cond.reshape(-1) >= float(np.float32(self.lambda_max))  # the draws are float32

    def condition(self, batch: PolicyBatch) -> Tensor:
        if not batch.training:
            return torch.full((batch.batch_size,), self.inference_lambda, device=batch.device)
        return self.sample(batch.step, batch.batch_size).to(batch.device)

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        if ctx.condition is None:
            raise RuntimeError("ConditionalPolicy.weights needs ctx.condition (the λ from condition())")
        lam = ctx.condition.detach().float().reshape(-1)
        out = {"style": lam}
        if self.scale_adv:
            out["adv"] = lam * (self.base_weights["adv"] / self.base_weights["style"])
        return out
