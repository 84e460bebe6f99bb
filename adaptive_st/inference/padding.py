"""Pad the content to a size the generator can run on, and crop back, so any input size keeps its size.

G needs sides that are multiples of its stride (8) and, because its convolutions reflect-pad at 1/8
resolution, a minimum side (``receptive_field.minimum_side``, 16 for the built-in G): a 1×1 image or a
3×5000 strip is padded up to that and cropped back, so it stylizes like any other image.

Reflection (not zeros) so the padded border looks like image content: the instance statistics and the
edges of the output are not pulled towards black. Sides too short to reflect are replicated instead.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

MULTIPLE = 8  # three stride-2 stages in G


def pad_amounts(height: int, width: int, multiple: int = MULTIPLE, min_side: int = 0) -> tuple[int, int]:
    """``(pad_bottom, pad_right)`` that make both sides multiples of ``multiple`` and at least ``min_side``."""
    def target(side: int) -> int:
        return max(side + (-side) % multiple, -(-min_side // multiple) * multiple)

    return target(height) - height, target(width) - width


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE, min_side: int = 0) -> Tensor:
    """Pad (B,C,H,W) at the bottom/right (see :func:`pad_amounts`): reflect, or replicate where a side is
    too short to reflect that far."""
    ph, pw = pad_amounts(x.shape[-2], x.shape[-1], multiple, min_side)
    if not (ph or pw):
        return x
    mode = "reflect" if x.shape[-2] > ph and x.shape[-1] > pw else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop_to(x: Tensor, height: int, width: int) -> Tensor:
    return x[..., :height, :width]
