"""The one scorer: what is measured of a stylized output, under one set of names, with one style distance.

Per sample: fidelity to the content (SSIM/PSNR on RGB and luminance, LPIPS) and, with a loss VGG and its
layers, the VGG ``content_loss`` and the style distances ``style_gram`` / ``style_meanstd`` to the style
image (``losses.perceptual.style_distances``, which validation computes on the loss's features too).
:class:`PairScorer` serves ``adaptive-st evaluate`` (one pair at a time, target features cached per file)
and the policy comparison (batches of held-out pairs). Also here: which pairs an evaluation scores
(:func:`make_pairs`), whether LPIPS/FID can be computed (real weights only), and :func:`mean_std`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from adaptive_st.losses.perceptual import content_loss, style_distances
from adaptive_st.losses.vgg import VGGFeatures
from adaptive_st.metrics import ContentFidelity, FIDMetric, LPIPSMetric, build_fid, build_lpips
from adaptive_st.pretrained import KNOWN_WEIGHTS, LPIPS_BACKBONES, MissingWeightsError

#: Column order of every per-pair record (``lpips`` is NaN when LPIPS is unavailable).
METRICS: tuple[str, ...] = (
    "ssim", "psnr", "ssim_y", "psnr_y", "lpips", "content_loss", "style_gram", "style_meanstd",
)
HIGHER_IS_BETTER = {"ssim": True, "psnr": True, "ssim_y": True, "psnr_y": True, "lpips": False,
                    "content_loss": False, "style_gram": False, "style_meanstd": False}


class PairScorer:
    """Scores (output, content, style) images in [0,1] with a loss VGG and its layers (and LPIPS if given)."""

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
    def score_batch(self, output: Tensor, content: Tensor, style: Tensor, content_key: object | None = None,
                    style_key: object | None = None) -> dict[str, Tensor]:
        """Per-sample scores (B,) of (B,3,H,W) batches, one entry per name in :data:`METRICS`; the keys
        (e.g. file paths, for batches of one) let target features be reused."""
        out, cont, sty = (t.float().to(self._device) for t in (output, content, style))
        rows = []
        for i in range(out.shape[0]):
            self.fidelity.reset()
            self.fidelity.update(out[i : i + 1].cpu(), cont[i : i + 1].cpu())
            rows.append({k: float(v) for k, v in self.fidelity.compute().items()})
        scores = {k: torch.tensor([r[k] for r in rows], dtype=torch.float64) for k in rows[0]}
        scores["lpips"] = (self.lpips.per_sample(out, cont).double().cpu() if self.lpips is not None
                           else torch.full((out.shape[0],), math.nan, dtype=torch.float64))
        f_out = self.vgg(out, tuple(dict.fromkeys((*self.content_layers, *self.style_layers))))
        f_content = self._target(cont, self.content_layers, content_key, "content")
        f_style = self._target(sty, self.style_layers, style_key, "style")
        scores["content_loss"] = content_loss(f_out, f_content, self.content_layers)
        scores.update(style_distances(f_out, f_style, self.style_layers))
        return {k: scores[k].double().cpu() for k in METRICS}

    def __call__(self, output: Tensor, content: Tensor, style: Tensor, content_key: object | None = None,
                 style_key: object | None = None) -> dict[str, float]:
        """Scores of one pair of (3,H,W) images."""
        scores = self.score_batch(output.unsqueeze(0), content.unsqueeze(0), style.unsqueeze(0), content_key,
                                  style_key)
        return {k: float(v[0]) for k, v in scores.items()}


def mean_std(values: Iterable[Any]) -> tuple[float, float, int]:
    """(mean, sample std with ddof=1, n) of the finite numbers; std is NaN for n < 2, both NaN for n = 0."""
    x = []
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            x.append(f)
    if not x:
        return math.nan, math.nan, 0
    return float(np.mean(x)), float(np.std(x, ddof=1)) if len(x) > 1 else math.nan, len(x)


def mean_scores(batches: Iterable[Mapping[str, Tensor]]) -> dict[str, float]:
    """The mean over all samples of :meth:`PairScorer.score_batch` results (NaN where a metric is unavailable)."""
    merged: dict[str, list[Tensor]] = {}
    for scores in batches:
        for k, v in scores.items():
            merged.setdefault(k, []).append(v)
    return {k: float(torch.cat(v).mean()) for k, v in merged.items()}


# ------------------------------------------------------------------------------------------------ pairs
@dataclass(frozen=True)
class Pair:
    content: Path
    style: Path


def make_pairs(contents: Sequence[Path], styles: Sequence[Path], num_pairs: int | None = None,
               seed: int = 0) -> list[Pair]:
    """All content × style pairs (content-major), or ``num_pairs`` of them sampled without replacement.

    The draw depends only on the sorted file lists and the seed, so two runs (or two machines) evaluate
    the same pairs, in the same order.
    """
    if not contents or not styles:
        raise ValueError("an evaluation needs at least one content and one style image")
    total = len(contents) * len(styles)
    if num_pairs is None or num_pairs >= total:
        chosen = range(total)
    else:
        if num_pairs < 1:
            raise ValueError(f"num_pairs={num_pairs}: must be >= 1 (or 'all')")
        chosen = sorted(np.random.default_rng(seed).choice(total, size=num_pairs, replace=False).tolist())
    return [Pair(contents[i // len(styles)], styles[i % len(styles)]) for i in chosen]


# ----------------------------------------------------------------------------------------- availability
@dataclass(frozen=True)
class Availability:
    """Whether LPIPS / FID could be computed, and the reason the report prints when not."""

    available: bool
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"available": self.available, "reason": self.reason}


def _missing(name: str, explicit: str | Path | None, hub_dir: str | Path | None) -> str | None:
    spec = KNOWN_WEIGHTS[name]
    try:
        spec.resolve(explicit, hub_dir)
    except MissingWeightsError as err:
        looked = ", ".join(str(p) for p in err.searched)
        where = f"looked in: {looked}" if looked else "its package is not installed and no path was given"
        return (f"pretrained {name} weights not found ({where}); "
                f"never computed with random weights — {spec.how_to_get()}")
    return None


def load_lpips(net: str = "alex", backbone_path: str | Path | None = None,
               hub_dir: str | Path | None = None) -> tuple[LPIPSMetric | None, Availability]:
    """LPIPS only with its real pretrained weights; otherwise None and the reason (which file, where)."""
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"LPIPS net {net!r}: expected one of {sorted(LPIPS_BACKBONES)}")
    reason = _missing(LPIPS_BACKBONES[net], backbone_path, hub_dir)
    if reason:
        return None, Availability(False, f"LPIPS ({net}): {reason}")
    return build_lpips(net, backbone_path, hub_dir), Availability(True)


def load_fid(weights_path: str | Path | None = None) -> tuple[FIDMetric | None, Availability]:
    reason = _missing("fid_inception", weights_path, None)
    if reason:
        return None, Availability(False, f"FID/ArtFID skipped: {reason}")
    return build_fid(weights_path), Availability(True)
