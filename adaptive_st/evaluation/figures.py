"""PNG figures for the HTML report: content | style | output grids and a metric trade-off plot."""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image
from torch import Tensor


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
