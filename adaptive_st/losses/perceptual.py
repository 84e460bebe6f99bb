"""Per-sample perceptual losses (content, Gram style, AdaIN mean/std style) on VGG features.

Every loss returns shape (B,) so that an adaptive policy can weight each image with its own λ before the
batch mean. Targets may have batch 1 (one style image for the whole batch); it broadcasts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from adaptive_st.losses.feature_stats import (
    STD_EPS,
    channel_mean_cov,
    channel_mean_std,
    fp32_region,
    gram_matrix,
)
from adaptive_st.losses.vgg import VGGFeatures
from adaptive_st.losses.vgg_layout import LAYER_NAMES, validate_layers

Features = Mapping[str, Tensor]
#: Per-layer (channel mean (B,C), covariance (B,C,C)) of a style image: every style loss's target.
StyleStats = Mapping[str, tuple[Tensor, Tensor]]
STYLE_KINDS = ("gram", "meanstd", "meanstd+gram")
CONTENT_TARGETS = ("content", "stylized", "teacher")


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


def style_stats(feats: Features, layers: Sequence[str]) -> dict[str, tuple[Tensor, Tensor]]:
    """The statistics a style image is matched on, per layer; cache them to skip the style's VGG pass."""
    return {k: channel_mean_cov(feats[k]) for k in layers}


def _as_stats(style: Features | StyleStats, layers: Sequence[str]) -> StyleStats:
    first = style[layers[0]]
    return style if isinstance(first, tuple) else style_stats(style, layers)  # type: ignore[arg-type]


def gram_style_loss(feats_out: Features, style: Features | StyleStats, layers: Sequence[str],
                    weights: Sequence[float] | None = None) -> Tensor:
    """Per-sample MSE between Gram matrices (normalised by C·H·W), averaged over ``layers`` (or summed with
    ``weights``, one per layer).

    ``style`` is the style's features or their :func:`style_stats`; Gram = (cov + mean·meanᵀ) / C.
    """
    stats = _as_stats(style, layers)
    terms = []
    for k in layers:
        mean, cov = stats[k]
        target = (cov + mean[:, :, None] * mean[:, None, :]) / mean.shape[1]
        terms.append(_per_sample_mse(gram_matrix(feats_out[k]), target))
    return _mean_over_layers(terms, weights)


def meanstd_style_loss(feats_out: Features, style: Features | StyleStats, layers: Sequence[str]) -> Tensor:
    """AdaIN style loss per sample: MSE of channel means + MSE of channel stds, averaged over ``layers``."""
    stats = _as_stats(style, layers)
    terms = []
    for k in layers:
        mo, so = channel_mean_std(feats_out[k])
        ms, cov = stats[k]
        ss = (cov.diagonal(dim1=-2, dim2=-1).clamp_min(0) + STD_EPS).sqrt()
        terms.append(_per_sample_mse(mo, ms) + _per_sample_mse(so, ss))
    return _mean_over_layers(terms)


STYLE_LOSSES: dict[str, Callable[[Features, Features | StyleStats, Sequence[str]], Tensor]] = {
    "gram": gram_style_loss,
    "meanstd": meanstd_style_loss,
}


def style_distances(feats_out: Features, style: Features | StyleStats, layers: Sequence[str]) -> dict[str, Tensor]:
    """(B,) ``style_meanstd`` and ``style_gram`` of output features to a style's features or statistics: the
    one definition of the style distance every metric reports (validation, ``evaluate``, the comparison)."""
    stats = _as_stats(style, layers)
    return {"style_meanstd": meanstd_style_loss(feats_out, stats, layers),
            "style_gram": gram_style_loss(feats_out, stats, layers)}


class PerceptualLoss(nn.Module):
    """Content + style losses of ``output`` against ``content`` and ``style`` images, per sample.

    Targets (content, style) are constants: their features are computed without grad, so gradients reach
    ``output`` only. ``content_weight_per_layer`` (list or ``{layer: w}``) replaces the plain mean over
    content layers by the weighted sum Σ w_l·MSE_l; the style term is always the mean over style layers.

    ``style_kind="meanstd+gram"`` adds ``gram_weight``·Gram to mean/std: mean/std alone rewards a tint,
    the Gram term asks for the channel correlations that make texture. ``content_target="stylized"``
    tells the training module to use the generator's stylised features as the content target (AdaIN's
    loss: structure without pulling the statistics back to the photo's); ``"teacher"``: the features of a
    trained stylizer's output for the same pair (distillation, ``module.teacher``). The module reads it.
    """

    def __init__(
        self,
        vgg: VGGFeatures,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        style_kind: str = "meanstd",
        content_weight_per_layer: Sequence[float] | Mapping[str, float] | None = None,
        gram_weight: float = 0.0,
        gram_weight_per_layer: Sequence[float] | Mapping[str, float] | None = None,
        content_target: str = "content",
    ) -> None:
        super().__init__()
        if style_kind not in STYLE_KINDS:
            raise ValueError(f"loss.perceptual.style_kind must be one of {STYLE_KINDS}, got {style_kind!r}")
        if content_target not in CONTENT_TARGETS:
            raise ValueError(f"loss.perceptual.content_target must be one of {CONTENT_TARGETS}, got {content_target!r}")
        if not gram_weight >= 0:
            raise ValueError(f"loss.perceptual.gram_weight={gram_weight} must be >= 0")
        self.gram_weight = float(gram_weight)
        self.content_target = content_target
        self.content_layers = _subset(content_layers, vgg, "loss.perceptual.content_layers")
        self.style_layers = _subset(style_layers, vgg, "loss.perceptual.style_layers")
        self.layers = tuple(sorted({*self.content_layers, *self.style_layers}, key=LAYER_NAMES.index))
        self.style_kind = style_kind
        self.content_weights = _layer_weights(content_weight_per_layer, self.content_layers, "content_weight_per_layer")
        self.gram_weights = _layer_weights(gram_weight_per_layer, self.style_layers, "gram_weight_per_layer")
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
        style_feats: Features | StyleStats | None = None,
    ) -> dict[str, Tensor]:
        """``{"content": (B,), "style": (B,)}`` for ``output``; images are RGB in [0, 1].

        ``style_feats`` may be the style's VGG features or their cached :func:`style_stats`.
        """
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
            "style": self.style_loss(out, style_feats),
        }

    def style_loss(self, out_feats: Features, style: Features | StyleStats) -> Tensor:
        """The configured style term of output features against the style's features or stats."""
        if self.style_kind != "meanstd+gram":
            return STYLE_LOSSES[self.style_kind](out_feats, style, self.style_layers)
        stats = _as_stats(style, self.style_layers)
        meanstd = meanstd_style_loss(out_feats, stats, self.style_layers)
        return meanstd + self.gram_weight * gram_style_loss(out_feats, stats, self.style_layers, self.gram_weights)


def _subset(layers: Sequence[str], vgg: VGGFeatures, key: str) -> tuple[str, ...]:
    layers = validate_layers(layers, key)
    missing = [name for name in layers if name not in vgg.layers]
    if missing:
        raise ValueError(
            f"{key}: {missing} not computed by the VGG (loss.perceptual.vgg.layers = {list(vgg.layers)})"
        )
    return layers


def _layer_weights(
    weights: Sequence[float] | Mapping[str, float] | None, layers: tuple[str, ...], key: str
) -> tuple[float, ...] | None:
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        if set(weights) != set(layers):
            raise ValueError(f"loss.perceptual.{key} keys {sorted(weights)} must equal {list(layers)}")
        return tuple(float(weights[k]) for k in layers)
    if len(weights) != len(layers):
        raise ValueError(f"loss.perceptual.{key} has {len(weights)} values for {len(layers)} layers")
    return tuple(float(w) for w in weights)


def _stackable(a: Tensor | None, b: Tensor | None) -> bool:
    return a is not None and b is not None and a.shape[1:] == b.shape[1:] and a.dtype == b.dtype


def _required(x: Tensor | None, what: str) -> Tensor:
    if x is None:
        raise ValueError(f"PerceptualLoss: pass either the {what} image or precomputed {what}_feats")
    return x
