"""Data layer: robust image loading, the procedural sample dataset, unpaired datasets and the DataModule."""

from importlib import import_module
from typing import Any

from adaptive_st.data.images import (
    IMAGE_EXTENSIONS,
    DataConfigError,
    ImageLoadError,
    list_images,
    load_rgb,
    pil_to_tensor,
)
from adaptive_st.data.sample import ensure_sample_dataset

# Lightning-dependent names load on first use: `stylize` only needs image loading, and importing
# Lightning costs seconds of start-up.
_LAZY = {
    "StyleTransferDataModule": "adaptive_st.data.datamodule",
    "UnpairedStyleDataset": "adaptive_st.data.datasets",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'adaptive_st.data' has no attribute {name!r}")

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataConfigError",
    "ImageLoadError",
    "StyleTransferDataModule",
    "UnpairedStyleDataset",
    "ensure_sample_dataset",
    "list_images",
    "load_rgb",
    "pil_to_tensor",
]
