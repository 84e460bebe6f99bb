"""Constant λ: the hand-tuned baseline every adaptive policy is compared against."""

from __future__ import annotations

from adaptive_st.policies.base import WeightPolicy


class ConstantPolicy(WeightPolicy):
    """λ = ``base_weights`` at every step (the base class already does exactly this)."""
