"""Deterministic, machine-independent train/validation split of the content images."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path

log = logging.getLogger(__name__)


def split_by_path_hash(
    paths: Sequence[Path], root: Path, val_fraction: float
) -> tuple[list[Path], list[Path]]:
    """Return ``(train, val)``; val holds the ``round(val_fraction * n)`` files with the smallest path hashes.

    Hashing the path *relative to root* (not the absolute path, not the seed) keeps the split identical on every
    machine and for every training seed, so validation images never leak into training across runs; adding a
    file moves at most the boundary file. Val gets at least one file and train keeps at least one. With a single
    file both sets are that file (validation then is not held out; a warning says so).
    """
    paths = list(paths)
    if not paths:
        raise ValueError("cannot split an empty list of images")
    if len(paths) == 1:
        log.warning("Only one content image (%s): it is used for both training and validation.", paths[0])
        return paths, list(paths)
    n_val = min(len(paths) - 1, max(1, round(val_fraction * len(paths))))
    by_hash = sorted(paths, key=lambda p: (_path_hash(p, root), p.as_posix()))
    val = set(by_hash[:n_val])
    return [p for p in paths if p not in val], [p for p in paths if p in val]


def _path_hash(path: Path, root: Path) -> str:
    try:
        key = path.relative_to(root).as_posix()
    except ValueError:
        key = path.name
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
