"""The validation metric set the training module logs (config ``module.val_metrics``).

Each metric takes ``update(output, reference)``; those with ``reference = "style"`` are given the style
images, the others the content images. Metrics whose weights are missing are left out (with one
warning each), never computed with stand-in weights.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from adaptive_st.metrics.fid import build_fid
from adaptive_st.metrics.fidelity import ContentFidelity
from adaptive_st.metrics.lpips_metric import build_lpips


def build_val_metrics(
    lpips_net: str | None = "alex",
    lpips_backbone_path: str | Path | None = None,
    hub_dir: str | Path | None = None,
    fid: bool = False,
    fid_weights_path: str | Path | None = None,
) -> nn.ModuleDict:
    """``fidelity`` (SSIM/PSNR vs content), ``lpips`` (vs content) when its backbone is present, ``fid`` (vs
    style) when asked and present. (Style and content distances are not here: validation computes them from
    the loss's own VGG features, as ``evaluation.PairScorer`` does.)"""
    metrics: dict[str, nn.Module] = {"fidelity": ContentFidelity()}
    if lpips_net:
        lpips = build_lpips(lpips_net, lpips_backbone_path, hub_dir)
        if lpips is not None:
            metrics["lpips"] = lpips
    if fid:
        fid_metric = build_fid(fid_weights_path)
        if fid_metric is not None:
            metrics["fid"] = fid_metric
    return nn.ModuleDict(metrics)
