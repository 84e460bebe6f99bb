"""LPIPS builder: unavailable without a backbone (one warning, None); offline loading of a backbone file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
import torchvision

from adaptive_st.metrics import LPIPSMetric, build_lpips, lpips_metric
from adaptive_st.pretrained import hub_checkpoint_path

ALEX = "alexnet-owt-7be5be79.pth"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)
    monkeypatch.setattr(lpips_metric, "_warned", set())


def test_missing_backbone_returns_none_with_one_warning(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=lpips_metric.__name__):
        assert build_lpips("alex", hub_dir=tmp_path) is None
        assert build_lpips("alex", hub_dir=tmp_path) is None
    records = [r for r in caplog.records if r.name == lpips_metric.__name__]
    assert len(records) == 1
    msg = records[0].getMessage()
    for part in (
        "LPIPS",
        "unavailable",
        ALEX,
        str(tmp_path),
        "module.val_metrics.lpips_backbone_path",
        "random backbone",
    ):
        assert part in msg, part


def test_missing_explicit_backbone_path_is_unavailable_too(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger=lpips_metric.__name__):
        assert build_lpips("squeeze", backbone_path=tmp_path / "nope.pth", hub_dir=tmp_path) is None
    assert "nope.pth" in caplog.text
    with pytest.raises(ValueError, match=r"module\.val_metrics\.lpips_net"):
        build_lpips("resnet")


def test_loads_a_backbone_file_offline(tmp_path: Path) -> None:
    """Verifies the loading mechanics (torchvision keys -> lpips slices, no network) with a RANDOM AlexNet
    standing in for the real file; the resulting numbers are not calibrated LPIPS."""
    torch.manual_seed(0)
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    state = {f"features.{k}": v for k, v in features.items()} | {"classifier.6.bias": torch.zeros(10)}
    path = hub_checkpoint_path(ALEX, tmp_path)
    path.parent.mkdir(parents=True)
    torch.save(state, path)

    metric = build_lpips("alex", hub_dir=tmp_path)
    assert isinstance(metric, LPIPSMetric)
    torch.testing.assert_close(metric.net.net.slice1.get_submodule("0").weight, features["0.weight"])
    torch.testing.assert_close(metric.net.net.slice5.get_submodule("10").weight, features["10.weight"])
    assert metric.net.lin0.model[1].weight.abs().sum() > 0  # calibrated linear layers from the lpips wheel
    assert not any(k.startswith("_lpips") or "slice" in k for k in metric.state_dict())  # not in checkpoints

    x = torch.rand(3, 3, 64, 64)
    torch.testing.assert_close(metric.per_sample(x, x), torch.zeros(3))
    y = torch.rand(3, 3, 64, 64)
    d = metric.per_sample(x, y)
    assert torch.isfinite(d).all() and (d > 0).all()
    metric.update(x, y)
    metric.update(x, x)
    torch.testing.assert_close(metric.compute(), d.sum() / 6)
