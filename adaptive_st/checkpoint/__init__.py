"""The checkpoint file: the one place that writes, reads and interprets an adaptive_st ``.ckpt``.

Format: a Lightning checkpoint (``state_dict``, ``loops``, optimizer states, ...) with G, S and D under
``generator.*`` / ``style_generator.*`` / ``discriminator.*``, the policy's state under ``policy.*``, the
EMA of G and S (``module.ema_decay``) under ``ema.generator.*`` / ``ema.style_generator.*``, and
``checkpoint["adaptive_st"] = {"config": <resolved run config>, "consecutive_nonfinite": int,
"ema": {"decay", "prefix"} | None}`` (:func:`metadata`).

- ``files``: atomic :func:`save` (and :class:`AtomicCheckpointIO`, Lightning's adapter to it),
  :func:`load_file` (the project's only call of torch's loader, with ``weights_only=True``, also used for
  pretrained ``.pth`` weights), the metadata block, the EMA prefix, and :func:`load_resume_checkpoint`
  (the file checked against the run's config before Lightning restores it).
- ``networks``: :func:`load_networks` rebuilds G∘S and the policy for inference from the saved config
  (EMA weights by default, finite weights only, only ``adaptive_st`` targets instantiated), and
  :func:`warm_start` (``init_from``: a fresh run's networks from another run's weights), and
  :func:`load_teacher` (``module.teacher``: a frozen distillation teacher).

Every failure is a :class:`CheckpointError` (:class:`NonFiniteError` for diverged weights) naming the
file and the fix; a failed write is a :class:`CheckpointWriteError`.
"""

from typing import Any

from adaptive_st.checkpoint import files
from adaptive_st.checkpoint.files import (
    EMA_PREFIX,
    META_KEY,
    CheckpointError,
    CheckpointWriteError,
    NonFiniteError,
    ema_prefix,
    load_file,
    load_resume_checkpoint,
    metadata,
    reconcile_ema_state,
    save,
)
from adaptive_st.checkpoint.networks import (
    check_targets,
    config_node,
    load_networks,
    load_subset,
    read_checkpoint,
    safe_instantiate,
    warm_start,
)

__all__ = [
    "EMA_PREFIX",
    "META_KEY",
    "AtomicCheckpointIO",
    "CheckpointError",
    "CheckpointWriteError",
    "NonFiniteError",
    "check_targets",
    "config_node",
    "ema_prefix",
    "load_file",
    "load_networks",
    "load_resume_checkpoint",
    "load_subset",
    "metadata",
    "read_checkpoint",
    "reconcile_ema_state",
    "safe_instantiate",
    "save",
    "warm_start",
]


def __getattr__(name: str) -> Any:
    if name == "AtomicCheckpointIO":  # built on first use: inference never imports Lightning
        return files.AtomicCheckpointIO
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
