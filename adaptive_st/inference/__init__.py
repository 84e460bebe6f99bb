"""Inference: rebuild G∘S from a checkpoint and stylize images (α, λ, colour preservation, tiling).

Modules: ``model`` (a loaded checkpoint, its λ, and the runtime: device, precision, allocator),
``engine`` (stylize: torch, or ONNX Runtime around the torch pre/post-processing), ``images`` (tensor
images: files, resizing, padding, colour), ``tiling`` (tiles, AdaIN statistics, receptive field),
``export`` (TorchScript/ONNX export and its parity check), ``onnx_cache`` (the cached graphs of
``stylize``: found without torch, exported on first use) and ``lean`` (the torch-free engine).

This module is the torch-free core both stylize paths share, so they cannot drift apart: the option
names and defaults the CLIs offer (``--help`` is built from them before torch is imported), per-call
:class:`StylizeOptions`, output file names, padding amounts, sizes and the style's training crop. It imports
the standard library only (numpy and PIL when a crop is taken); the torch side's names load on first use
(PEP 562).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

# ------------------------------------------------------------------------------ options of the CLIs
#: Autocast precisions of G (``model.PRECISIONS`` maps them to dtypes).
PRECISION_NAMES: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: Colour preservation modes (see ``inference.images``).
PRESERVE_COLOR: tuple[str, ...] = ("none", "luminance", "histogram")
#: ``tile=None`` ("auto") tiles only images whose longer side exceeds AUTO_TILE_ABOVE, with DEFAULT_TILE tiles.
AUTO_TILE_ABOVE = 2048
DEFAULT_TILE = 1024
#: Longer side of the thumbnail the AdaIN statistics are taken from (exact for images up to this size).
DEFAULT_STATS_SIZE = 1024
#: ONNX opset of ``adaptive-st export`` (Resize with antialias needs 18).
OPSET = 18
#: The newest opset torch's exporter writes (``torch.onnx._constants.ONNX_MAX_OPSET`` of the pinned torch;
#: a test keeps them equal). Outside OPSET..MAX_OPSET torch silently writes another opset.
MAX_OPSET = 23
#: What runs G∘S in ``stylize``: ``auto`` (ONNX Runtime without torch when the checkpoint's graph is cached and
#: the options allow, else torch), eager PyTorch, or ONNX Runtime on the graph ``adaptive-st export`` writes.
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime")

MULTIPLE = 8  # three stride-2 stages in G


@dataclass(frozen=True)
class StylizeOptions:
    """Per-call knobs. ``tile=None`` tiles automatically above ``AUTO_TILE_ABOVE`` px, ``0`` never;
    ``tile_overlap=None`` derives the overlap from G's receptive field."""

    alpha: float = 1.0
    lam: float | None = None
    preserve_color: str = "none"
    size: int | None = None
    tile: int | None = None
    tile_overlap: int | None = None
    stats_size: int = DEFAULT_STATS_SIZE

    def __post_init__(self) -> None:
        if not (math.isfinite(self.alpha) and 0.0 <= self.alpha <= 1.0):
            raise ValueError(f"alpha (--alpha) {self.alpha}: style strength must be in [0, 1] (0 = content only)")
        if self.preserve_color not in PRESERVE_COLOR:
            raise ValueError(f"preserve_color (--preserve-color) {self.preserve_color!r}: expected one of "
                             f"{list(PRESERVE_COLOR)}")
        if self.tile is not None and self.tile != 0 and self.tile < 64:
            raise ValueError(f"tile (--tile) {self.tile}: use 0 (no tiling), or a tile side >= 64 px")
        if self.tile_overlap is not None and (self.tile_overlap < 0 or self.tile_overlap % MULTIPLE):
            raise ValueError(f"tile overlap (--tile-overlap) {self.tile_overlap}: must be a non-negative multiple of "
                             f"{MULTIPLE}")
        if self.stats_size < 64:
            raise ValueError(f"stats size (--stats-size) {self.stats_size}: must be >= 64")

    def tile_for(self, height: int, width: int) -> int:
        """The tile side for an image (0 = whole image), rounded up to a multiple of 8."""
        tile = self.tile
        if tile is None:
            tile = DEFAULT_TILE if max(height, width) > AUTO_TILE_ABOVE else 0
        tile = -(-tile // MULTIPLE) * MULTIPLE
        return 0 if tile >= max(height, width) else tile


# ------------------------------------------------------------------------------------------- names
#: Path separators (both, so a name is portable) and C0/C1 control characters, NUL included.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]+")
#: NAME_MAX of Linux/macOS file systems, in bytes of the UTF-8 encoded name.
MAX_NAME_BYTES = 255


def number(value: float) -> str:
    """Compact, file-name-safe form of a number: 0.5 → ``0.5``, 3.0 → ``3``, 1e-05 → ``1e-05``."""
    return f"{value:g}"


def mix_name(stems: Sequence[str], weights: Sequence[float] | None) -> str:
    """Style stem of a mix: ``candy0.7+udnie0.3`` (equal weights: ``candy+udnie``)."""
    if weights is None:
        return "+".join(stems)
    return "+".join(f"{s}{number(w)}" for s, w in zip(stems, weights, strict=True))


def safe_file_name(stem: str, suffix: str = "") -> str:
    """``stem + suffix`` as one valid file name: separators and control characters become ``_``, and a stem
    too long for the file system is cut (at a character boundary) and tagged with a hash of the full stem."""
    stem = _UNSAFE.sub("_", stem)
    budget = MAX_NAME_BYTES - len(suffix.encode())
    if len(stem.encode()) <= budget:
        return stem + suffix
    tag = "~" + hashlib.sha1(stem.encode()).hexdigest()[:10]
    cut = stem.encode()[: budget - len(tag)].decode(errors="ignore")
    return cut + tag + suffix


def output_name(content_stem: str, style_stem: str, alpha: float = 1.0, lam: float | None = None,
                preserve_color: str = "none") -> str:
    """``<content>__<style>[__a<α>][__lam<λ>][__<colour mode>].png``: every setting away from its default is
    in the name, so runs with another α, λ or ``--preserve-color`` never collide. Names keep every letter of
    the inputs (``日本.jpg`` → ``日本__candy.png``); see :func:`safe_file_name`."""
    name = f"{content_stem}__{style_stem}"
    if alpha != 1.0:
        name += f"__a{number(alpha)}"
    if lam is not None:
        name += f"__lam{number(lam)}"
    if preserve_color not in ("none", None):
        name += f"__{preserve_color}"
    return safe_file_name(name, ".png")


# ----------------------------------------------------------------------------------------- padding
def pad_amounts(height: int, width: int, multiple: int = MULTIPLE, min_side: int = 0) -> tuple[int, int]:
    """``(pad_bottom, pad_right)`` that make both sides multiples of ``multiple`` and at least ``min_side``."""
    def target(side: int) -> int:
        return max(side + (-side) % multiple, -(-min_side // multiple) * multiple)

    return target(height) - height, target(width) - width


# ----------------------------------------------------------------------------------- sizes and crops
#: Largest ``size`` a resize may ask for: 16k px a side is already ~3 GB of float32 image; beyond, a typo
#: (``--size 100000``) would exhaust memory instead of failing.
MAX_SIZE = 16384


def resized_shape(height: int, width: int, size: int | None) -> tuple[int, int]:
    """``(H, W)`` after resizing so the longer side is ``size`` (None: unchanged)."""
    if size is None:
        return height, width
    if not 8 <= size <= MAX_SIZE:
        raise ValueError(f"size (--size) {size}: the longer side must be 8..{MAX_SIZE} pixels")
    if max(height, width) == size:
        return height, width
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def crop_like_training(image: np.ndarray, load_size: int, crop_size: int) -> np.ndarray:
    """The evaluation-mode training preprocessing (``data.images.eval_crop_array``: shorter side →
    ``load_size``, PIL bicubic, centre crop ``crop_size``) of an 8-bit (H,W,3) image; float32 (3,crop,crop).

    Style codes and per-image λ are taken from what the networks saw in training (a crop covering most of
    the style image at a fixed scale), not from an arbitrarily sized full image.
    """
    import numpy as np
    from PIL import Image

    from adaptive_st.data.images import eval_crop_array

    image = central_span(image, load_size, crop_size)
    return eval_crop_array(Image.fromarray(np.ascontiguousarray(image)), load_size, crop_size)


def central_span(image: np.ndarray, load_size: int, crop_size: int) -> np.ndarray:
    """Cut a long thin (H,W,3) image's long axis to twice what the centre crop needs before it is resized.

    Resizing a 3×50000 strip so its shorter side is ``load_size`` first would make a ~150×2.5M px image
    (seconds, gigabytes) to keep 128×128 of it. Only images whose resized long side exceeds 4× the crop
    are cut (photos and paintings are not), and the cut keeps the pixels the crop and its resampling
    kernel read.
    """
    h, w = image.shape[:2]
    short, long = min(h, w), max(h, w)
    scale = load_size / short
    if long * scale <= 4 * crop_size:
        return image
    span = max(short, math.ceil(2 * crop_size / scale) + 2)
    start = (long - span) // 2
    return image[start : start + span] if h > w else image[:, start : start + span]


# ------------------------------------------------------------------------------ the torch side, lazily
_LAZY = {
    "model": ("PRECISIONS", "CheckpointError", "ConditionError", "LoadedModel", "NonFiniteError", "Runtime",
              "conditioned_policy_names", "load_stylizer", "read_checkpoint", "resolve_runtime"),
    "engine": ("Style", "StyleTransfer"),
    "images": ("read_image", "write_png"),
}
_WHERE = {name: module for module, names in _LAZY.items() for name in names}

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
    from adaptive_st.inference.engine import Style, StyleTransfer
    from adaptive_st.inference.images import read_image, write_png
    from adaptive_st.inference.model import (
        PRECISIONS,
        CheckpointError,
        ConditionError,
        LoadedModel,
        NonFiniteError,
        Runtime,
        conditioned_policy_names,
        load_stylizer,
        read_checkpoint,
        resolve_runtime,
    )
