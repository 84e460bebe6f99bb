"""Evaluation metrics (torchmetrics, DDP-synced): content fidelity, LPIPS, style distances, optional FID."""

from adaptive_st.metrics.fid import FIDMetric, build_fid, frechet_distance
from adaptive_st.metrics.fidelity import ContentFidelity, rgb_to_y
from adaptive_st.metrics.lpips_metric import LPIPSMetric, build_lpips, load_lpips_network
from adaptive_st.metrics.validation import build_val_metrics

__all__ = [
    "ContentFidelity",
    "FIDMetric",
    "LPIPSMetric",
    "build_fid",
    "build_lpips",
    "build_val_metrics",
    "frechet_distance",
    "load_lpips_network",
    "rgb_to_y",
]
