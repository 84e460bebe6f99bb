"""Evaluation of checkpoints on content × style sets: per-pair metrics, summaries and reports."""

from adaptive_st.evaluation.evaluate import (
    OUTPUT_FILES,
    Evaluation,
    MetricSources,
    run_evaluation,
    unique_labels,
)
from adaptive_st.evaluation.pair_metrics import METRICS, PairScorer
from adaptive_st.evaluation.pairs import Pair, make_pairs
from adaptive_st.evaluation.runner import EvalSettings
from adaptive_st.evaluation.tables import CSV_COLUMNS, TIMING_COLUMNS

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
    "run_evaluation",
    "unique_labels",
]
