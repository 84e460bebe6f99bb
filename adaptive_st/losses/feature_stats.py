"""Style statistics of feature maps (Gram matrix, channel mean/std), always in float32.

Under fp16/bf16 autocast a Gram matrix of un-normalised VGG activations overflows or loses most of its
precision, so every function here casts to float32 with autocast disabled.
"""

from __future__ import annotations

import torch
from torch import Tensor

STD_EPS = 1e-5


def fp32_region(x: Tensor) -> torch.autocast:
    """Context that turns autocast off on ``x``'s device type."""
    return torch.autocast(device_type=x.device.type, enabled=False)


def gram_matrix(f: Tensor) -> Tensor:
    """(B,C,H,W) -> (B,C,C) float32 Gram matrix normalised by C·H·W (Johnson et al.), so its scale does
    not depend on image size."""
    b, c, h, w = f.shape
    with fp32_region(f):
        x = f.float().reshape(b, c, h * w)
        return torch.bmm(x, x.transpose(1, 2)) / (c * h * w)


def channel_mean_std(f: Tensor, eps: float = STD_EPS) -> tuple[Tensor, Tensor]:
    """(B,C,H,W) -> float32 per-channel mean and std, each (B,C); ``eps`` keeps sqrt's gradient finite."""
    with fp32_region(f):
        x = f.float().flatten(2)
        var = x.var(dim=2, correction=0)
        return x.mean(dim=2), (var + eps).sqrt()


def channel_mean_cov(f: Tensor) -> tuple[Tensor, Tensor]:
    """(B,C,H,W) -> float32 channel mean (B,C) and covariance (B,C,C) (population, i.e. /HW).

    The statistics a whitening-and-colouring transform matches; Gram = (cov + mean·meanᵀ)/C and
    mean/std come from them too, so one cached pair per style image serves every style loss.
    """
    b, c, h, w = f.shape
    with fp32_region(f):
        x = f.float().reshape(b, c, h * w)
        mean = x.mean(dim=2)
        xc = x - mean[..., None]
        return mean, torch.bmm(xc, xc.transpose(1, 2)) / (h * w)
