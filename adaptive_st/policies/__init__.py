"""Adaptation policies: pluggable rules deciding the loss weights λ during training."""

from adaptive_st.policies.base import LOSS_TERMS, PolicyBatch, PolicyContext, WeightPolicy
from adaptive_st.policies.conditional import ConditionalPolicy
from adaptive_st.policies.constant import ConstantPolicy
from adaptive_st.policies.constrained import ConstrainedPolicy
from adaptive_st.policies.dwa import DWAPolicy
from adaptive_st.policies.grad_ratio import GradRatioPolicy
from adaptive_st.policies.gradnorm import GradNormPolicy
from adaptive_st.policies.loss_ratio import LossRatioPolicy
from adaptive_st.policies.per_image import PerImagePolicy
from adaptive_st.policies.schedule import SchedulePolicy
from adaptive_st.policies.uncertainty import UncertaintyPolicy

#: Policy name (as in ``conf/policy/<name>.yaml``) → class, for docs and CLIs.
POLICIES: dict[str, type[WeightPolicy]] = {
    "constant": ConstantPolicy,
    "schedule": SchedulePolicy,
    "loss_ratio": LossRatioPolicy,
    "dwa": DWAPolicy,
    "uncertainty": UncertaintyPolicy,
    "gradnorm": GradNormPolicy,
    "grad_ratio": GradRatioPolicy,
    "constrained": ConstrainedPolicy,
    "conditional": ConditionalPolicy,
    "per_image": PerImagePolicy,
}

__all__ = [
    "LOSS_TERMS",
    "POLICIES",
    "ConditionalPolicy",
    "ConstantPolicy",
    "ConstrainedPolicy",
    "DWAPolicy",
    "GradNormPolicy",
    "GradRatioPolicy",
    "LossRatioPolicy",
    "PerImagePolicy",
    "PolicyBatch",
    "PolicyContext",
    "SchedulePolicy",
    "UncertaintyPolicy",
    "WeightPolicy",
]
