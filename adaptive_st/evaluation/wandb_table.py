"""Optional upload of the per-pair table and the summary to Weights & Biases (offline by default)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from adaptive_st.evaluation.tables import CSV_COLUMNS


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
