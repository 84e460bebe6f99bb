"""Inference: rebuild G∘S from a checkpoint and stylize images (α, λ, colour preservation, tiling)."""

from adaptive_st.inference.checkpoint import load_stylizer, read_checkpoint
from adaptive_st.inference.engine import Style, StyleTransfer, StylizeOptions
from adaptive_st.inference.errors import CheckpointError, ConditionError
from adaptive_st.inference.images import read_image, write_png
from adaptive_st.inference.model import LoadedModel, conditioned_policy_names
from adaptive_st.inference.naming import mix_name, output_name
from adaptive_st.inference.runtime import PRECISIONS, Runtime, resolve_runtime

__all__ = [
    "PRECISIONS",
    "CheckpointError",
    "ConditionError",
    "LoadedModel",
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
