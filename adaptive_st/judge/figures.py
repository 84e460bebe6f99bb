"""Plots of the study's report (PNG bytes for ``report.html`` and W&B): Bradley–Terry scores with intervals,
the win-rate matrix and how well each automatic metric predicts the human choice."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from adaptive_st.judge.ranking import MetricAccuracy

if TYPE_CHECKING:
    from adaptive_st.judge.report import JudgeReport


def _figure_png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def figures(report: JudgeReport) -> dict[str, bytes]:
    """The report's plots as PNG bytes: scores with intervals, win-rate matrix, metric accuracy."""
    import matplotlib

    from adaptive_st.judge.report import PREDICTORS

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = report.ranking()[::-1]
    labels = report.labels
    k = len(labels)
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * k + 1.4), dpi=90)
    theta = report.theta[order]
    ax.errorbar(theta, range(k), xerr=[theta - report.low[order], report.high[order] - theta], fmt="o", capsize=4)
    ax.set_yticks(range(k), [labels[i] for i in order])
    ax.axvline(0, color="#999", lw=0.8, ls="--")
    ax.set_xlabel("Bradley–Terry log-strength θ (95% bootstrap CI)")
    ax.set_title("human preference")
    out = {"scores": _figure_png(fig)}

    fig, ax = plt.subplots(figsize=(1.1 * k + 2.6, 0.9 * k + 1.4), dpi=90)
    shown = np.ma.masked_invalid(report.rates)
    image = ax.imshow(shown, cmap="RdYlGn", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if report.counts[i, j]:
                ax.text(j, i, f"{report.rates[i, j]:.2f}\nn={report.counts[i, j]}", ha="center", va="center",
                        fontsize=8)
    ax.set_xticks(range(k), labels, rotation=20, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set_xlabel("against")
    ax.set_title("win rate of row vs column (ties ½)")
    fig.colorbar(image, ax=ax, fraction=0.046)
    out["win_rates"] = _figure_png(fig)

    measured = {n: p for n, p in report.predictors.items() if isinstance(p, MetricAccuracy)}
    if measured:
        fig, ax = plt.subplots(figsize=(6.5, 0.45 * len(measured) + 1.4), dpi=90)
        acc = [p.accuracy for p in measured.values()]
        err = [[a - p.low for a, p in zip(acc, measured.values())], [p.high - a for a, p in zip(acc, measured.values())]]
        ax.barh(range(len(measured)), acc, xerr=err, capsize=4, color="tab:blue")
        ax.set_yticks(range(len(measured)), [PREDICTORS[n] for n in measured], fontsize=8)
        ax.axvline(0.5, color="#c33", lw=1, ls="--")
        ax.set_xlim(0, 1)
        ax.set_xlabel("agreement with the human choice (95% Wilson CI; 0.5 = chance)")
        out["predictors"] = _figure_png(fig)
    return out
