"""``report.md``: the metrics table (mean ± std per checkpoint), timing and every note a reader needs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adaptive_st.evaluation.pair_metrics import HIGHER_IS_BETTER, METRICS
from adaptive_st.evaluation.summary import format_mean_std


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
