"""Prepare a study: stylize the same seeded (content, style) pairs with every checkpoint and score each output.

Stylizing and scoring are ``evaluation.runner.evaluate_checkpoint``: the same resizing, λ handling and
per-pair metrics as ``adaptive-st evaluate``, outputs written under ``outputs/m<i>/``. The resized inputs
are saved under ``inputs/`` so the folder alone runs, shares and reports the study (no checkpoint or
source image is read again). The manifest is written last: an interrupted preparation leaves no study.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from adaptive_st.evaluation import EvalSettings, MetricSources, Pair
from adaptive_st.evaluation.runner import ImageCache, evaluate_checkpoint, evaluation_device_note
from adaptive_st.evaluation.scoring import METRICS, load_lpips
from adaptive_st.inference import Runtime, output_name, safe_file_name, write_png
from adaptive_st.judge.study import Model, Study, StudyError, StudyPair, comparisons_for

log = logging.getLogger(__name__)
#: Metrics whose comparison between two models needs both scored with the same loss VGG.
VGG_METRICS = ("content_loss", "style_gram", "style_meanstd")


def _finite(value: object) -> float | None:
    number = float(value)  # type: ignore[arg-type]
    return number if math.isfinite(number) else None


def _save_inputs(root: Path, paths: Sequence[Path], kind: str, images: ImageCache) -> dict[Path, str]:
    """The resized images a study shows, as PNGs inside the folder (index-prefixed: stems may repeat)."""
    saved = {}
    for k, path in enumerate(dict.fromkeys(paths)):
        relative = f"inputs/{kind}/{k:03d}_{safe_file_name(path.stem)[:60]}.png"
        write_png(images.get(path), root / relative)  # type: ignore[arg-type]  (readable: checked by caller)
        saved[path] = relative
    return saved


def prepare_study(root: Path, checkpoints: Sequence[Path], labels: Sequence[str], pairs: Sequence[Pair],
                  runtime: Runtime, settings: EvalSettings, seed: int, sources: MetricSources | None = None,
                  description: dict[str, Any] | None = None,
                  progress: Callable[[str], None] = log.info) -> Study:
    """Stylize ``pairs`` with every checkpoint into ``root`` and write its manifest."""
    if Study.exists(root):
        raise StudyError(f"{root} already holds a study; run 'adaptive-st judge --out {root}' to resume it")
    if len(checkpoints) < 2:
        raise StudyError("a preference study needs at least two checkpoints")
    images = ImageCache(settings.size)
    readable = [p for p in pairs if images.get(p.content) is not None and images.get(p.style) is not None]
    if not readable:
        raise StudyError("no (content, style) pair could be read: " + "; ".join(images.errors.values()))
    stems = [(p.content.stem, p.style.stem) for p in readable]
    if len(set(stems)) < len(stems):
        raise StudyError("two content (or style) files share a file stem (e.g. a.jpg and a.png); their outputs "
                         "would overwrite each other — rename one")
    root.mkdir(parents=True, exist_ok=True)
    contents = _save_inputs(root, [p.content for p in readable], "content", images)
    styles = _save_inputs(root, [p.style for p in readable], "style", images)
    sources = sources or MetricSources()
    lpips, lpips_status = load_lpips(sources.lpips_net, sources.lpips_backbone, sources.hub_dir)
    settings = replace(settings, images_dir=root / "outputs", grid_pairs=0)
    outputs: list[dict[str, str]] = [{} for _ in readable]
    metrics: list[dict[str, dict[str, float | None]]] = [{} for _ in readable]
    models = []
    for i, (label, ckpt) in enumerate(zip(labels, checkpoints)):
        model_id = f"m{i}"
        progress(f"stylizing {len(readable)} pair(s) with {label} ({i + 1}/{len(checkpoints)})")
        result = evaluate_checkpoint(model_id, Path(ckpt), readable, runtime, settings, images, lpips, None)
        lam = settings.lam if result.conditioned else None
        for k, (pair, row) in enumerate(zip(readable, result.rows, strict=True)):
            outputs[k][model_id] = f"outputs/{model_id}/{output_name(pair.content.stem, pair.style.stem, settings.alpha, lam)}"
            metrics[k][model_id] = {m: _finite(row[m]) for m in METRICS}
        models.append(Model(model_id, label, str(Path(ckpt).resolve()), result.policy, result.weights, result.vgg,
                            tuple(result.notes)))
    study_pairs = [StudyPair(f"p{k:03d}", str(p.content), str(p.style), contents[p.content], styles[p.style],
                             outputs[k], metrics[k]) for k, p in enumerate(readable)]
    unavailable = {} if lpips_status.available else {"lpips": lpips_status.reason}
    if len({m.vgg for m in models}) > 1:
        reason = "checkpoints use different loss VGGs, so their content/style losses are not comparable"
        unavailable.update(dict.fromkeys(VGG_METRICS, reason))
    notes = [f"unreadable image, its pairs left out: {err}" for err in images.errors.values()]
    study_settings = {**(description or {}), "seed": seed, "pairs": len(study_pairs),
                      "size (longer side)": settings.size or "native", "alpha": settings.alpha,
                      **({} if settings.lam is None else {"lam": settings.lam}),
                      "device": evaluation_device_note(runtime),
                      "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                      "metrics_unavailable": unavailable}
    study = Study(root, models, study_pairs, comparisons_for([p.id for p in study_pairs], [m.id for m in models], seed),
                  study_settings, notes)
    study.save()
    return study
