"""build_val_metrics: the set the training module logs, without metrics whose weights are missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptive_st.losses import VGGFeatures
from adaptive_st.metrics import ContentFidelity, StyleDistance, build_val_metrics, lpips_metric
from adaptive_st.pretrained import registry


def test_offline_set_leaves_out_unavailable_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lpips_metric, "_warned", set())
    monkeypatch.setattr(registry, "package_file_path", lambda *args: None)
    metrics = build_val_metrics("alex", hub_dir=tmp_path, style_vgg=VGGFeatures.random(["relu1_1"]), fid=True)
    assert list(metrics) == ["fidelity", "style"]  # no LPIPS backbone, no FID package here
    assert isinstance(metrics["fidelity"], ContentFidelity) and isinstance(metrics["style"], StyleDistance)
    assert getattr(metrics["fidelity"], "reference", "content") == "content"
    assert metrics["style"].reference == "style"

    # the training module's loop: update(output, reference) then compute() -> mapping of scalars
    x = torch.rand(2, 3, 32, 32)
    for metric in metrics.values():
        metric.update(x, x)
    assert metrics["fidelity"].compute()["ssim"] == pytest.approx(1.0)
    assert metrics["style"].compute()["style_meanstd"] < 1e-6
    assert list(build_val_metrics(None, hub_dir=tmp_path)) == ["fidelity"]
