"""build_val_metrics: the set the training module logs, without metrics whose weights are missing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adaptive_st.metrics import ContentFidelity, build_val_metrics, lpips_metric
from adaptive_st.pretrained import registry


def test_offline_set_leaves_out_unavailable_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lpips_metric, "_warned", set())
    monkeypatch.setattr(registry, "package_file_path", lambda *args: None)
    metrics = build_val_metrics("alex", hub_dir=tmp_path, fid=True)
    assert list(metrics) == ["fidelity"]  # no LPIPS backbone, no FID package here
    assert isinstance(metrics["fidelity"], ContentFidelity)
    assert getattr(metrics["fidelity"], "reference", "content") == "content"

    # the training module's loop: update(output, reference) then compute() -> mapping of scalars
    x = torch.rand(2, 3, 32, 32)
    for metric in metrics.values():
        metric.update(x, x)
    assert metrics["fidelity"].compute()["ssim"] == pytest.approx(1.0)
    assert list(build_val_metrics(None, hub_dir=tmp_path)) == ["fidelity"]
