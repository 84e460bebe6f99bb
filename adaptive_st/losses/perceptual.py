"""Per-sample perceptual losses (content, Gram style, AdaIN mean/std style) on VGG features.

Every loss returns shape (B,) so that an adaptive policy can weight each image with its own λ before the
batch mean. Targets may have batch 1 (one style image for the whole batch); it broadcasts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from adaptive_st.losses.feature_stats import channel_mean_std, fp32_region, gram_matrix
from adaptive_st.losses.vgg import VGGFeatures
from adaptive_st.losses.vgg_layout import LAYER_NAMES, validate_layers

Features = Mapping[str, Tensor]
STYLE_KINDS = ("gram", "meanstd")


def _per_sample_mse(a: Tensor, b: Tensor) -> Tensor:
    with fp32_region(a):
        return (a.float() - b.float()).pow(2).flatten(1).mean(1)


def _mean_over_layers(terms: list[Tensor], weights: Sequence[float] | None = None) -> Tensor:
    if weights is None:
        return torch.stack(terms).mean(0)
    return sum(w * t for w, t in zip(weights, terms, strict=True))


def content_loss(
    feats_out: Features,
    feats_content: Features,
    layers: Sequence[str],
    weights: Sequence[float] | None = None,
) -> Tensor:
    """Per-sample feature MSE, averaged over ``layers`` (or summed with explicit per-layer ``weights``)."""
    return _mean_over_layers([_per_sample_mse(feats_out[k], feats_content[k]) for k in layers], weights)


def gram_style_loss(feats_out: Features, feats_style: Features, layers: Sequence[str]) -> Tensor:
    """Per-sample MSE between Gram matrices (normalised by C·H·W), averaged over ``layers``."""
    return _mean_over_layers(
        [_per_sample_mse(gram_matrix(feats_out[k]), gram_matrix(feats_style[k])) for k in layers]
    )


def meanstd_style_loss(feats_out: Features, feats_style: Features, layers: Sequence[str]) -> Tensor:
    """AdaIN style loss per sample: MSE of channel means + MSE of channel stds, averaged over ``layers``."""
    terms = []
    for k in layers:
        mo, so = channel_mean_std(feats_out[k])
        ms, ss = channel_mean_std(feats_style[k])
        terms.append(_per_sample_mse(mo, ms) + _per_sample_mse(so, ss))
    return _mean_over_layers(terms)


STYLE_LOSSES: dict[str, Callable[[Features, Features, Sequence[str]], Tensor]] = {
    "gram": gram_style_loss,
    "meanstd": meanstd_style_loss,
}


class PerceptualLoss(nn.Module):
    """Content + style losses of ``output`` against ``content`` and ``style`` images, per sample.

    Targets (content, style) are constants: their features are computed without grad, so gradients reach
    ``output`` only. ``content_weight_per_layer`` (list or ``{layer: w}``) replaces the plain mean over
    content layers by the weighted sum Σ w_l·MSE_l; the style term is always the mean over style layers.
    """

    def __init__(
        self,
        vgg: VGGFeatures,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_kind: str = "meanstd",
        content_weight_per_layer: Sequence[float] | Mapping[str, float] | None = None,
    ) -> None:
        super().__init__()
        if style_kind not in STYLE_KINDS:
            raise ValueError(f"loss.perceptual.style_kind must be one of {STYLE_KINDS}, got {style_kind!r}")
        self.content_layers = _subset(content_layers, vgg, "loss.perceptual.content_layers")
        self.style_layers = _subset(style_layers, vgg, "loss.perceptual.style_layers")
        self.layers = tuple(sorted({*self.content_layers, *self.style_layers}, key=LAYER_NAMES.index))
        self.style_kind = style_kind
        self.content_weights = _layer_weights(content_weight_per_layer, self.content_layers)
        self.vgg = vgg

    @torch.no_grad()
    def features(self, x: Tensor, layers: Sequence[str] | None = None) -> dict[str, Tensor]:
        """Target features (no grad) for all layers this loss uses; pass them back to skip recomputation."""
        return self.vgg(x, layers or self.layers)

    def forward(
        self,
        output: Tensor,
        content: Tensor | None,
        style: Tensor | None,
        content_feats: Features | None = None,
        style_feats: Features | None = None,
    ) -> dict[str, Tensor]:
        """``{"content": (B,), "style": (B,)}`` for ``output``; images are RGB in [0, 1]."""
        if content_feats is None and style_feats is None and _stackable(content, style):
            both = self.features(torch.cat([content, style]))  # one VGG pass for both targets
            n = content.shape[0]
            content_feats = {k: v[:n] for k, v in both.items()}
            style_feats = {k: v[n:] for k, v in both.items()}
        if content_feats is None:
            content_feats = self.features(_required(content, "content"), self.content_layers)
        if style_feats is None:
            style_feats = self.features(_required(style, "style"), self.style_layers)
        out = self.vgg(output, self.layers)
        return {
            "content": content_loss(out, content_feats, self.content_layers, self.content_weights),
            "style": STYLE_LOSSES[self.style_kind](out, style_feats, self.style_layers),
        }

    @torch.no_grad()
    def style_distance(self, output: Tensor, style: Tensor, kind: str | None = None) -> Tensor:
        """(B,) style distance of ``output`` to ``style`` (no grad), for metrics; ``kind`` defaults to
        this loss's style kind."""
        kind = kind or self.style_kind
        if kind not in STYLE_LOSSES:
            raise ValueError(f"style kind must be one of {STYLE_KINDS}, got {kind!r}")
        return STYLE_LOSSES[kind](
            self.vgg(output, self.style_layers), self.vgg(style, self.style_layers), self.style_layers
        )


def _subset(layers: Sequence[str], vgg: VGGFeatures, key: str) -> tuple[str, ...]:
    layers = validate_layers(layers, key)
    missing = [name for name in layers if name not in vgg.layers]
    if missing:
        raise ValueError(
            f"{key}: {missing} not computed by the VGG (loss.perceptual.vgg.layers = {list(vgg.layers)})"
        )
    return layers


def _layer_weights(
    weights: Sequence[float] | Mapping[str, float] | None, layers: tuple[str, ...]
) -> tuple[float, ...] | None:
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        if set(weights) != set(layers):
            raise ValueError(f"content_weight_per_layer keys {sorted(weights)} must equal {list(layers)}")
        return tuple(float(weights[k]) for k in layers)
    if len(weights) != len(layers):
        raise ValueError(f"content_weight_per_layer has {len(weights)} values for {len(layers)} layers")
    return tuple(float(w) for w in weights)


def _stackable(a: Tensor | None, b: Tensor | None) -> bool:
    return a is not None and b is not None and a.shape[1:] == b.shape[1:] and a.dtype == b.dtype


def _required(x: Tensor | None, what: str) -> Tensor:
    if x is None:
        raise ValueError(f"PerceptualLoss: pass either the {what} image or precomputed {what}_feats")
    return x
