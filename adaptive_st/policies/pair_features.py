"""Per-image statistics of a (content, style) pair that per-image / conditional policies read.

Computed from VGG features the training step already has (no extra network pass):
- ``style_gap``: mean/std (AdaIN-statistics) distance between content and style features —
  how far the image has to travel to reach the style;
- ``edge_density``: mean Sobel gradient magnitude of the content's luminance — how much
  structure there is to preserve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

FEATURE_NAMES: tuple[str, ...] = ("style_gap", "edge_density")

_SOBEL = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])


def style_gap(content_feats: Mapping[str, Tensor], style_feats: Mapping[str, Tensor],
              layers: Sequence[str]) -> Tensor:
    """Per-sample mean/std feature-statistic distance, averaged over ``layers``: (B,)."""
    total = None
    for name in layers:
        a, b = content_feats[name].float(), style_feats[name].float()
        va, ma = torch.var_mean(a, dim=(2, 3), correction=0)
        vb, mb = torch.var_mean(b, dim=(2, 3), correction=0)
        d = (ma - mb).pow(2).mean(1) + ((va + 1e-5).sqrt() - (vb + 1e-5).sqrt()).pow(2).mean(1)
        total = d if total is None else total + d
    assert total is not None, "style_gap needs at least one layer"
    return total / len(layers)


def edge_density(images: Tensor) -> Tensor:
    """Mean Sobel gradient magnitude of luminance for images in [0, 1]: (B,)."""
    y = (0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]).unsqueeze(1).float()
    k = _SOBEL.to(y.device)
    gx = F.conv2d(y, k.view(1, 1, 3, 3), padding=1)
    gy = F.conv2d(y, k.t().contiguous().view(1, 1, 3, 3), padding=1)
    return (gx.pow(2) + gy.pow(2) + 1e-12).sqrt().mean(dim=(1, 2, 3))


def pair_features(content: Tensor, content_feats: Mapping[str, Tensor], style_feats: Mapping[str, Tensor],
                  layers: Sequence[str]) -> Tensor:
    """(B, 2) tensor of ``FEATURE_NAMES`` for each pair."""
    return torch.stack([style_gap(content_feats, style_feats, layers), edge_density(content)], dim=1)
