"""Losses: frozen VGG features, per-sample perceptual (content/style) losses, adversarial losses."""

from adaptive_st.losses.adversarial import ADV_KINDS, AdversarialLoss
from adaptive_st.losses.feature_stats import channel_mean_std, gram_matrix
from adaptive_st.losses.perceptual import (
    STYLE_KINDS,
    PerceptualLoss,
    content_loss,
    gram_style_loss,
    meanstd_style_loss,
)
from adaptive_st.losses.vgg import DEFAULT_LAYERS, VGGFeatures, build_vgg
from adaptive_st.losses.vgg_layout import LAYER_CHANNELS, LAYER_NAMES

__all__ = [
    "ADV_KINDS",
    "DEFAULT_LAYERS",
    "LAYER_CHANNELS",
    "LAYER_NAMES",
    "STYLE_KINDS",
    "AdversarialLoss",
    "PerceptualLoss",
    "VGGFeatures",
    "build_vgg",
    "channel_mean_std",
    "content_loss",
    "gram_matrix",
    "gram_style_loss",
    "meanstd_style_loss",
]
