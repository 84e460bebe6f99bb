"""Reflect-pad to the generator's stride multiple and crop back, so any input size keeps its size.

Reflection (not zeros) so the padded border looks like image content: the instance statistics and the
edges of the output are not pulled towards black.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

MULTIPLE = 8  # three stride-2 stages in G


def pad_amounts(height: int, width: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    """``(pad_bottom, pad_right)`` that make both sides multiples of ``multiple``."""
    return (-height) % multiple, (-width) % multiple


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE) -> Tensor:
    """Reflect-pad (B,C,H,W) at the bottom/right; falls back to replicate for sides too short to reflect."""
    ph, pw = pad_amounts(x.shape[-2], x.shape[-1], multiple)
    if not (ph or pw):
        return x
    mode = "reflect" if x.shape[-2] > ph and x.shape[-1] > pw else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop_to(x: Tensor, height: int, width: int) -> Tensor:
    return x[..., :height, :width]
