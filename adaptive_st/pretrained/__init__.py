"""The one place that finds pretrained weights, offline: explicit path > hub cache > clear error."""

from adaptive_st.pretrained.check import WeightStatus, check_weights
from adaptive_st.pretrained.errors import MissingWeightsError
from adaptive_st.pretrained.registry import (
    FID_WEIGHTS_KEY,
    KNOWN_WEIGHTS,
    LPIPS_BACKBONE_KEY,
    LPIPS_BACKBONES,
    VGG_WEIGHTS_KEY,
    WeightSpec,
)
from adaptive_st.pretrained.resolve import hub_checkpoint_path, package_file_path, resolve_weights

__all__ = [
    "FID_WEIGHTS_KEY",
    "KNOWN_WEIGHTS",
    "LPIPS_BACKBONES",
    "LPIPS_BACKBONE_KEY",
    "VGG_WEIGHTS_KEY",
    "MissingWeightsError",
    "WeightSpec",
    "WeightStatus",
    "check_weights",
    "hub_checkpoint_path",
    "package_file_path",
    "resolve_weights",
]
