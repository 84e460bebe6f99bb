"""Evaluate a trained StyleTransferModule on fixed held-out (content, style) pairs.

The pairs are the datamodule's *validation* content images (held out from training by a stable path
hash, identical for every seed) crossed with all style images, so every policy and seed is scored on
exactly the same pairs. Preprocessing is the dataset's eval path (shorter side resize, centre crop).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import Tensor

from adaptive_st.checkpoint import load_file
from adaptive_st.data.datasets import default_load_size, eval_crop
from adaptive_st.data.images import ImageLoadError, load_rgb
from adaptive_st.evaluation import METRICS as PAIR_METRICS
from adaptive_st.evaluation import PairScorer, mean_scores
from adaptive_st.losses import PerceptualLoss
from adaptive_st.metrics import LPIPSMetric
from adaptive_st.training.module import StyleTransferModule

log = logging.getLogger(__name__)

#: Metric columns ``evaluate`` returns (plus ``lambda_style_eval`` for λ-conditioned generators).
METRICS = PAIR_METRICS


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
                img = load_rgb(path, draft_min_side=self.load_size)
                self._cache[path] = eval_crop(img, self.load_size, self.crop_size)
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


def load_run_module(cfg: DictConfig, ckpt: Path) -> StyleTransferModule:
    """The run's module (built from its composed config) with the checkpoint's weights, EMA included."""
    module = instantiate(cfg.module, _partial_=True)(run_config=None)
    module.load_state_dict(load_file(ckpt)["state_dict"])
    return module


def _scorer(perceptual: PerceptualLoss, lpips: LPIPSMetric | None) -> PairScorer:
    """The evaluation scorer on the run's own loss VGG and layers."""
    return PairScorer(perceptual.vgg, perceptual.content_layers, perceptual.style_layers, lpips)


@torch.no_grad()
def evaluate(module: StyleTransferModule, batches: Sequence[dict[str, Tensor]], lam: float | None = None,
             lpips: LPIPSMetric | None = None) -> dict[str, float]:
    """SSIM/PSNR and LPIPS (output vs content), VGG style distances (vs style), VGG content loss.

    ``lam`` overrides the inference λ of a λ-conditioned generator (conditional policy); others ignore
    it. ``lpips`` comes from ``build_lpips``, which gives None without the backbone weights: LPIPS is
    then NaN, never computed with a random backbone. Uses the module's own inference path (policy
    condition, style encoder input, EMA weights when enabled: ``stylize_batch``), as its validation step
    does, and the scorer ``adaptive-st evaluate`` uses.
    """
    module.eval()
    device = next(module.parameters()).device
    scorer = _scorer(module.perceptual, lpips)
    scores, conds = [], []
    for cpu_batch in batches:
        batch = {k: v.to(device) for k, v in cpu_batch.items()}
        out, cond = module.stylize_batch(batch, lam=lam)
        scores.append(scorer.score_batch(out, batch["content"], batch["style"]))
        if cond is not None:
            conds.append(cond.float().cpu())
    result = mean_scores(scores)
    if conds:
        result["lambda_style_eval"] = float(torch.cat(conds).mean())
    return result


@torch.no_grad()
def identity_reference(perceptual: PerceptualLoss, batches: Sequence[dict[str, Tensor]],
                       lpips: LPIPSMetric | None = None) -> dict[str, float]:
    """The metrics of *no* stylization (output = content): the style distance every policy starts from,
    so a policy's stylization can be read as the fraction of that distance it closed."""
    scorer = _scorer(perceptual, lpips)
    return mean_scores(scorer.score_batch(b["content"], b["content"], b["style"]) for b in batches)
