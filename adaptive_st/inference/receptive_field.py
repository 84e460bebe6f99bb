"""How far G's output at a pixel depends on input pixels: sets the default tile overlap.

Tiles are exact only where a pixel's receptive field lies inside the tile, so the overlap must scale with
G's depth (the 1/8-resolution residual blocks dominate: each 3×3 conv there reaches 8 px further).
"""

from __future__ import annotations

from torch import nn

from adaptive_st.inference.padding import MULTIPLE
from adaptive_st.models.layers import UpModulated


def receptive_radius(generator: nn.Module) -> int:
    """Theoretical receptive-field radius (px) of a conv stack, walking modules in definition order.

    Assumes definition order is execution order (true for ``ContentGenerator``): strided convs coarsen the
    grid after them, ``UpModulated`` refines it before its conv.
    """
    radius, scale = 0.0, 1.0
    for module in generator.modules():
        if isinstance(module, UpModulated):
            scale /= 2
        elif isinstance(module, nn.Conv2d):
            radius += (module.kernel_size[0] // 2) * module.dilation[0] * scale
            scale *= module.stride[0]
    return int(radius)


def default_overlap(generator: nn.Module, blend: int = 16) -> int:
    """Receptive diameter + the cross-fade width, as a multiple of 8: the cross-fade, centred in the
    overlap, is then at least one radius from both tiles' cut edges."""
    return -(-(2 * receptive_radius(generator) + blend) // MULTIPLE) * MULTIPLE


def minimum_side(generator: nn.Module, multiple: int = MULTIPLE) -> int:
    """Smallest input side (a multiple of ``multiple``) that every reflection pad in G can handle.

    PyTorch refuses to reflect-pad ``p`` pixels of a side shorter than ``p + 1``; at 1/s resolution that
    side is about H/s, so H must reach (p + 1)·s. Walked like :func:`receptive_radius`; upsampling done
    functionally (``F.interpolate`` in a forward) is not seen, which only over-estimates (pads more).
    """
    need, scale = float(multiple), 1.0
    for module in generator.modules():
        if isinstance(module, UpModulated):
            scale /= 2
        elif isinstance(module, nn.ReflectionPad2d):
            need = max(need, (max(module.padding) + 1) * scale)
        elif isinstance(module, nn.Conv2d):
            if module.padding_mode == "reflect":
                pad = module.kernel_size[0] // 2 if isinstance(module.padding, str) else max(module.padding)
                need = max(need, (pad + 1) * scale)
            scale *= module.stride[0]
        elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
            stride = module.stride if isinstance(module.stride, int) else module.stride[0]
            scale *= stride
    return int(-(-need // multiple) * multiple)
