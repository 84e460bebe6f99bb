"""Evaluation of checkpoints on content × style sets: the one scorer, the evaluation run, its reports.

``scoring`` (what is measured, under which names; pairs; LPIPS/FID availability), ``runner`` (stylize and
score every checkpoint × pair), ``report`` (CSV, JSON, Markdown, HTML, W&B).
"""

from adaptive_st.evaluation.report import CSV_COLUMNS, TIMING_COLUMNS, write_csv
from adaptive_st.evaluation.runner import (
    OUTPUT_FILES,
    EvalSettings,
    Evaluation,
    MetricSources,
    run_evaluation,
    unique_labels,
)
from adaptive_st.evaluation.scoring import METRICS, Pair, PairScorer, make_pairs, mean_scores, mean_std

__all__ = [
    "CSV_COLUMNS",
    "METRICS",
    "OUTPUT_FILES",
    "TIMING_COLUMNS",
    "EvalSettings",
    "Evaluation",
    "MetricSources",
    "Pair",
    "PairScorer",
    "make_pairs",
    "mean_scores",
    "mean_std",
    "run_evaluation",
    "unique_labels",
    "write_csv",
]
