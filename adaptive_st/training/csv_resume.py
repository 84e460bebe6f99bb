"""Keep one continuous ``metrics.csv`` across a resume.

Lightning's CSV writer deletes ``metrics.csv`` when a run starts in a folder that has one ("previous
log files ... will be deleted"), so a resumed run would lose everything logged before it. Before the
resumed fit starts, the rows logged *before* the checkpoint are read, the writer is created and the
rows are written back; the resumed run then appends. Rows a killed run logged *after* its last
checkpoint are dropped: the resumed run trains those batches again and logs them under the same steps.

The old file is moved aside (``.metrics.csv.resume``) rather than deleted, and removed only once the
rows are written back: a resume killed (or out of disk) in between leaves the rows there, and the next
resume reads them from it. Lightning writes every logged row at once (its logger connector saves after
each ``log_metrics``), so nothing logged before a SIGKILL is missing from the file either.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)


def first_resumed_log_step(checkpoint: Mapping[str, Any]) -> int | None:
    """The logger step of the first batch a run resumed from ``checkpoint`` trains (Lightning's rule).

    Lightning logs under ``_batches_that_stepped`` and, on restore, adds 1 unless the checkpoint was
    taken after a batch fully completed (then all four progress counters are equal).
    """
    try:
        loop = checkpoint["loops"]["fit_loop"]
        stepped = int(loop["epoch_loop.state_dict"]["_batches_that_stepped"])
        total = loop["epoch_loop.batch_progress"]["total"]
    except (KeyError, TypeError, ValueError):
        return None
    completed_batch = total["ready"] == total["started"] == total["processed"] == total["completed"]
    return stepped if completed_batch else stepped + 1


def continue_csv_logs(loggers: Iterable[Logger], checkpoint: Mapping[str, Any]) -> None:
    """Carry the rows before the resume point over into the resumed run's ``metrics.csv`` (rank 0)."""
    first = first_resumed_log_step(checkpoint)
    if first is None or rank_zero_only.rank != 0:
        return
    for logger in loggers:
        if not isinstance(logger, CSVLogger):
            continue
        path = Path(logger.log_dir) / "metrics.csv"
        aside = path.with_name(f".{path.name}.resume")
        source = aside if aside.is_file() else path  # the rows of a resume that did not finish writing them
        if not source.is_file():
            continue
        with source.open(newline="") as f:
            rows = [{k: v for k, v in row.items() if v not in ("", None)}
                    for row in csv.DictReader(f) if _step(row) < first]
        if source == path:
            os.replace(path, aside)  # atomic: the rows are in one of the two files at every moment
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*Previous log files in this directory will be deleted.*")
            writer = logger.experiment  # would delete metrics.csv (it is aside)
        writer.metrics = rows + writer.metrics
        writer.save()
        aside.unlink()
        log.info("resumed metrics in %s: kept %d rows logged before step %d", path, len(rows), first)


def _step(row: Mapping[str, str]) -> float:
    try:
        return float(row.get("step") or "nan")
    except ValueError:
        return float("nan")
