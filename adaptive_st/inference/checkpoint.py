"""Read a training checkpoint and rebuild only what inference needs: G, S and the policy.

The discriminator and the perceptual VGG are never built (a checkpoint stylizes without the VGG file
unless a per-image λ asks for it), and the file is read with ``weights_only=True``.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from adaptive_st.inference.errors import CheckpointError
from adaptive_st.inference.model import LoadedModel
from adaptive_st.inference.safe_config import safe_instantiate
from adaptive_st.models import ContentGenerator, StyleGenerator, Stylizer
from adaptive_st.policies import WeightPolicy


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state_dict, run_config)`` of an adaptive_st ``.ckpt``; every failure is a :class:`CheckpointError`."""
    path = Path(path).expanduser()
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file does not exist.")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; pass a .ckpt file (e.g. <run>/checkpoints/last.ckpt).")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, zipfile.BadZipFile, pickle.UnpicklingError, OSError, ValueError) as err:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint — the file is truncated, corrupt, or holds objects "
            f"that are not plain tensors/containers ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
            "Re-copy it, or pick another checkpoint (e.g. an earlier stepNNNNNN.ckpt)."
        ) from err
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no `state_dict`).")
    meta = checkpoint.get("adaptive_st")
    config = meta.get("config") if isinstance(meta, Mapping) else None
    if not isinstance(config, Mapping):
        raise CheckpointError(
            f"{path}: not an adaptive_st training checkpoint (no saved run config under `adaptive_st.config`); "
            "pass a .ckpt written by `python -m adaptive_st.train`."
        )
    return dict(checkpoint["state_dict"]), dict(config)


def load_subset(module: nn.Module, state: Mapping[str, Tensor], prefix: str, path: Path, what: str) -> None:
    """Load the ``prefix``-ed entries of ``state`` into ``module`` strictly, explaining any mismatch."""
    subset = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    expected = module.state_dict()
    if not subset and expected:
        raise CheckpointError(f"{path}: holds no `{prefix}*` weights for the {what}; is it an adaptive_st checkpoint?")
    missing = sorted(set(expected) - set(subset))
    unexpected = sorted(set(subset) - set(expected))
    wrong = sorted(k for k in set(expected) & set(subset) if expected[k].shape != subset[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch " + ", ".join(
                f"{prefix}{k} {tuple(subset[k].shape)} in file vs {tuple(expected[k].shape)} in model" for k in wrong[:3]))
        if missing:
            parts.append(f"missing {[prefix + k for k in missing[:4]]}")
        if unexpected:
            parts.append(f"unexpected {[prefix + k for k in unexpected[:4]]}")
        raise CheckpointError(
            f"{path}: the {what} weights do not fit the model described by the checkpoint's saved config "
            f"({'; '.join(parts)}). The checkpoint was edited or written by another model definition."
        )
    module.load_state_dict(subset, strict=True)


def load_stylizer(ckpt_path: str | Path, device: str | torch.device = "cpu") -> LoadedModel:
    """Rebuild G, S and the policy from a checkpoint's saved config and load their weights (eval mode)."""
    path = Path(ckpt_path).expanduser()
    state, config = read_checkpoint(path)
    generator = safe_instantiate(config, "model.generator", path)
    policy = safe_instantiate(config, "policy", path)
    factory = safe_instantiate(config, "model.style_generator", path)
    if not isinstance(generator, ContentGenerator) or not isinstance(policy, WeightPolicy):
        raise CheckpointError(f"{path}: `model.generator` / `policy` do not build a ContentGenerator / WeightPolicy.")
    cond_dim = 1 if policy.conditions_generator else 0
    # `_partial_` in the config: S's heads are sized by G, and the policy decides whether λ is an input.
    style_generator = factory if isinstance(factory, nn.Module) else factory(
        modulation_dims=generator.modulation_dims, cond_dim=cond_dim)
    if not isinstance(style_generator, StyleGenerator):
        raise CheckpointError(f"{path}: `model.style_generator` does not build a StyleGenerator.")
    load_subset(generator, state, "generator.", path, "content generator (G)")
    load_subset(style_generator, state, "style_generator.", path, "style generator (S)")
    load_subset(policy, state, "policy.", path, "policy")  # running statistics of per-image policies
    stylizer = Stylizer(generator, style_generator).eval().requires_grad_(False)
    policy.eval().requires_grad_(False)
    device = torch.device(device)
    return LoadedModel(path=path, stylizer=stylizer.to(device), policy=policy.to(device), config=config,
                       device=device)
