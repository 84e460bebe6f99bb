"""Mean ± std of each metric per checkpoint, and the JSON summary written to ``metrics.json``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from adaptive_st.evaluation.availability import Availability
from adaptive_st.evaluation.pair_metrics import METRICS
from adaptive_st.evaluation.runner import CheckpointResult


def mean_std(values: list[float]) -> dict[str, float | int | None]:
    """Sample std (ddof=1; 0 for one value); NaN values (unavailable metrics) are left out."""
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return {"mean": None, "std": None, "n": 0}
    arr = np.asarray(finite, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0, "n": int(arr.size)}


def summarize(result: CheckpointResult, lpips: Availability, fid: Availability) -> dict[str, Any]:
    metrics = {name: mean_std([float(r[name]) for r in result.rows]) for name in METRICS}  # type: ignore[arg-type]
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
