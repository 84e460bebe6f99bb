"""Colour preservation (Gatys et al. 2017, "Controlling Perceptual Factors in Neural Style Transfer").

Two ways to keep the content's colours while taking the style's texture:

- ``luminance``: luminance-only transfer. Content and style are stylized as grey (Y replicated to RGB),
  and the output's Y is recombined with the content's chroma (Cb, Cr) in full-range BT.601 YCbCr.
  The content's colours are kept exactly; only brightness structure comes from the style.
- ``histogram``: colour matching before stylizing. The style image's colours are mapped onto the
  content's by matching mean and covariance of RGB (a linear histogram match, Hertzmann's
  "image analogies" transform), so the style code sees a style painted in the content's palette.
  This depends on the content, so the style code is recomputed per content image (one small encoder pass).
"""

from __future__ import annotations

import torch
from torch import Tensor

from adaptive_st.inference.choices import PRESERVE_COLOR as PRESERVE_COLOR

_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_OFFSET = torch.tensor([0.0, 0.5, 0.5])


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """RGB (…,3,H,W) in [0,1] → full-range YCbCr in [0,1] (JPEG convention; Cb, Cr centred at 0.5)."""
    m = _TO_YCBCR.to(x.device, torch.float32)
    return torch.einsum("ij,...jhw->...ihw", m, x.float()) + _OFFSET.to(x.device)[:, None, None]


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clamped)."""
    m = torch.linalg.inv(_TO_YCBCR).to(x.device, torch.float32)
    return torch.einsum("ij,...jhw->...ihw", m, x.float() - _OFFSET.to(x.device)[:, None, None])


def to_grey(x: Tensor) -> Tensor:
    """Y of RGB images, replicated to 3 channels (the model's input format)."""
    y = rgb_to_ycbcr(x)[..., :1, :, :]
    return y.expand(*y.shape[:-3], 3, *y.shape[-2:]).contiguous()


def keep_content_chroma(output: Tensor, content: Tensor) -> Tensor:
    """The output's luminance with the content's Cb/Cr, clamped to [0,1]."""
    y = rgb_to_ycbcr(output)[..., :1, :, :]
    chroma = rgb_to_ycbcr(content)[..., 1:, :, :]
    return ycbcr_to_rgb(torch.cat([y, chroma], dim=-3)).clamp(0, 1)


def _mean_cov(x: Tensor) -> tuple[Tensor, Tensor]:
    pixels = x.double().reshape(3, -1)
    mean = pixels.mean(1, keepdim=True)
    centred = pixels - mean
    return mean, centred @ centred.T / max(pixels.shape[1] - 1, 1)


def _sqrtm(cov: Tensor, inverse: bool = False, eps: float = 1e-5) -> Tensor:
    evals, evecs = torch.linalg.eigh(cov + eps * torch.eye(3, dtype=cov.dtype, device=cov.device))
    root = evals.clamp_min(eps).sqrt()
    return (evecs * (1 / root if inverse else root)) @ evecs.T


def match_color(style: Tensor, content: Tensor) -> Tensor:
    """Style (3,H,W) recoloured so its RGB mean and covariance equal the content's (3,h,w); clamped."""
    mu_s, cov_s = _mean_cov(style)
    mu_c, cov_c = _mean_cov(content)
    transform = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    pixels = style.double().reshape(3, -1)
    out = transform @ (pixels - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)
