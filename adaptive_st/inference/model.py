"""A stylizer loaded from a checkpoint, where it runs (device, precision, allocator), and its λ.

:func:`load_stylizer` rebuilds G∘S and the policy through :func:`adaptive_st.checkpoint.load_networks`
(the EMA of G and S by default). λ fed to S is explicit (``--lam``), the policy's inference default, or
per image from pair features; only models trained with a λ-conditioned policy take λ, and asking it of
another model is an error that names the policies that do, rather than a silently ignored flag.

Runtime: channels_last is the default on CPU because oneDNN's convolutions are ~1.5–2× faster in NHWC
there; on CUDA it only pays off with tensor cores under fp16/bf16, so it is off by default.
:func:`retain_freed_memory` keeps freed memory in the process for reuse: a ~6× CPU speed-up for megapixel
images with glibc. Each layer of G allocates fresh full-resolution activations (64 MB per 16-channel map at
1 Mpx); glibc serves blocks above its mmap threshold (at most 32 MB) with ``mmap`` and unmaps them on free,
so every layer pays page faults to re-zero fresh memory (base model at 1024²: 0.6 Mpx/s by default,
3.7 Mpx/s with freed memory kept). Process-wide, so only entry points (the CLIs, benchmarks) call it;
memory then stays at its peak until the process exits, which is what a stylize/evaluate run wants.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from adaptive_st.checkpoint import CheckpointError as CheckpointError
from adaptive_st.checkpoint import NonFiniteError as NonFiniteError
from adaptive_st.checkpoint import load_networks, read_checkpoint, safe_instantiate
from adaptive_st.inference import PRECISION_NAMES
from adaptive_st.inference.images import center_crop_like_training
from adaptive_st.models import Stylizer
from adaptive_st.policies import POLICIES, PolicyBatch, WeightPolicy
from adaptive_st.policies.pair_features import FEATURE_NAMES, pair_features

if TYPE_CHECKING:
    from adaptive_st.losses.vgg import VGGFeatures

__all__ = ["PRECISIONS", "CheckpointError", "ConditionError", "LoadedModel", "NonFiniteError", "Runtime",
           "load_stylizer", "read_checkpoint", "resolve_runtime", "retain_freed_memory"]
log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------ runtime
PRECISIONS: dict[str, torch.dtype] = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.float16)))
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast for the generator (no-op in fp32); style statistics stay fp32 inside AdaIN."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Move an NCHW batch to the device in the generator's memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def resolve_runtime(device: str = "auto", precision: str = "fp32", channels_last: bool | None = None) -> Runtime:
    """Validate the user's choices; ``device="auto"`` takes CUDA when present, ``channels_last=None``
    means on for CPU only."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r}: expected one of {list(DEVICES)} (or cuda:N)")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {list(PRECISIONS)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device=cuda was asked for but no CUDA GPU is visible to PyTorch; use --device cpu")
    dev = torch.device(device)
    if channels_last is None:
        channels_last = dev.type == "cpu"
    return Runtime(dev, precision, bool(channels_last))


_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def retain_freed_memory(threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds; False (and no change) where libc is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, threshold) == 1
    return mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1 and ok


# -------------------------------------------------------------------------------------------- model


class ConditionError(ValueError):
    """λ was asked of a model that cannot take it (or a per-image λ cannot be computed)."""


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
        overrides = {} if weights_path is None else {"weights_path": str(weights_path)}
        vgg = safe_instantiate(self.config, "loss.perceptual.vgg", self.path, **overrides)
        return vgg.to(self.device)

    @property
    def style_layers(self) -> tuple[str, ...]:
        return tuple(self.config["loss"]["perceptual"]["style_layers"])

    @property
    def content_layers(self) -> tuple[str, ...]:
        return tuple(self.config["loss"]["perceptual"]["content_layers"])


def load_stylizer(ckpt_path: str | Path, device: str | torch.device = "cpu", use_ema: bool = True) -> LoadedModel:
    """G∘S and the policy of a checkpoint in eval mode (:func:`adaptive_st.checkpoint.load_networks`).

    ``use_ema``: the averaged G and S when the run kept them (the weights validation measured), else the
    live ones; :attr:`LoadedModel.weights` says which were loaded.
    """
    path = Path(ckpt_path).expanduser()
    stylizer, policy, config, weights = load_networks(path, use_ema)
    device = torch.device(device)
    return LoadedModel(path=path, stylizer=stylizer.to(device), policy=policy.to(device), config=config,
                       device=device, weights=weights)


# ------------------------------------------------------------------------------------------------ λ
#: λ is fed to S as a float32: beyond these it overflows to inf or underflows to 0 (log λ = -inf).
LAMBDA_LIMITS = (float(torch.finfo(torch.float32).tiny), float(torch.finfo(torch.float32).max))


def check_lambda(model: LoadedModel, lam: float | None) -> None:
    """Reject λ for unconditioned models and non-positive λ; warn outside a conditional model's range."""
    if lam is None:
        return
    if not model.conditioned:
        raise ConditionError(
            f"{model.path}: λ (--lam) is only an input of models trained with a λ-conditioned policy "
            f"({', '.join(conditioned_policy_names())}); this checkpoint was trained with policy="
            f"{model.policy_name}, whose λ was a training-time loss weight only. Use --alpha to dial the "
            "style strength instead."
        )
    if not (math.isfinite(lam) and LAMBDA_LIMITS[0] <= lam <= LAMBDA_LIMITS[1]):
        lo, hi = LAMBDA_LIMITS
        raise ConditionError(f"λ (--lam) {lam:g}: must be a finite number > 0 that float32 holds, in "
                             f"[{lo:.3g}, {hi:.3g}] (S conditions on log λ)")
    lo, hi = getattr(model.policy, "lambda_min", None), getattr(model.policy, "lambda_max", None)
    if lo is not None and hi is not None and not lo <= lam <= hi:
        log.warning("λ=%g is outside the range [%g, %g] this model was trained on: results extrapolate", lam, lo, hi)


def per_image_lambda(model: LoadedModel, vgg: VGGFeatures, content: Tensor, styles: Sequence[Tensor],
                     weights: Sequence[float] | None = None) -> Tensor:
    """The per-image policy's λ for one content (3,H,W) and its style image(s); (1,).

    Pair features are computed on the training's evaluation-mode crops (the running means they are
    compared with were measured on those), with one VGG pass per image. With several weighted styles
    the λ are averaged with the same weights.
    """
    load_size, crop = model.train_crop
    device = model.device
    c = center_crop_like_training(content, load_size, crop).unsqueeze(0).to(device)
    layers = model.style_layers
    c_feats = vgg(c, layers)
    lams = []
    for style in styles:
        s = center_crop_like_training(style, load_size, crop).unsqueeze(0).to(device)
        feats = pair_features(c, c_feats, vgg(s, layers), layers)
        batch = PolicyBatch(step=0, batch_size=1, device=device, pair_features=feats,
                            feature_names=FEATURE_NAMES, training=False)
        lams.append(model.policy.inference_condition(batch).float().reshape(1))
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(lams), device=device)
    return (torch.stack(lams, 0).squeeze(1) * w).sum().reshape(1) / w.sum()


def default_condition(model: LoadedModel, lam: float | None) -> Tensor | None:
    """λ for models whose λ does not depend on the image: explicit, else the policy's inference value."""
    if not model.conditioned:
        return None
    batch = PolicyBatch(step=0, batch_size=1, device=model.device, training=False)
    if lam is not None:
        return model.policy.inference_condition(batch, lam=lam)
    if model.per_image:
        raise ConditionError("a per-image model needs pair features for its λ (or an explicit --lam)")
    return model.policy.inference_condition(batch)


# ------------------------------------------------------------------------------------------- checks
def check_finite_output(out: Tensor, model: LoadedModel, runtime: Runtime) -> None:
    """Refuse NaN/inf output (it would be saved as a black image and scored as "unavailable")."""
    if bool(torch.isfinite(out).all()):
        return
    fixes = "use an earlier checkpoint"
    if runtime.precision != "fp32":
        fixes = "try --precision fp32 (an activation may overflow in " + runtime.precision + "), or " + fixes
    if model.weights == "ema":
        fixes += ", or --no-ema"
    raise NonFiniteError(f"{model.path}: the model's outputs are not finite (NaN/inf) although its {model.weights_label} "
                         f"weights are; the checkpoint is broken for this input — {fixes}.")


def check_style_weights(weights: Sequence[float] | None, n: int) -> None:
    if weights is None:
        return
    if len(weights) != n:
        raise ValueError(f"{len(weights)} style weights for {n} styles: give one weight per style")
    if any(not (math.isfinite(w) and w >= 0) for w in weights) or sum(weights) <= 0:
        raise ValueError(f"style weights {list(weights)}: must be >= 0 with a positive sum")
