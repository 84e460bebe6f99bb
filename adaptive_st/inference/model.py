"""A stylizer rebuilt from a checkpoint, with what the inference code needs to know about its training."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from adaptive_st.models import Stylizer
from adaptive_st.policies import POLICIES, WeightPolicy

if TYPE_CHECKING:
    from adaptive_st.losses.vgg import VGGFeatures


def conditioned_policy_names() -> list[str]:
    """Config names of the policies whose λ is a generator input (the ones ``--lam`` works with)."""
    return sorted(name for name, cls in POLICIES.items() if cls.conditions_generator)


@dataclass
class LoadedModel:
    """G∘S in eval mode, the trained policy, and the run config the checkpoint was trained with.

    ``weights``: ``"ema"`` when G and S are the run's moving average, ``"live"`` for the last iterate.
    """

    path: Path
    stylizer: Stylizer
    policy: WeightPolicy
    config: Mapping[str, Any]
    device: torch.device
    weights: str = "live"

    @property
    def weights_label(self) -> str:
        """``EMA`` or ``live``, for messages."""
        return "EMA" if self.weights == "ema" else "live"

    @property
    def policy_name(self) -> str:
        for name, cls in POLICIES.items():
            if type(self.policy) is cls:
                return name
        return type(self.policy).__name__

    @property
    def conditioned(self) -> bool:
        """λ is an input of S (loss-conditional or per-image policies)."""
        return bool(self.policy.conditions_generator)

    @property
    def per_image(self) -> bool:
        """λ is computed from each (content, style) pair, which needs VGG features."""
        return bool(self.policy.needs_pair_features)

    @property
    def encoder_kind(self) -> str:
        return self.stylizer.style_generator.encoder_kind

    @property
    def num_styles(self) -> int:
        """Number of learned style ids (embedding models), else 0."""
        table = getattr(self.stylizer.style_generator.encoder, "table", None)
        return int(table.num_embeddings) if table is not None else 0

    @property
    def train_crop(self) -> tuple[int, int]:
        """``(load_size, crop_size)`` of the training data: the evaluation-mode preprocessing of styles."""
        from adaptive_st.data.datasets import default_load_size

        data = self.config.get("data", {}) or {}
        if data.get("style_size"):  # styles were seen whole at this size (data.style_size)
            return int(data["style_size"]), int(data["style_size"])
        crop = int(data.get("crop_size") or 128)
        load = data.get("load_size")
        return (int(load) if load else default_load_size(crop)), crop

    def build_vgg(self, weights_path: str | Path | None = None) -> VGGFeatures:
        """The frozen VGG of the checkpoint's loss config (``loss.perceptual.vgg``); ``weights_path``
        replaces the saved path, for checkpoints trained on another machine."""
        from adaptive_st.inference.safe_config import safe_instantiate

        overrides = {} if weights_path is None else {"weights_path": str(weights_path)}
        vgg = safe_instantiate(self.config, "loss.perceptual.vgg", self.path, **overrides)
        return vgg.to(self.device)

    @property
    def style_layers(self) -> tuple[str, ...]:
        return tuple(self.config["loss"]["perceptual"]["style_layers"])

    @property
    def content_layers(self) -> tuple[str, ...]:
        return tuple(self.config["loss"]["perceptual"]["content_layers"])
