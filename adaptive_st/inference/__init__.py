"""Inference: rebuild G∘S from a checkpoint and stylize images (α, λ, colour preservation, tiling).

Names load on first use (PEP 562): the CLIs import their option choices from
``adaptive_st.inference.choices`` to build ``--help`` without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "load_stylizer": "checkpoint",
    "read_checkpoint": "checkpoint",
    "Style": "engine",
    "StyleTransfer": "engine",
    "StylizeOptions": "engine",
    "CheckpointError": "errors",
    "ConditionError": "errors",
    "NonFiniteError": "errors",
    "read_image": "images",
    "write_png": "images",
    "LoadedModel": "model",
    "conditioned_policy_names": "model",
    "mix_name": "naming",
    "output_name": "naming",
    "PRECISIONS": "runtime",
    "Runtime": "runtime",
    "resolve_runtime": "runtime",
}

__all__ = [
    "PRECISIONS",
    "CheckpointError",
    "ConditionError",
    "LoadedModel",
    "NonFiniteError",
    "Runtime",
    "Style",
    "StyleTransfer",
    "StylizeOptions",
    "conditioned_policy_names",
    "load_stylizer",
    "mix_name",
    "output_name",
    "read_checkpoint",
    "read_image",
    "resolve_runtime",
    "write_png",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(import_module(f"adaptive_st.inference.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'adaptive_st.inference' has no attribute {name!r}")


if TYPE_CHECKING:
    from adaptive_st.inference.checkpoint import load_stylizer, read_checkpoint
    from adaptive_st.inference.engine import Style, StyleTransfer, StylizeOptions
    from adaptive_st.inference.errors import CheckpointError, ConditionError, NonFiniteError
    from adaptive_st.inference.images import read_image, write_png
    from adaptive_st.inference.model import LoadedModel, conditioned_policy_names
    from adaptive_st.inference.naming import mix_name, output_name
    from adaptive_st.inference.runtime import PRECISIONS, Runtime, resolve_runtime
