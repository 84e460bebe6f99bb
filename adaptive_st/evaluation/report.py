"""Reports of an evaluation: ``metrics.csv`` (one row per checkpoint × pair), ``metrics.json`` (mean ± std
per checkpoint), ``report.md`` (the table, timing and every note a reader needs), ``report.html`` (one
self-contained file: inline CSS, base64 PNG grids and a trade-off plot), and an optional W&B upload.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from torch import Tensor

from adaptive_st.evaluation.scoring import HIGHER_IS_BETTER, METRICS, Availability, mean_std

if TYPE_CHECKING:
    from adaptive_st.evaluation.runner import CheckpointResult

CSV_COLUMNS: tuple[str, ...] = ("checkpoint", "content", "style", "alpha", "lam", *METRICS, "seconds")
#: Columns whose values depend on machine load, left out of reproducibility comparisons.
TIMING_COLUMNS = ("seconds",)


def write_csv(path: Path, rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None,
              nan: str = "") -> Path:
    """One row per record (``columns`` default: every key, first-seen order); floats at full precision, so two
    runs compare exactly; None is empty and NaN is ``nan`` (an unavailable metric)."""
    columns = list(columns or dict.fromkeys(k for r in rows for k in r))
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k), nan) for k in columns})
    return Path(path)


def _cell(value: object, nan: str) -> object:
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return nan
    return repr(float(value)) if isinstance(value, float) else value  # float(): numpy scalars print plainly


def write_json(summary: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default) + "\n")
    return path


def _json_default(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


# ----------------------------------------------------------------------------------------- summary
def _mean_std(values: list[float]) -> dict[str, float | int | None]:
    """:func:`scoring.mean_std` as the JSON summary writes it (std 0 for one value, None for none)."""
    mean, std, n = mean_std(values)
    return {"mean": mean if n else None, "std": (std if n > 1 else 0.0) if n else None, "n": n}


def summarize(result: CheckpointResult, lpips: Availability, fid: Availability) -> dict[str, Any]:
    metrics = {name: _mean_std([float(r[name]) for r in result.rows]) for name in METRICS}  # type: ignore[arg-type]
    summary: dict[str, Any] = {
        "checkpoint": result.label,
        "path": str(result.path),
        "policy": result.policy,
        "weights": result.weights,
        "conditioned": result.conditioned,
        "vgg": result.vgg,
        "pairs": len(result.rows),
        "metrics": metrics,
        "lpips": lpips.as_dict(),
        "fid": None if result.fid is None else result.fid,
        "artfid": None,
        "fid_status": fid.as_dict(),
        "timing": {"seconds": result.seconds, "images_per_s": _finite(result.images_per_s),
                   "mpx_per_s": _finite(result.mpx_per_s)},
        "notes": list(result.notes),
    }
    lpips_mean = metrics["lpips"]["mean"]
    if result.fid is not None and lpips_mean is not None:
        # ArtFID (Wright & Ommer 2022) = (1 + LPIPS to content) · (1 + FID to the style set).
        summary["artfid"] = (1 + lpips_mean) * (1 + result.fid)
    return summary


def format_mean_std(stats: dict[str, Any], digits: int = 4) -> str:
    if stats.get("mean") is None:
        return "unavailable"
    return f"{stats['mean']:.{digits}g} ± {stats['std']:.{digits - 1}g}"


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


# ---------------------------------------------------------------------------------------- markdown
def metrics_table(summaries: Sequence[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows shared by the Markdown and HTML reports."""
    header = ["checkpoint", "policy", "pairs",
              *[f"{m} {'↑' if HIGHER_IS_BETTER[m] else '↓'}" for m in METRICS], "FID ↓", "ArtFID ↓", "img/s"]
    rows = []
    for s in summaries:
        ips = s["timing"]["images_per_s"]
        rows.append([s["checkpoint"], s["policy"], str(s["pairs"]),
                     *[format_mean_std(s["metrics"][m]) for m in METRICS],
                     _number(s["fid"]), _number(s["artfid"]), "n/a" if ips is None else f"{ips:.2f}"])
    return header, rows


def notes(summaries: Sequence[dict[str, Any]], settings: dict[str, Any]) -> list[str]:
    out = []
    first = summaries[0] if summaries else None
    if first is not None and not first["lpips"]["available"]:
        out.append(first["lpips"]["reason"])
    if first is not None and not first["fid_status"]["available"]:
        out.append(first["fid_status"]["reason"])
    vggs = {s["vgg"] for s in summaries}
    if len(vggs) > 1:
        out.append("checkpoints use different loss VGGs, so their content/style losses are not comparable: "
                   + "; ".join(f"{s['checkpoint']}: {s['vgg']}" for s in summaries))
    for s in summaries:
        out += [f"{s['checkpoint']}: {n}" for n in s["notes"]]
    out.append("Timing covers the stylize calls only (style codes are computed once per style), on "
               f"{settings.get('device', '?')}; it is the only column that differs between two identical runs.")
    return out


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def render_markdown(summaries: Sequence[dict[str, Any]], settings: dict[str, Any]) -> str:
    header, rows = metrics_table(summaries)
    lines = ["# adaptive_st evaluation", ""]
    lines += [f"- {k}: {v}" for k, v in settings.items()]
    lines += ["", "## Metrics (mean ± std over pairs)", "",
              "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += ["", "SSIM/PSNR/LPIPS and content loss compare the output with its content image; style losses "
              "(Gram, mean/std) compare it with its style image, on the checkpoint's own loss VGG.", "",
              "## Notes", ""]
    lines += [f"- {n}" for n in notes(summaries, settings)]
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------- html
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,td:nth-child(2){text-align:left}img{max-width:100%}
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def render_html(summaries: Sequence[dict[str, Any]], settings: dict[str, Any], plot_png: bytes | None,
                grids: dict[str, bytes]) -> str:
    header, rows = metrics_table(summaries)
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>adaptive_st evaluation</title>",
             f"<style>{_STYLE}</style></head><body><h1>adaptive_st evaluation</h1><ul>"]
    parts += [f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>" for k, v in settings.items()]
    parts.append("</ul><h2>Metrics (mean ± std over pairs)</h2><table><tr>")
    parts += [f"<th>{html.escape(h)}</th>" for h in header]
    parts.append("</tr>")
    for row in rows:
        parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
    parts.append("</table>")
    if plot_png is not None:
        parts += ["<h2>Trade-off</h2>", _img(plot_png, "content vs style loss, SSIM-Y")]
    for label, png in grids.items():
        parts += [f"<h2>{html.escape(label)}: content | style | output</h2>", _img(png, f"grid {label}")]
    parts.append("<h2>Notes</h2><ul>")
    parts += [f"<li>{html.escape(n)}</li>" for n in notes(summaries, settings)]
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


# ----------------------------------------------------------------------------------------- figures
def _thumb(image: Tensor, height: int) -> Image.Image:
    arr = (image.float().clamp(0, 1).mul(255).round().byte().permute(1, 2, 0).numpy())
    im = Image.fromarray(np.ascontiguousarray(arr), mode="RGB")
    width = max(1, round(im.width * height / im.height))
    return im.resize((width, height), Image.Resampling.LANCZOS)


def grid_png(examples: Sequence[tuple[Tensor, Tensor, Tensor]], height: int = 160, gap: int = 4) -> bytes:
    """One row per example: content | style | output, each scaled to ``height``; white gaps."""
    rows = [[_thumb(t, height) for t in triple] for triple in examples]
    width = max(sum(im.width for im in row) + gap * (len(row) - 1) for row in rows)
    canvas = Image.new("RGB", (width, len(rows) * height + gap * (len(rows) - 1)), "white")
    for r, row in enumerate(rows):
        x = 0
        for im in row:
            canvas.paste(im, (x, r * (height + gap)))
            x += im.width + gap
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def tradeoff_png(rows_by_checkpoint: dict[str, Sequence[dict[str, Any]]]) -> bytes:
    """Scatter of content loss vs mean/std style loss per pair (one colour per checkpoint), beside a bar
    chart of SSIM-Y mean ± std: the content/style trade-off the policies move along."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4), dpi=90)
    labels = list(rows_by_checkpoint)
    for label, rows in rows_by_checkpoint.items():
        ax1.scatter([r["content_loss"] for r in rows], [r["style_meanstd"] for r in rows], s=14, alpha=0.7,
                    label=label)
    ax1.set_xlabel("content loss (VGG) ↓")
    ax1.set_ylabel("style loss, mean/std ↓")
    ax1.set_title("per-pair trade-off")
    ax1.legend(fontsize=8)
    means = [float(np.mean([r["ssim_y"] for r in rows])) for rows in rows_by_checkpoint.values()]
    stds = [float(np.std([r["ssim_y"] for r in rows], ddof=1)) if len(rows) > 1 else 0.0
            for rows in rows_by_checkpoint.values()]
    ax2.bar(range(len(labels)), means, yerr=stds, capsize=4, color="tab:blue")
    ax2.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
    ax2.set_ylabel("SSIM (luminance) to content ↑")
    ax2.set_title("content fidelity")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------- W&B
def upload(rows: Sequence[dict[str, object]], summaries: Sequence[dict[str, Any]], project: str, mode: str,
           directory: Path) -> str:
    """Log ``evaluation/pairs`` (a ``wandb.Table``) and each checkpoint's means; returns the run dir."""
    import wandb

    run = wandb.init(project=project, mode=mode, dir=str(directory), job_type="evaluate",
                     config={"checkpoints": [s["path"] for s in summaries]})
    try:
        table = wandb.Table(columns=list(CSV_COLUMNS), data=[[row.get(c) for c in CSV_COLUMNS] for row in rows])
        run.log({"evaluation/pairs": table})
        for s in summaries:
            for name, stats in s["metrics"].items():
                if stats["mean"] is not None:
                    run.summary[f"{s['checkpoint']}/{name}"] = stats["mean"]
        return str(run.dir)
    finally:
        run.finish()
