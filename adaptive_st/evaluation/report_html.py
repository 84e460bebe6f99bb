"""``report.html``: one self-contained file (inline CSS, base64 PNGs) to open or attach anywhere."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import Any

from adaptive_st.evaluation.report_markdown import metrics_table, notes

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
