"""Style (and content) distances measured with the frozen VGG, accumulated as a torchmetrics Metric.

Reports both style statistics whatever the training loss uses, so runs trained with Gram and with
mean/std losses can be compared on the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torchmetrics import Metric

from adaptive_st.losses.perceptual import content_loss, style_distances
from adaptive_st.losses.vgg import VGGFeatures
from adaptive_st.losses.vgg_layout import validate_layers

_KEYS = ("style_meanstd", "style_gram", "content_loss")


class StyleDistance(Metric):
    """``update(output, style, content=None)``; ``compute()`` -> mean ``style_meanstd``, ``style_gram`` and,
    when content images were given, ``content_loss`` (the names ``evaluate`` and the comparison report).

    Sums and counts are metric states (DDP-synced). The VGG is borrowed, not registered (it usually belongs
    to the training loss already), so it adds nothing to checkpoints; it is moved to the inputs' device.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False
    reference = "style"  # the training module passes style images as the second update argument

    def __init__(
        self,
        vgg: VGGFeatures,
        style_layers: Sequence[str] | None = None,
        content_layers: Sequence[str] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.__dict__["_vgg"] = vgg
        self.style_layers = validate_layers(style_layers or vgg.layers, "StyleDistance.style_layers")
        self.content_layers = validate_layers(
            content_layers or vgg.layers[-1:], "StyleDistance.content_layers"
        )
        unknown = sorted({*self.style_layers, *self.content_layers} - set(vgg.layers))
        if unknown:
            raise ValueError(
                f"StyleDistance: layers {unknown} are not computed by the VGG ({list(vgg.layers)})"
            )
        for key in _KEYS:
            self.add_state(f"{key}_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("content_count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @torch.no_grad()
    def update(self, output: Tensor, style: Tensor, content: Tensor | None = None) -> None:
        vgg: VGGFeatures = self.__dict__["_vgg"]
        if next(vgg.parameters()).device != output.device:
            vgg.to(output.device)
        feats_out = vgg(output)
        feats_style = vgg(style, self.style_layers)
        distances = style_distances(feats_out, feats_style, self.style_layers)
        self.style_meanstd_sum += distances["style_meanstd"].double().sum()
        self.style_gram_sum += distances["style_gram"].double().sum()
        self.count += output.shape[0]
        if content is not None:
            d = content_loss(feats_out, vgg(content, self.content_layers), self.content_layers)
            self.content_loss_sum += d.double().sum()
            self.content_count += output.shape[0]

    def compute(self) -> dict[str, Tensor]:
        out = {
            "style_meanstd": (self.style_meanstd_sum / self.count).float(),
            "style_gram": (self.style_gram_sum / self.count).float(),
        }
        if self.content_count > 0:
            out["content_loss"] = (self.content_loss_sum / self.content_count).float()
        return out
