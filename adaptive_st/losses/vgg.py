"""Frozen VGG-19 feature extractor for perceptual losses and style metrics.

Two weight sources: the AdaIN/WCT "normalised" VGG (what AdaIN-family style losses were tuned with;
reflection padding, ceil-mode pools, Caffe preprocessing) and torchvision's ImageNet VGG-19. Both take an
RGB image in [0, 1] and return a dict of ReLU activations, computing only up to the deepest one asked for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from adaptive_st.checkpoint.files import load_file
from adaptive_st.losses.vgg_layout import LAYER_CHANNELS, LAYER_NAMES, build_layout, validate_layers
from adaptive_st.pretrained import KNOWN_WEIGHTS, VGG_WEIGHTS_KEY, resolve_weights

DEFAULT_LAYERS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
"""Default layers: what the available truncated normalised file holds (add relu4_1 with the full file)."""

_LAYER_KEYS = (
    "`loss.perceptual.vgg.layers` / `loss.perceptual.content_layers` / `loss.perceptual.style_layers`"
)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)


class VGGFeatures(nn.Module):
    """Frozen VGG-19 trunk returning ``{layer: activation}``; stays in eval mode whatever the parent does."""

    def __init__(
        self, body: nn.Sequential, relu_index: Mapping[str, int], layers: Sequence[str], flavour: str
    ):
        super().__init__()
        self.layers: tuple[str, ...] = validate_layers(layers)
        self.flavour = flavour
        self.body = body
        self._relu_index = {name: relu_index[name] for name in self.layers}
        if flavour == "torchvision":
            self.register_buffer("mean", torch.tensor(_IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(_IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        super().train(False)

    @property
    def out_channels(self) -> dict[str, int]:
        return {name: LAYER_CHANNELS[name] for name in self.layers}

    def train(self, mode: bool = True) -> VGGFeatures:
        """Always eval: a frozen loss network must not change behaviour when the LightningModule trains."""
        return super().train(False)

    def forward(self, x: Tensor, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Activations of ``layers`` (default: all configured) for RGB ``x`` in [0, 1], shape (B,3,H,W)."""
        wanted = self.layers if layers is None else validate_layers(layers)
        extra = [name for name in wanted if name not in self._relu_index]
        if extra:
            raise ValueError(
                f"layers {extra} were not configured for this VGGFeatures (has {list(self.layers)})"
            )
        at = {self._relu_index[name]: name for name in wanted}
        stop = max(at)
        if self.flavour == "torchvision":
            x = (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)
        out: dict[str, Tensor] = {}
        for i, module in enumerate(self.body):
            x = module(x)
            if i in at:
                out[at[i]] = x
            if i == stop:
                break
        return out

    @classmethod
    def from_normalised(cls, path: str | Path, layers: Sequence[str] = DEFAULT_LAYERS) -> VGGFeatures:
        """Load an AdaIN/WCT ``vgg_normalised*.pth`` state dict (full to relu5_1 or truncated)."""
        layers = validate_layers(layers)
        state = load_file(path)
        if not isinstance(state, Mapping) or "0.weight" not in state:
            raise ValueError(
                f"{path} is not a normalised-VGG state dict (needs Sequential keys with the 1×1 "
                f"preprocessing conv `0.weight`); for torchvision weights set "
                "loss.perceptual.vgg.source=torchvision"
            )
        modules, relu_idx, conv_idx = build_layout("normalised")
        available: list[str] = []
        for name in LAYER_NAMES:
            if f"{conv_idx[name]}.weight" not in state:
                break
            available.append(name)
        missing = [name for name in layers if name not in available]
        if missing:
            raise ValueError(
                f"VGG weights file {path} holds layers {available or 'none'}, but {list(layers)} were "
                f"requested ({missing} not available). Choose layers from the available ones via "
                f"{_LAYER_KEYS}, "
                f"or set `{VGG_WEIGHTS_KEY}` to the full vgg_normalised.pth (up to relu5_1)."
            )
        return cls(_load_body(modules, relu_idx, layers, state, path), relu_idx, layers, "normalised")

    @classmethod
    def from_torchvision(
        cls,
        layers: Sequence[str] = DEFAULT_LAYERS,
        weights_path: str | Path | None = None,
        hub_dir: str | Path | None = None,
    ) -> VGGFeatures:
        """torchvision ImageNet VGG-19 features, from ``weights_path`` or the hub cache; never downloads.

        Only the ``features.*`` tensors of the file are used (classifier keys are ignored): the
        classifier network is never built, which saves ~0.5 GB over ``vgg19(weights=None)``.
        """
        layers = validate_layers(layers)
        path = KNOWN_WEIGHTS["vgg19"].resolve(weights_path, hub_dir)
        state = load_file(path)
        feats = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        modules, relu_idx, _ = build_layout("torchvision")
        return cls(_load_body(modules, relu_idx, layers, feats, path), relu_idx, layers, "torchvision")

    @classmethod
    def random(cls, layers: Sequence[str] = DEFAULT_LAYERS, flavour: str = "normalised") -> VGGFeatures:
        """Randomly initialised trunk — FOR UNIT TESTS ONLY (shapes, gradients); its features mean nothing.

        The normalised flavour keeps the fixed preprocessing conv.
        """
        layers = validate_layers(layers)
        modules, relu_idx, _ = build_layout(flavour)
        body = nn.Sequential(*modules[: max(relu_idx[name] for name in layers) + 1])
        return cls(body, relu_idx, layers, flavour)


def _load_body(
    modules: list[nn.Module],
    relu_idx: Mapping[str, int],
    layers: Sequence[str],
    state: Mapping[str, Tensor],
    path: str | Path,
) -> nn.Sequential:
    body = nn.Sequential(*modules[: max(relu_idx[name] for name in layers) + 1])
    needed = body.state_dict().keys()
    absent = [k for k in needed if k not in state]
    if absent:
        raise ValueError(f"VGG weights file {path} lacks {absent[:4]}{' …' if len(absent) > 4 else ''}")
    try:
        body.load_state_dict({k: state[k] for k in needed})
    except RuntimeError as err:  # shape mismatch: wrong file for this flavour
        raise ValueError(f"VGG weights file {path} does not match the VGG-19 layout: {err}") from err
    return body


def build_vgg(
    source: str = "normalised",
    weights_path: str | Path | None = None,
    layers: Sequence[str] = DEFAULT_LAYERS,
    hub_dir: str | Path | None = None,
) -> VGGFeatures:
    """Config-facing factory (``loss.perceptual.vgg.*``).

    Normalised: explicit path, else ``vgg_normalised.pth``, else ``vgg_normalised_conv3_1.pth`` in the
    hub cache. Torchvision: explicit path, else ``vgg19-dcbb9e9d.pth`` in the hub cache.
    """
    if source == "normalised":
        full, trunc = KNOWN_WEIGHTS["vgg_normalised"], KNOWN_WEIGHTS["vgg_normalised_conv3_1"]
        path = resolve_weights(
            "normalised VGG-19 (AdaIN vgg_normalised.pth, or the relu3_1-truncated file)",
            weights_path,
            full.hub_filenames + trunc.hub_filenames,
            VGG_WEIGHTS_KEY,
            hub_dir,
            hint=f"{full.how_to_get()}; or {trunc.how_to_get()}",
        )
        return VGGFeatures.from_normalised(path, layers)
    if source == "torchvision":
        return VGGFeatures.from_torchvision(layers, weights_path, hub_dir)
    raise ValueError(f"loss.perceptual.vgg.source must be 'normalised' or 'torchvision', got {source!r}")
