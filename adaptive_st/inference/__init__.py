"""Inference: rebuild G∘S from a checkpoint and stylize images (α, λ, colour preservation, tiling).

``model`` (a loaded checkpoint and its λ), ``engine`` (stylize: torch or ONNX Runtime), ``images`` (files,
names, resizing, padding, colour), ``tiling`` (tiles, AdaIN statistics, receptive field), ``runtime``
(device, precision, allocator), ``export`` (TorchScript/ONNX and the ONNX cache), ``choices`` (torch-free
option names for ``--help``).

Names load on first use (PEP 562): the CLIs import their option choices from
``adaptive_st.inference.choices`` to build ``--help`` without importing torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "load_stylizer": "model",
    "read_checkpoint": "model",
    "Style": "engine",
    "StyleTransfer": "engine",
    "StylizeOptions": "engine",
    "CheckpointError": "model",
    "ConditionError": "model",
    "NonFiniteError": "model",
    "read_image": "images",
    "write_png": "images",
    "LoadedModel": "model",
    "conditioned_policy_names": "model",
    "mix_name": "images",
    "output_name": "images",
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
    from adaptive_st.inference.engine import Style, StyleTransfer, StylizeOptions
    from adaptive_st.inference.images import mix_name, output_name, read_image, write_png
    from adaptive_st.inference.model import (
        CheckpointError,
        ConditionError,
        LoadedModel,
        NonFiniteError,
        conditioned_policy_names,
        load_stylizer,
        read_checkpoint,
    )
    from adaptive_st.inference.runtime import PRECISIONS, Runtime, resolve_runtime
