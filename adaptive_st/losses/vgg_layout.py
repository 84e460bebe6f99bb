"""VGG-19 layer names and the two Sequential layouts whose indices match the published state dicts.

Keeping the exact module indices means the files load with plain ``load_state_dict``: the AdaIN/WCT
"normalised" file uses keys ``0, 2, 5, 9, …, 51`` (1×1 preprocessing conv, reflection pads, ceil-mode pools),
torchvision's ``vgg19().features`` uses ``0, 2, 5, 7, …, 34`` (zero padding inside the convs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))  # (channels, convs)

LAYER_NAMES: tuple[str, ...] = tuple(
    f"relu{b}_{i}" for b, (_, n) in enumerate(_BLOCKS, 1) for i in range(1, n + 1)
)
LAYER_CHANNELS: dict[str, int] = {
    f"relu{b}_{i}": c for b, (c, n) in enumerate(_BLOCKS, 1) for i in range(1, n + 1)
}
FLAVOURS = ("normalised", "torchvision")

# RGB in [0,1] -> BGR·255 − ImageNet mean (Caffe preprocessing), as stored in module 0 of the normalised file.
PREPROCESS_WEIGHT = 255.0 * torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).reshape(
    3, 3, 1, 1
)
PREPROCESS_BIAS = -torch.tensor([103.939, 116.779, 123.68])


def validate_layers(layers: Sequence[str], config_key: str = "loss.perceptual.vgg.layers") -> tuple[str, ...]:
    """Deduplicated layers in network order; ValueError on unknown names or an empty list."""
    if isinstance(layers, str):
        layers = [layers]
    unknown = [name for name in layers if name not in LAYER_NAMES]
    if unknown:
        raise ValueError(
            f"{config_key}: unknown VGG layer(s) {unknown}; valid names: {', '.join(LAYER_NAMES)}"
        )
    if not layers:
        raise ValueError(f"{config_key}: at least one VGG layer is required")
    return tuple(sorted(set(layers), key=LAYER_NAMES.index))


def build_layout(flavour: str) -> tuple[list[nn.Module], dict[str, int], dict[str, int]]:
    """All modules up to relu5_4, plus ``{layer: relu index}`` and ``{layer: conv index}``."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown VGG flavour {flavour!r}; expected one of {FLAVOURS}")
    normalised = flavour == "normalised"
    modules: list[nn.Module] = [nn.Conv2d(3, 3, 1)] if normalised else []
    relu_idx: dict[str, int] = {}
    conv_idx: dict[str, int] = {}
    in_c = 3
    for b, (c, n) in enumerate(_BLOCKS, 1):
        if b > 1:
            modules.append(nn.MaxPool2d(2, 2, ceil_mode=normalised))
        for i in range(1, n + 1):
            if normalised:
                modules += [nn.ReflectionPad2d(1), nn.Conv2d(in_c, c, 3)]
            else:
                modules.append(nn.Conv2d(in_c, c, 3, padding=1))
            conv_idx[f"relu{b}_{i}"] = len(modules) - 1
            modules.append(nn.ReLU(inplace=True))
            relu_idx[f"relu{b}_{i}"] = len(modules) - 1
            in_c = c
    if normalised:
        with torch.no_grad():
            modules[0].weight.copy_(PREPROCESS_WEIGHT)
            modules[0].bias.copy_(PREPROCESS_BIAS)
    return modules, relu_idx, conv_idx
