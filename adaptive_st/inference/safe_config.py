"""Instantiate config nodes read from a checkpoint, refusing targets outside adaptive_st.

A checkpoint is loaded with ``weights_only=True`` so that unpickling cannot run code; instantiating an
arbitrary ``_target_`` from its config would reopen that door, so only the project's own factories pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from adaptive_st.inference.errors import CheckpointError

ALLOWED_PREFIX = "adaptive_st."


def config_node(config: Mapping[str, Any], dotted: str, path: Path) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``, or a :class:`CheckpointError` naming the missing key."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise CheckpointError(
                f"{path}: the run config saved in this checkpoint has no `{dotted}`; it was written by an "
                "incompatible version of adaptive_st (re-train, or load it with the version that wrote it)."
            )
        node = node[part]
    return node


def check_targets(node: Any, dotted: str, path: Path) -> None:
    """Raise if any ``_target_`` below ``node`` is outside the adaptive_st package."""
    if isinstance(node, Mapping):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(ALLOWED_PREFIX):
            raise CheckpointError(
                f"{path}: `{dotted}._target_={target}` is not an adaptive_st class; refusing to instantiate "
                "code named by a checkpoint file."
            )
        for key, value in node.items():
            check_targets(value, f"{dotted}.{key}", path)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            check_targets(value, f"{dotted}[{i}]", path)


def safe_instantiate(config: Mapping[str, Any], dotted: str, path: Path, **kwargs: Any) -> Any:
    """Instantiate ``config[dotted]`` after checking its targets; errors name the file and the key."""
    node = config_node(config, dotted, path)
    check_targets(node, dotted, path)
    try:
        return instantiate(node, **kwargs)
    except Exception as err:  # Hydra wraps constructor errors; surface them with the key that caused them
        cause = err.__cause__ or err
        if isinstance(cause, FileNotFoundError):  # e.g. MissingWeightsError: its message is the fix
            raise cause from err
        raise CheckpointError(
            f"{path}: cannot build `{dotted}` from the config saved in the checkpoint "
            f"({type(cause).__name__}: {cause})"
        ) from err
