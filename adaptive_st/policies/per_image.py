"""Per-image style weight from measurable statistics of each (content, style) pair.

One global λ_style over-stylizes some images and under-stylizes others: a photo whose feature
statistics are already close to the style needs little push, one far from it needs more, and a
highly structured image (many edges: faces, text, architecture) loses recognisability first. The
rule reads ``pair_features`` (see ``policies.pair_features``) and feeds its λ to the generator, so
the same rule sets a per-image λ at inference too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.distributed as dist
from torch import Tensor

from adaptive_st.policies.base import PolicyBatch, PolicyContext, WeightPolicy


class PerImagePolicy(WeightPolicy):
    """λ_style,i = base_style · clip((gap_i / ḡ)^γ_gap · (ē / edge_i)^γ_edge, lo, hi).

    gap_i = ``style_gap`` (VGG mean/std distance of content i to its style), edge_i =
    ``edge_density`` (mean Sobel magnitude of content i); ḡ, ē are running means (EMA with decay
    β of the batch means; the first batch initialises them). Images far from their style get more
    style weight; strongly structured ones get less, keeping them recognisable; a typical image
    gets base_style. The running means are updated in ``condition`` — the only phase that sees the
    features — and only when ``batch.training``, before λ is computed: validation and inference then
    use frozen training statistics (as BatchNorm's running stats), so they are deterministic. Under
    DDP the batch means are all-reduced there (``condition`` runs on every rank every training step),
    keeping the statistics identical across ranks. At inference before any training step the
    batch's own means stand in.

    Args:
        base_weights: base_style scales the factor; other terms stay at their base weights.
        gamma_gap / gamma_edge: exponents γ (≥ 0; 0 switches a feature off).
        lo / hi: clip range of the factor (0 < lo ≤ 1 ≤ hi).
        ema_decay: β of the running means.
        eps: floor on features and means.
    """

    conditions_generator = True
    needs_pair_features = True

    def __init__(
        self,
        base_weights: Mapping[str, float],
        gamma_gap: float = 0.5,
        gamma_edge: float = 0.5,
        lo: float = 0.25,
        hi: float = 4.0,
        ema_decay: float = 0.99,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(base_weights)
        if not self.base_weights.get("style", 0.0) > 0:
            raise ValueError("policy.base_weights.style must be > 0: it scales the per-image factor")
        for key, value in (("gamma_gap", gamma_gap), ("gamma_edge", gamma_edge)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"policy.{key}={value}: must be finite and >= 0")
        if not (math.isfinite(hi) and 0 < lo <= 1 <= hi):
            raise ValueError(f"policy.lo={lo}, policy.hi={hi}: need 0 < lo <= 1 <= hi (finite)")
        if not 0 <= ema_decay < 1:
            raise ValueError(f"policy.ema_decay={ema_decay}: must be in [0, 1)")
        if not eps > 0:
            raise ValueError(f"policy.eps={eps}: must be > 0")
        self.gamma_gap = float(gamma_gap)
        self.gamma_edge = float(gamma_edge)
        self.lo = float(lo)
        self.hi = float(hi)
        self.ema_decay = float(ema_decay)
        self.eps = float(eps)
        # Running means of (style_gap, edge_density).
        self.register_buffer("running_means", torch.ones(2))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _features(self, batch: PolicyBatch) -> Tensor:
        if batch.pair_features is None:
            raise ValueError("PerImagePolicy needs PolicyBatch.pair_features (policy.needs_pair_features is set)")
        names = tuple(batch.feature_names)
        missing = {"style_gap", "edge_density"} - set(names)
        if missing:
            raise ValueError(f"PerImagePolicy: pair features {sorted(missing)} missing from {list(names)}")
        cols = [names.index("style_gap"), names.index("edge_density")]
        return batch.pair_features.detach().float()[:, cols].clamp_min(self.eps)

    @staticmethod
    def _rank_mean(x: Tensor) -> Tensor:
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            x = x.clone()
            dist.all_reduce(x, op=dist.ReduceOp.SUM)
            x /= dist.get_world_size()
        return x

    def factor(self, features: Tensor, means: Tensor) -> Tensor:
        """The clipped per-image factor (B,) for features (B, 2) against means (2,) (pure)."""
        gap, edge = features[:, 0], features[:, 1]
        means = means.clamp_min(self.eps)
        f = (gap / means[0]).pow(self.gamma_gap) * (means[1] / edge).pow(self.gamma_edge)
        return f.clamp(self.lo, self.hi)

    def condition(self, batch: PolicyBatch) -> Tensor:
        feats = self._features(batch)
        if batch.training:
            batch_means = self._rank_mean(feats.mean(0)).to(self.running_means)
            if bool(self.initialized):
                batch_means = self.ema_decay * self.running_means + (1 - self.ema_decay) * batch_means
            self.running_means.copy_(batch_means)
            self.initialized.fill_(True)
            means = self.running_means.float()
        else:
            means = self.running_means.float() if bool(self.initialized) else feats.mean(0)
        lam = self.base_weights["style"] * self.factor(feats, means.to(feats.device))
        return lam.to(batch.device)

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        if ctx.condition is None:
            raise RuntimeError("PerImagePolicy.weights needs ctx.condition (the λ from condition())")
        return {"style": ctx.condition.detach().float().reshape(-1)}
