"""Evaluate checkpoints × pairs: stylize each pair, score it (``scoring.PairScorer``), time the stylization,
and write ``metrics.csv``, ``metrics.json``, ``report.md`` and ``report.html`` (``report``).

Images are decoded and resized once (a style is shared by many pairs), style codes are computed once
per style, and only the stylize calls are timed (images/s then means the same as in ``stylize``).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm import tqdm

from adaptive_st.data.images import ImageLoadError
from adaptive_st.evaluation.report import (
    CSV_COLUMNS,
    grid_png,
    render_html,
    render_markdown,
    summarize,
    tradeoff_png,
    write_csv,
    write_json,
)
from adaptive_st.evaluation.scoring import Availability, Pair, PairScorer, load_fid, load_lpips
from adaptive_st.inference import Style, StyleTransfer, StylizeOptions, load_stylizer, output_name, read_image
from adaptive_st.inference.images import quantize, resize_longer_side, write_png
from adaptive_st.inference.model import Runtime
from adaptive_st.metrics import FIDMetric, LPIPSMetric

log = logging.getLogger(__name__)
OUTPUT_FILES = ("metrics.csv", "metrics.json", "report.md", "report.html")



@dataclass(frozen=True)
class EvalSettings:
    size: int | None = 512
    alpha: float = 1.0
    lam: float | None = None
    vgg_path: str | Path | None = None
    grid_pairs: int = 4
    images_dir: Path | None = None
    use_ema: bool = True  # the EMA of G and S when a checkpoint has one (what its validation measured)


@dataclass
class CheckpointResult:
    """Per-pair rows and what the reports need about one checkpoint."""

    label: str
    path: Path
    policy: str
    conditioned: bool
    vgg: str
    rows: list[dict[str, object]] = field(default_factory=list)
    examples: list[tuple[Tensor, Tensor, Tensor]] = field(default_factory=list)
    seconds: float = 0.0
    megapixels: float = 0.0
    fid: float | None = None
    notes: list[str] = field(default_factory=list)
    weights: str = "live"  # "ema" or "live" (LoadedModel.weights)

    @property
    def images_per_s(self) -> float:
        return len(self.rows) / self.seconds if self.seconds > 0 else math.nan

    @property
    def mpx_per_s(self) -> float:
        return self.megapixels / self.seconds if self.seconds > 0 else math.nan


#: Shortest side an image is scored at: SSIM's 11-px window, the LPIPS backbones (AlexNet: stride 4 and
#: two pools; VGG-16: four pools) and the loss VGG down to relu5_1 (four pools, then reflect pads) all run
#: from 32 px (checked on each). The stylizer takes any size (it pads); the metrics cannot, so thinner
#: images are skipped with this reason.
MIN_SCORED_SIDE = 32


class ImageCache:
    """Decoded, resized images by path (``None`` for unreadable or too small files, with the reason kept)."""

    def __init__(self, size: int | None) -> None:
        self.size = size
        self._images: dict[Path, Tensor | None] = {}
        self.errors: dict[Path, str] = {}

    def get(self, path: Path) -> Tensor | None:
        if path not in self._images:
            try:
                image = resize_longer_side(read_image(path), self.size)
                h, w = image.shape[-2:]
                if min(h, w) < MIN_SCORED_SIDE:
                    at = f"at --size {self.size}" if self.size else "at its native size"
                    raise ImageLoadError(
                        f"{path}: {w}x{h} px {at} is too small to score (the metrics need at least "
                        f"{MIN_SCORED_SIDE} px on each side); raise --size, or use a less thin image")
                self._images[path] = image
            except ImageLoadError as err:
                self._images[path], self.errors[path] = None, str(err)
                log.warning("skipping pairs with %s", err)
        return self._images[path]


def evaluate_checkpoint(label: str, ckpt: Path, pairs: Sequence[Pair], runtime: Runtime, settings: EvalSettings,
                        images: ImageCache, lpips: LPIPSMetric | None, fid: FIDMetric | None) -> CheckpointResult:
    model = load_stylizer(ckpt, runtime.device, use_ema=settings.use_ema)
    engine = StyleTransfer(model, runtime, settings.vgg_path)
    vgg = model.build_vgg(settings.vgg_path)
    scorer = PairScorer(vgg, model.content_layers, model.style_layers, lpips)
    vgg_cfg = model.config["loss"]["perceptual"]["vgg"]
    result = CheckpointResult(label, ckpt, model.policy_name, model.conditioned,
                              f"{vgg_cfg.get('source')}:{Path(str(vgg_cfg.get('weights_path'))).name}"
                              f" {list(vgg.layers)}", weights=model.weights)
    if model.weights == "ema":
        result.notes.append("evaluated with the EMA of G and S saved by training (--no-ema: the last weights)")
    lam = settings.lam if model.conditioned else None
    if settings.lam is not None and not model.conditioned:
        result.notes.append(f"λ={settings.lam:g} not applied: policy={model.policy_name} is not λ-conditioned")
    options = StylizeOptions(alpha=settings.alpha, lam=lam)
    styles: dict[Path, Style] = {}
    if fid is not None:
        fid.reset()
    # A bar per checkpoint on a terminal (tqdm stays silent when stderr is not one): evaluate used to
    # print nothing for minutes.
    for pair in tqdm(pairs, desc=f"evaluate {label}", unit="pair", file=sys.stderr, disable=None, leave=False):
        content, style_image = images.get(pair.content), images.get(pair.style)
        if content is None or style_image is None:
            continue
        if pair.style not in styles:
            styles[pair.style] = engine.style_from_images([style_image], pair.style.stem)
            if fid is not None:
                fid.update(fake=None, real=style_image.unsqueeze(0))
        started = time.perf_counter()
        output, used_lam = engine.stylize_with_condition(content, styles[pair.style], options)
        elapsed = time.perf_counter() - started
        result.seconds += elapsed
        result.megapixels += output.shape[-1] * output.shape[-2] / 1e6
        output = quantize(output)  # score what the saved PNG holds
        row: dict[str, object] = {"checkpoint": label, "content": pair.content.name, "style": pair.style.name,
                                  "alpha": settings.alpha, "lam": used_lam, "seconds": elapsed}
        row.update(scorer(output, content, style_image, pair.content, pair.style))
        result.rows.append(row)
        if fid is not None:
            fid.update(fake=output.unsqueeze(0))
        if len(result.examples) < settings.grid_pairs:
            result.examples.append((content, style_image, output))
        if settings.images_dir is not None:
            name = output_name(pair.content.stem, pair.style.stem, settings.alpha, lam)
            write_png(output, settings.images_dir / _safe(label) / name)
    if fid is not None:
        try:
            result.fid = float(fid.compute())
        except RuntimeError as err:  # fewer than 2 images on a side
            result.notes.append(f"FID not computed: {err}")
    return result


def _safe(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in label)


def lpips_note(availability: Availability) -> str:
    return "LPIPS: available" if availability.available else availability.reason


def evaluation_device_note(runtime: Runtime) -> str:
    return f"{runtime.device.type}, {runtime.precision}, channels_last={runtime.channels_last}, " \
           f"threads={torch.get_num_threads()}"


# -------------------------------------------------------------------------------------- whole evaluation


@dataclass(frozen=True)
class MetricSources:
    """Where the optional pretrained metrics come from (all offline)."""

    lpips_net: str = "alex"
    lpips_backbone: str | Path | None = None
    hub_dir: str | Path | None = None
    fid_weights: str | Path | None = None


@dataclass
class Evaluation:
    summaries: list[dict[str, Any]]
    rows: list[dict[str, object]]
    files: dict[str, Path] = field(default_factory=dict)
    #: images whose pairs were left out (unreadable, too small to score) → why
    skipped: dict[Path, str] = field(default_factory=dict)


def unique_labels(checkpoints: Sequence[Path], labels: Sequence[str] | None = None) -> list[str]:
    """``<run dir>/<ckpt stem>`` by default (``run/last``), numbered when two are the same."""
    if labels is not None:
        if len(labels) != len(checkpoints) or len(set(labels)) != len(labels):
            raise ValueError(f"--labels: give {len(checkpoints)} distinct label(s), one per checkpoint")
        return list(labels)
    out: list[str] = []
    for ckpt in checkpoints:
        parent = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
        base = f"{parent.name}/{ckpt.stem}" if parent.name else ckpt.stem
        label, n = base, 2
        while label in out:
            label, n = f"{base}#{n}", n + 1
        out.append(label)
    return out


def run_evaluation(checkpoints: Sequence[Path], pairs: Sequence[Pair], runtime: Runtime, settings: EvalSettings,
                   out_dir: Path, sources: MetricSources = MetricSources(), labels: Sequence[str] | None = None,
                   description: dict[str, Any] | None = None) -> Evaluation:
    out_dir.mkdir(parents=True, exist_ok=True)
    lpips, lpips_status = load_lpips(sources.lpips_net, sources.lpips_backbone, sources.hub_dir)
    fid, fid_status = load_fid(sources.fid_weights)
    images = ImageCache(settings.size)
    summaries, rows, results = [], [], []
    for label, ckpt in zip(unique_labels(checkpoints, labels), checkpoints):
        result = evaluate_checkpoint(label, Path(ckpt), pairs, runtime, settings, images, lpips, fid)
        results.append(result)
        rows += result.rows
        summaries.append(summarize(result, lpips_status, fid_status))
    info = {**(description or {}), "pairs": len(pairs), "size (longer side)": settings.size or "native",
            "alpha": settings.alpha, "device": evaluation_device_note(runtime)}
    if settings.lam is not None:
        info["lam"] = settings.lam
    if images.errors:
        info["images skipped (unreadable or too small; their pairs are left out)"] = "; ".join(images.errors.values())
    files = {
        "metrics.csv": write_csv(out_dir / "metrics.csv", rows, CSV_COLUMNS),
        "metrics.json": write_json({"settings": info, "checkpoints": summaries}, out_dir / "metrics.json"),
    }
    (out_dir / "report.md").write_text(render_markdown(summaries, info))
    plot = tradeoff_png({r.label: r.rows for r in results}) if any(r.rows for r in results) else None
    grids = {r.label: grid_png(r.examples) for r in results if r.examples}
    (out_dir / "report.html").write_text(render_html(summaries, info, plot, grids))
    files["report.md"], files["report.html"] = out_dir / "report.md", out_dir / "report.html"
    return Evaluation(summaries, rows, files, dict(images.errors))
