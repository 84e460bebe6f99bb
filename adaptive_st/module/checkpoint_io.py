"""Checkpoint files that are never half-written, and a clear error before resuming from a bad one.

Lightning's ``TorchCheckpointIO`` writes straight into the target path, so a run killed (or a disk
filling up) while ``last.ckpt`` is written leaves a truncated file in place of the previous good one.
:class:`AtomicCheckpointIO` writes a temporary file in the same folder, fsyncs it and renames it over
the target: readers see either the old or the new file, never a partial one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io import TorchCheckpointIO

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed from (truncated, not ours, another model); the message says why and what to do."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, read-only, quota); the previous file is untouched."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` with atomic saves (temp file + fsync + ``os.replace``) and ``weights_only`` loads."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                        storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} does not take storage_options")
        target = Path(path)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "xb") as f:  # "x": never clobber; permissions follow the umask like a normal save
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            cause = _os_error(exc) if isinstance(exc, Exception) else None
            if cause is None:
                raise
            raise CheckpointWriteError(
                f"could not write checkpoint {target} ({cause.strerror or cause}); the checkpoints already in "
                f"{target.parent} are intact. Free space there (or set paths.output_dir elsewhere) and resume "
                "with ckpt_path=last") from exc
        _fsync_dir(target.parent)
        _remove_stale_temps(target)

    def load_checkpoint(self, path: str | os.PathLike, map_location: Callable | None = None,
                        weights_only: bool | None = None) -> dict[str, Any]:
        # Only tensors and plain containers: loading a checkpoint must not be able to run code.
        return super().load_checkpoint(path, map_location=map_location or _to_cpu,
                                       weights_only=True if weights_only is None else weights_only)


def _os_error(exc: BaseException) -> OSError | None:
    """The OSError behind a failed save: torch reports a full disk as a ``RuntimeError`` from its zip
    writer (``inline_container.cc``) whose context is the ``OSError`` of the failed ``write``."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def _to_cpu(storage: Any, location: str) -> Any:
    return storage


def _fsync_dir(folder: Path) -> None:
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    """Temp files of this target left by a process killed mid-write."""
    for stale in target.parent.glob(f".{target.name}.*.tmp"):
        with contextlib.suppress(OSError):
            stale.unlink()


def load_resume_checkpoint(path: str | os.PathLike, config: Mapping[str, Any] | None = None,
                           compare: tuple[str, ...] = ("model", "policy._target_")) -> dict[str, Any]:
    """Load ``path`` with ``weights_only=True`` and check it fits ``config`` before Lightning restores it.

    Lightning's own errors for these cases are a zip-reader ``RuntimeError`` or hundreds of
    missing/unexpected ``state_dict`` keys; this names the file, the differing config keys and the fix.
    """
    path = Path(path)
    hint = (f"Resume from another checkpoint in {path.parent} (the stepNNNNNN.ckpt files are older saves) or start "
            "fresh with ckpt_path=null.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        if "Weights only load failed" in str(exc):
            raise CheckpointError(f"ckpt_path={path}: holds objects other than tensors and plain containers, "
                                  f"which weights_only=True refuses to load. {hint}\n{exc}") from exc
        raise CheckpointError(f"ckpt_path={path}: the file is truncated or corrupt ({type(exc).__name__}: "
                              f"{str(exc).strip().split('. ')[0][:200]}). {hint}") from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path}: not a Lightning training checkpoint (no state_dict / loop "
                              f"state). {hint}")
    saved = (checkpoint.get("adaptive_st") or {}).get("config")
    if config is not None and saved is not None:
        diffs = [d for key in compare for d in _diff(_select(saved, key), _select(config, key), key)]
        if diffs:
            raise CheckpointError(
                f"ckpt_path={path} was trained with a different config:\n    " + "\n    ".join(diffs)
                + "\n  Resume with the checkpoint's settings (e.g. the same model=... option), or start a fresh "
                "run in a new paths.output_dir.")
    elif config is not None:
        log.warning("%s stores no run config: cannot check it matches the current model", path)
    return checkpoint


_MISSING = object()


def _select(tree: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(tree, Mapping) or part not in tree:
            return _MISSING
        tree = tree[part]
    return tree


def _diff(saved: Any, current: Any, key: str) -> list[str]:
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        return [d for k in sorted(set(saved) | set(current), key=str)
                for d in _diff(saved.get(k, _MISSING), current.get(k, _MISSING), f"{key}.{k}")]
    if saved == current:
        return []
    show = {id(_MISSING): "<absent>"}
    return [f"{key}: checkpoint {show.get(id(saved), repr(saved))}, config {show.get(id(current), repr(current))}"]
