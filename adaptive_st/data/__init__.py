"""Data layer: robust image loading, the procedural sample dataset, unpaired datasets and the DataModule."""

from adaptive_st.data.datamodule import StyleTransferDataModule
from adaptive_st.data.datasets import UnpairedStyleDataset
from adaptive_st.data.epoch import DatasetEpochCallback
from adaptive_st.data.images import (
    IMAGE_EXTENSIONS,
    DataConfigError,
    ImageLoadError,
    list_images,
    load_rgb,
    pil_to_tensor,
)
from adaptive_st.data.sample import ensure_sample_dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "DataConfigError",
    "DatasetEpochCallback",
    "ImageLoadError",
    "StyleTransferDataModule",
    "UnpairedStyleDataset",
    "ensure_sample_dataset",
    "list_images",
    "load_rgb",
    "pil_to_tensor",
]
