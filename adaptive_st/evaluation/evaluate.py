"""Evaluate checkpoints × pairs and write ``metrics.csv``, ``metrics.json``, ``report.md``, ``report.html``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adaptive_st.evaluation.availability import load_fid, load_lpips
from adaptive_st.evaluation.figures import grid_png, tradeoff_png
from adaptive_st.evaluation.pairs import Pair
from adaptive_st.evaluation.report_html import render_html
from adaptive_st.evaluation.report_markdown import render_markdown
from adaptive_st.evaluation.runner import (
    EvalSettings,
    ImageCache,
    evaluate_checkpoint,
    evaluation_device_note,
)
from adaptive_st.evaluation.summary import summarize
from adaptive_st.evaluation.tables import write_csv, write_json
from adaptive_st.inference.runtime import Runtime

log = logging.getLogger(__name__)
OUTPUT_FILES = ("metrics.csv", "metrics.json", "report.md", "report.html")


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
        "metrics.csv": write_csv(rows, out_dir / "metrics.csv"),
        "metrics.json": write_json({"settings": info, "checkpoints": summaries}, out_dir / "metrics.json"),
    }
    (out_dir / "report.md").write_text(render_markdown(summaries, info))
    plot = tradeoff_png({r.label: r.rows for r in results}) if any(r.rows for r in results) else None
    grids = {r.label: grid_png(r.examples) for r in results if r.examples}
    (out_dir / "report.html").write_text(render_html(summaries, info, plot, grids))
    files["report.md"], files["report.html"] = out_dir / "report.md", out_dir / "report.html"
    return Evaluation(summaries, rows, files, dict(images.errors))
