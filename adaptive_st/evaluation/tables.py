"""``metrics.csv`` (one row per checkpoint × pair) and ``metrics.json`` (summary per checkpoint)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptive_st.evaluation.pair_metrics import METRICS

CSV_COLUMNS: tuple[str, ...] = ("checkpoint", "content", "style", "alpha", "lam", *METRICS, "seconds")
#: Columns whose values depend on machine load, left out of reproducibility comparisons.
TIMING_COLUMNS = ("seconds",)


def _cell(value: object) -> object:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""  # unavailable metric / not applicable
    if isinstance(value, float):
        return repr(value)  # full precision: two runs compare exactly
    return value


def write_csv(rows: Sequence[dict[str, object]], path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(CSV_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    return path


def write_json(summary: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default) + "\n")
    return path


def _json_default(value: object) -> object:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
