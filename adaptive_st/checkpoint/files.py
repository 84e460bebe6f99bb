"""Checkpoint files: atomic writes, the one call of torch's loader, the metadata block and the resume check.

See :mod:`adaptive_st.checkpoint` for the format. Lightning's ``TorchCheckpointIO`` writes straight into
the target path, so a run killed (or a disk filling up) mid-write would leave a truncated ``last.ckpt``;
:func:`save` writes a temp file in the same folder, fsyncs it and renames it over the target.
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

log = logging.getLogger(__name__)

META_KEY = "adaptive_st"
#: state_dict prefix of the EMA copy: ``ema.generator.*`` and ``ema.style_generator.*``.
EMA_PREFIX = "ema."


class CheckpointError(ValueError):
    """A checkpoint is unreadable, not ours, or does not fit the model; the message says why and what to do."""


class NonFiniteError(CheckpointError):
    """A checkpoint's weights, or what they compute, hold NaN/inf: a diverged run, never an image to save."""


class CheckpointWriteError(OSError):
    """A checkpoint could not be written (disk full, read-only, quota); the previous file is untouched."""


# ---------------------------------------------------------------------------------------------- files
def load_file(path: str | os.PathLike, mmap: bool = False) -> Any:
    """Read a ``.ckpt`` or ``.pth`` on the CPU with ``weights_only=True``: tensors and plain containers only."""
    return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def save(checkpoint: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write atomically (temp file + fsync + ``os.replace``); a failed write raises :class:`CheckpointWriteError`."""
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
    with contextlib.suppress(OSError):  # persist the rename itself (POSIX)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    for stale in target.parent.glob(f".{target.name}.*.tmp"):  # left by a process killed mid-write
        with contextlib.suppress(OSError):
            stale.unlink()


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


def __getattr__(name: str) -> Any:
    """``AtomicCheckpointIO`` is built on first use (PEP 562), so inference never imports Lightning."""
    if name != "AtomicCheckpointIO":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from lightning.fabric.plugins.io import TorchCheckpointIO

    class AtomicCheckpointIO(TorchCheckpointIO):
        """Lightning's checkpoint IO through :func:`save` and :func:`load_file`."""

        def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike,
                            storage_options: Any | None = None) -> None:
            if storage_options is not None:
                raise TypeError(f"{type(self).__name__} does not take storage_options")
            save(checkpoint, path)

        def load_checkpoint(self, path: str | os.PathLike, map_location: Any = None,
                            weights_only: bool | None = None) -> dict[str, Any]:
            if weights_only is False:
                raise ValueError("checkpoints are read with weights_only=True only")
            if not Path(path).exists():
                raise FileNotFoundError(f"Checkpoint file not found: {path}")
            return load_file(path)

    AtomicCheckpointIO.__module__, AtomicCheckpointIO.__qualname__ = __name__, "AtomicCheckpointIO"
    globals()[name] = AtomicCheckpointIO
    return AtomicCheckpointIO


# ------------------------------------------------------------------------------------------ metadata
def metadata(config: Mapping[str, Any] | None, consecutive_nonfinite: int, ema_decay: float | None) -> dict[str, Any]:
    """What training stores under ``checkpoint["adaptive_st"]``."""
    return {"config": config, "consecutive_nonfinite": consecutive_nonfinite,
            # Where the averaged weights are, for loaders that prefer them (stylize / export).
            "ema": {"decay": ema_decay, "prefix": EMA_PREFIX} if ema_decay is not None else None}


def reconcile_ema_state(state: dict[str, Tensor], enabled: bool) -> None:
    """Let a run switch EMA on or off on resume: start the average from the live weights when the
    checkpoint has none, drop it when the run does not average (in place)."""
    has_ema = any(k.startswith(EMA_PREFIX) for k in state)
    if enabled and not has_ema:
        log.info("checkpoint has no EMA weights: starting the average from its G and S")
        for key in [k for k in state if k.startswith(("generator.", "style_generator."))]:
            state[EMA_PREFIX + key] = state[key].clone()
    elif not enabled and has_ema:
        for key in [k for k in state if k.startswith(EMA_PREFIX)]:
            del state[key]


def ema_prefix(checkpoint: Mapping[str, Any]) -> str | None:
    """State-dict prefix of the averaged G and S, or None when the run kept no average (older checkpoints
    that recorded none are recognised by their ``ema.generator.*`` keys)."""
    meta = checkpoint.get(META_KEY) or {}
    ema = meta.get("ema") if isinstance(meta, Mapping) else None
    if isinstance(ema, Mapping) and isinstance(ema.get("prefix"), str):
        return ema["prefix"]
    return EMA_PREFIX if any(k.startswith(EMA_PREFIX + "generator.") for k in checkpoint["state_dict"]) else None


# -------------------------------------------------------------------------------------------- resume
def load_resume_checkpoint(path: str | os.PathLike, config: Mapping[str, Any] | None = None,
                           compare: tuple[str, ...] = ("model", "policy._target_")) -> dict[str, Any]:
    """Load ``path`` and check it fits ``config`` before Lightning restores it.

    Lightning's own errors for these cases are a zip-reader ``RuntimeError`` or hundreds of
    missing/unexpected ``state_dict`` keys; this names the file, the differing config keys and the fix.
    """
    path = Path(path)
    hint = (f"Resume from another checkpoint in {path.parent} (the stepNNNNNN.ckpt files are older saves) or start "
            "fresh with ckpt_path=null.")
    try:
        checkpoint = load_file(path)
    except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ... for bad files
        if "Weights only load failed" in str(exc):
            raise CheckpointError(f"ckpt_path={path}: holds objects other than tensors and plain containers, "
                                  f"which weights_only=True refuses to load. {hint}\n{exc}") from exc
        raise CheckpointError(f"ckpt_path={path}: the file is truncated or corrupt ({type(exc).__name__}: "
                              f"{str(exc).strip().split('. ')[0][:200]}). {hint}") from exc
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "loops" not in checkpoint:
        raise CheckpointError(f"ckpt_path={path}: not a Lightning training checkpoint (no state_dict / loop "
                              f"state). {hint}")
    saved = (checkpoint.get(META_KEY) or {}).get("config")
    if config is not None and saved is not None:
        diffs = [d for key in compare for d in _diff(_select(saved, key), _select(config, key), key)]
        # Keys the checkpoint predates (settings added to the project since): a notice, not a refusal; a
        # value that changes the networks still fails at the state_dict load.
        added = [d for d in diffs if ": checkpoint <absent>, " in d]
        if added:
            log.warning("%s predates config keys %s; resuming with their current values", path,
                        ", ".join(d.split(":")[0] for d in added))
        diffs = [d for d in diffs if d not in added]
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
