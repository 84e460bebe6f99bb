"""The adaptation-policy interface: who decides the loss weights (λ) and when.

A policy is a small ``nn.Module`` so that its state (running averages, Lagrange multipliers,
learned log-variances) lands in the LightningModule's checkpoint for free. The training step
talks to it in three phases, each with a default so a policy overrides only what it needs:

1. ``condition(batch)`` *before* the generator runs. Policies that feed λ to the generator
   (loss-conditional / per-image) return a per-sample λ tensor ``(B,)``; others return ``None``.
2. ``weights(ctx)`` *after* the loss terms are computed, before backward. Returns λ for the terms
   it controls, each a scalar tensor or a per-sample ``(B,)`` tensor; terms it does not return use
   ``base_weights``. If ``needs_grad_norms`` is set, ``ctx.grad_norms`` holds ‖∇_W L_i‖ on the
   generator's last layer (rank-averaged under DDP), as VQGAN's adaptive weight and GradNorm need.
3. ``update(ctx)`` *after* the optimizer step, with the same (detached, rank-averaged) losses.
   State changes happen here only, so every rank makes the same update.

Policies never call ``backward()`` and always return detached weights.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

#: Loss terms the generator objective is made of; a policy may weight any subset.
LOSS_TERMS: tuple[str, ...] = ("content", "style", "adv")


@dataclass
class PolicyBatch:
    """What a policy may look at before the generator runs (per-image / conditional policies)."""

    step: int
    batch_size: int
    device: torch.device
    #: Optional per-sample statistics of the (content, style) pair, e.g. VGG statistic distance
    #: or edge density; ``(B, F)`` with names in ``feature_names``.
    pair_features: Tensor | None = None
    feature_names: tuple[str, ...] = ()
    training: bool = True


@dataclass
class PolicyContext:
    """Feedback given to ``weights`` and ``update``: losses are detached and rank-averaged."""

    step: int
    #: Scalar (batch-mean) value of each loss term.
    losses: Mapping[str, Tensor]
    #: Per-sample value of each term, ``(B,)``, where available.
    sample_losses: Mapping[str, Tensor] = field(default_factory=dict)
    #: ‖∇_W L_i‖ on the generator's last layer (only when ``needs_grad_norms``).
    grad_norms: Mapping[str, Tensor] | None = None
    #: The per-sample λ returned by ``condition`` this step, if any.
    condition: Tensor | None = None
    #: Extra metrics a constrained policy may target, detached and rank-averaged: the ones the policy
    #: lists in ``needs_metrics`` (see :data:`POLICY_METRICS`).
    metrics: Mapping[str, Tensor] = field(default_factory=dict)


#: Metrics the training step can put in ``PolicyContext.metrics``: ``content_distance`` = the VGG content
#: loss of the output to the *photo* at the content layers (a fidelity measure even when the content term
#: targets stylised features), ``lpips`` = LPIPS to the photo (only when its backbone weights exist).
POLICY_METRICS = ("content_distance", "lpips")


class WeightPolicy(nn.Module):
    """Base class: constant ``base_weights``. Subclasses adapt some of them.

    Args:
        base_weights: λ for each loss term (``content``, ``style``, ``adv``). Adaptive policies
            scale or replace the ones they control and leave the others at these values.
    """

    #: Set by policies that need ‖∇_W L_i‖ on the generator's last layer each step.
    needs_grad_norms: bool = False
    #: Set by policies whose λ is an input of the generator (the model then needs ``cond_dim=1``).
    conditions_generator: bool = False
    #: Set by policies that read ``PolicyBatch.pair_features`` (see ``policies.pair_features``).
    needs_pair_features: bool = False
    #: Names of ``PolicyContext.metrics`` the training step must compute each step (``POLICY_METRICS``).
    needs_metrics: tuple[str, ...] = ()

    def __init__(self, base_weights: Mapping[str, float]) -> None:
        super().__init__()
        validate_weights(base_weights, "policy.base_weights")
        self.base_weights: dict[str, float] = {k: float(v) for k, v in base_weights.items()}

    # -- the three phases -------------------------------------------------------------------
    def condition(self, batch: PolicyBatch) -> Tensor | None:
        """Per-sample λ fed to the generator, or ``None`` (default: the generator is not conditioned)."""
        return None

    def weights(self, ctx: PolicyContext) -> dict[str, Tensor]:
        """λ for the terms this policy controls (default: none, so ``base_weights`` apply)."""
        return {}

    def update(self, ctx: PolicyContext) -> None:
        """Advance the policy's state after an optimizer step (default: stateless)."""

    # -- helpers the training step uses -------------------------------------------------------
    def resolve(self, ctx: PolicyContext) -> dict[str, Tensor]:
        """All terms' λ: the policy's own, falling back to ``base_weights``; always detached."""
        device = next(iter(ctx.losses.values())).device
        chosen = self.weights(ctx)
        unknown = set(chosen) - set(LOSS_TERMS)
        if unknown:
            raise KeyError(f"{type(self).__name__} returned weights for unknown terms {sorted(unknown)}")
        out = {name: torch.as_tensor(w, dtype=torch.float32, device=device) for name, w in self.base_weights.items()}
        out.update({name: w.detach().float() for name, w in chosen.items()})
        return out

    @property
    def trains_generator_on_subset(self) -> bool:
        """Whether :meth:`generator_samples` marks a subset (the model then needs a strength gate on G's output)."""
        return False

    def generator_samples(self, cond: Tensor | None) -> Tensor | None:
        """(B,) bool: the training samples whose loss reaches G at full strength (the rest train only S's
        λ → strength gate), or ``None``: every sample trains G (default)."""
        return None

    def inference_condition(self, batch: PolicyBatch, lam: float | None = None) -> Tensor | None:
        """λ to feed the generator at inference; ``lam`` overrides it for conditional models."""
        if not self.conditions_generator:
            return None
        if lam is not None:
            return torch.full((batch.batch_size,), float(lam), device=batch.device)
        return self.condition(batch)


def validate_weights(weights: Mapping[str, float], key: str) -> None:
    """Reject unknown terms and negative / non-finite λ at start-up, naming the config key."""
    for name, value in weights.items():
        if name not in LOSS_TERMS:
            raise ValueError(f"{key}.{name}: unknown loss term; expected one of {list(LOSS_TERMS)}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{key}.{name}={value!r}: not a number; loss weights must be finite and >= 0") from None
        if isinstance(value, bool) or not math.isfinite(v) or v < 0:
            raise ValueError(f"{key}.{name}={value}: loss weights must be finite and >= 0")


def validate_terms(terms: Sequence[str], base_weights: Mapping[str, float], key: str = "policy.terms",
                   allowed: Sequence[str] = LOSS_TERMS) -> tuple[str, ...]:
    """Check the terms a policy adapts (non-empty, known, no repeats, present in ``base_weights``)."""
    out = tuple(terms)
    if not out or len(set(out)) != len(out):
        raise ValueError(f"{key}={list(out)}: expected a non-empty list without repeats")
    for t in out:
        if t not in allowed:
            raise ValueError(f"{key}: unknown term {t!r}; expected some of {list(allowed)}")
        if t not in base_weights:
            raise ValueError(f"{key}: term {t!r} has no entry in policy.base_weights")
    return out


def adam_step(value: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, step: int, lr: float,
              betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """One in-place Adam step (Kingma & Ba 2015) on a buffer, ``step`` counting from 1.

    Policies learn buffers from explicit gradients rather than owning parameters, which DDP would
    report as unused (they get no autograd gradient) and checkpoints would split from their state.
    """
    b1, b2 = betas
    g = grad.to(exp_avg.dtype)
    exp_avg.mul_(b1).add_(g, alpha=1 - b1)
    exp_avg_sq.mul_(b2).addcmul_(g, g, value=1 - b2)
    m_hat = exp_avg.float() / (1 - b1**step)
    v_hat = exp_avg_sq.float() / (1 - b2**step)
    value.copy_(value.float() - lr * m_hat / (v_hat.sqrt() + eps))
