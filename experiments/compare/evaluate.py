"""Evaluate a trained StyleTransferModule on fixed held-out (content, style) pairs.

The pairs are the datamodule's *validation* content images (held out from training by a stable path
hash, identical for every seed) crossed with all style images, so every policy and seed is scored on
exactly the same pairs. Preprocessing is the dataset's eval path (shorter side resize, centre crop).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from adaptive_st.data.datasets import default_load_size, resize_shorter_side
from adaptive_st.data.images import ImageLoadError, load_rgb, pil_to_tensor
from adaptive_st.losses import PerceptualLoss
from adaptive_st.metrics import ContentFidelity, LPIPSMetric, StyleDistance
from adaptive_st.module.style_transfer import StyleTransferModule

log = logging.getLogger(__name__)

#: Metric columns ``evaluate`` returns (plus ``lambda_style_eval`` for λ-conditioned generators).
METRICS = ("ssim", "psnr", "ssim_y", "psnr_y", "lpips", "style_meanstd", "style_gram", "content_distance")


def held_out_pairs(num_content: int, num_style: int, max_pairs: int | None,
                   seed: int = 0) -> list[tuple[int, int]]:
    """All (content, style) index pairs, or a fixed random subset of ``max_pairs`` of them (sorted)."""
    total = num_content * num_style
    flat = np.arange(total)
    if max_pairs is not None and total > max_pairs:
        flat = np.sort(np.random.default_rng(seed).choice(total, size=max_pairs, replace=False))
    return [(int(i) // num_style, int(i) % num_style) for i in flat]


class PairImages:
    """Decoded, centre-cropped images (cached: each file is decoded once for all runs)."""

    def __init__(self, crop_size: int) -> None:
        self.crop_size = crop_size
        self.load_size = default_load_size(crop_size)
        self._cache: dict[Path, Tensor | None] = {}

    def get(self, path: Path) -> Tensor | None:
        if path not in self._cache:
            try:
                img = resize_shorter_side(load_rgb(path, draft_min_side=self.load_size), self.load_size)
                x = pil_to_tensor(img)
                _, h, w = x.shape
                s = self.crop_size
                top, left = (h - s) // 2, (w - s) // 2
                self._cache[path] = x[:, top : top + s, left : left + s].contiguous()
            except ImageLoadError as err:
                log.warning("evaluation skips an unreadable image: %s", err)
                self._cache[path] = None
        return self._cache[path]


def make_batches(images: PairImages, content_paths: Sequence[Path], style_paths: Sequence[Path],
                 pairs: Sequence[tuple[int, int]], batch_size: int) -> list[dict[str, Tensor]]:
    """Batches of {content, style, style_index} for the pairs whose two images are readable."""
    items = []
    for ci, si in pairs:
        c, s = images.get(Path(content_paths[ci])), images.get(Path(style_paths[si]))
        if c is not None and s is not None:
            items.append((c, s, si))
    if not items:
        raise RuntimeError("no readable held-out (content, style) pair to evaluate on")
    batches = []
    for i in range(0, len(items), batch_size):
        chunk = items[i : i + batch_size]
        batches.append({"content": torch.stack([c for c, _, _ in chunk]),
                        "style": torch.stack([s for _, s, _ in chunk]),
                        "style_index": torch.tensor([si for _, _, si in chunk])})
    return batches


class Scores:
    """The metric set of one evaluation: fidelity to the content, distance to the style, LPIPS if present."""

    def __init__(self, perceptual: PerceptualLoss, lpips: LPIPSMetric | None, device: torch.device) -> None:
        self.fidelity = ContentFidelity().to(device)
        self.style = StyleDistance(perceptual.vgg, style_layers=perceptual.style_layers,
                                   content_layers=perceptual.content_layers).to(device)
        self.lpips = lpips
        if lpips is not None:
            lpips.reset()

    def update(self, out: Tensor, content: Tensor, style: Tensor) -> None:
        self.fidelity.update(out, content)
        self.style.update(out, style, content)
        if self.lpips is not None:
            self.lpips.update(out, content)

    def compute(self) -> dict[str, float]:
        result = {k: float(v) for k, v in {**self.fidelity.compute(), **self.style.compute()}.items()}
        result["lpips"] = float(self.lpips.compute()) if self.lpips is not None else math.nan
        return result


@torch.no_grad()
def evaluate(module: StyleTransferModule, batches: Sequence[dict[str, Tensor]], lam: float | None = None,
             lpips: LPIPSMetric | None = None) -> dict[str, float]:
    """SSIM/PSNR and LPIPS (output vs content), VGG style distances (vs style), VGG content distance.

    ``lam`` overrides the inference λ of a λ-conditioned generator (conditional policy); others ignore
    it. ``lpips`` comes from ``build_lpips``, which gives None without the backbone weights: LPIPS is
    then NaN, never computed with a random backbone. Uses the module's own inference path (policy
    condition, style encoder input, EMA weights when enabled), as its validation step does.
    """
    module.eval()
    device = next(module.parameters()).device
    scores = Scores(module.perceptual, lpips, device)
    conds = []
    for cpu_batch in batches:
        batch = {k: v.to(device) for k, v in cpu_batch.items()}
        content, style = batch["content"], batch["style"]
        # Pair features (per-image policy) need VGG features of content and style; skip the pass otherwise.
        c_feats, s_feats = ({}, {})
        if module.policy.needs_pair_features:
            c_feats, s_feats = module._targets(content, style)
        policy_batch = module._policy_batch(content, c_feats, s_feats, training=False)
        cond = module.policy.inference_condition(policy_batch, lam)
        out = module.inference_stylizer(content, module._style_input(batch), cond=cond).float().clamp(0, 1)
        scores.update(out, content, style)
        if cond is not None:
            conds.append(cond.float().cpu())
    result = scores.compute()
    if conds:
        result["lambda_style_eval"] = float(torch.cat(conds).mean())
    return result


@torch.no_grad()
def identity_reference(perceptual: PerceptualLoss, batches: Sequence[dict[str, Tensor]],
                       lpips: LPIPSMetric | None = None) -> dict[str, float]:
    """The metrics of *no* stylization (output = content): the style distance every policy starts from,
    so a policy's stylization can be read as the fraction of that distance it closed."""
    scores = Scores(perceptual, lpips, torch.device("cpu"))
    for batch in batches:
        scores.update(batch["content"], batch["content"], batch["style"])
    return scores.compute()
