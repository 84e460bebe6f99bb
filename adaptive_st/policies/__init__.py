"""Adaptation policies: pluggable rules deciding the loss weights λ during training."""

from adaptive_st.policies.base import LOSS_TERMS, PolicyBatch, PolicyContext, WeightPolicy
from adaptive_st.policies.constant import ConstantPolicy
from adaptive_st.policies.schedule import SchedulePolicy

__all__ = [
    "LOSS_TERMS",
    "ConstantPolicy",
    "PolicyBatch",
    "PolicyContext",
    "SchedulePolicy",
    "WeightPolicy",
]
