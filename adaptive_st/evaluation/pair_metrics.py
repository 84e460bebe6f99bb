"""Per-pair numbers: fidelity to the content (SSIM/PSNR on RGB and luminance, LPIPS) and VGG content /
style losses against the style image with the checkpoint's own loss VGG and layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from adaptive_st.losses.perceptual import content_loss, gram_style_loss, meanstd_style_loss
from adaptive_st.losses.vgg import VGGFeatures
from adaptive_st.metrics import ContentFidelity, LPIPSMetric

#: Column order of every per-pair record (``lpips`` is empty when LPIPS is unavailable).
METRICS: tuple[str, ...] = (
    "ssim", "psnr", "ssim_y", "psnr_y", "lpips", "content_loss", "style_gram", "style_meanstd",
)
HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "ssim_y": True, "psnr_y": True, "lpips": False,
                    "content_loss": False, "style_gram": False, "style_meanstd": False}


class PairScorer:
    """Scores one (output, content, style) triple; all images (3,H,W) in [0,1] on CPU."""

    def __init__(self, vgg: VGGFeatures, content_layers: Sequence[str], style_layers: Sequence[str],
                 lpips: LPIPSMetric | None = None) -> None:
        self.vgg = vgg.eval()
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.lpips = lpips
        self.fidelity = ContentFidelity()
        self._device = next(vgg.parameters()).device
        self._targets: dict[tuple[str, object], dict[str, Tensor]] = {}

    def _target(self, image: Tensor, layers: tuple[str, ...], key: object | None, kind: str) -> dict[str, Tensor]:
        """VGG features of a content/style image, cached by ``key`` (a style is shared by many pairs)."""
        if key is not None and (kind, key) in self._targets:
            return self._targets[(kind, key)]
        feats = self.vgg(image, layers)
        if key is not None:
            self._targets[(kind, key)] = feats
        return feats

    @torch.inference_mode()
    def __call__(self, output: Tensor, content: Tensor, style: Tensor, content_key: object | None = None,
                 style_key: object | None = None) -> dict[str, float]:
        """Scores of one pair; ``content_key`` / ``style_key`` (e.g. file paths) let target features be reused."""
        out, cont, sty = (t.unsqueeze(0).float().to(self._device) for t in (output, content, style))
        self.fidelity.reset()
        self.fidelity.update(out.cpu(), cont.cpu())
        scores = {k: float(v) for k, v in self.fidelity.compute().items()}
        scores["lpips"] = float(self.lpips.per_sample(out, cont)[0]) if self.lpips is not None else float("nan")
        layers = tuple(dict.fromkeys((*self.content_layers, *self.style_layers)))
        f_out = self.vgg(out, layers)
        f_content = self._target(cont, self.content_layers, content_key, "content")
        f_style = self._target(sty, self.style_layers, style_key, "style")
        scores["content_loss"] = float(content_loss(f_out, f_content, self.content_layers)[0])
        scores["style_gram"] = float(gram_style_loss(f_out, f_style, self.style_layers)[0])
        scores["style_meanstd"] = float(meanstd_style_loss(f_out, f_style, self.style_layers)[0])
        return {k: scores[k] for k in METRICS}
