"""Stylize without torch: ONNX Runtime on an exported graph, numpy and PIL around it.

Importing torch costs ~2 CPU-s and ~650 MB of memory before the first pixel; this path needs numpy, PIL
and onnxruntime only. ``stylize --backend auto`` takes it when the checkpoint's graph is in the ONNX cache
(``inference.onnx_cache``; the first torch run puts it there) and for an exported ``.onnx`` model. It
repeats the torch path step by step on the same code where that is torch-free (``data.images.load_rgb``,
``inference.crop_like_training`` for the style, the package core for names, sizes and padding) and in
numpy where it is not (the ``--size`` resize is PIL's antialiased bilinear in float32, the algorithm
``F.interpolate(antialias=True)`` copies; colour preservation), so its PNGs equal the torch backend's
within one 8-bit level (tests/inference/test_lean.py). What the graph needs to know about the model
(inputs, default λ, training crop, G's minimum side) comes from the JSON sidecar written with it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from adaptive_st.data.images import load_rgb, pil_to_array
from adaptive_st.inference import StylizeOptions, crop_like_training, pad_amounts, resized_shape
from adaptive_st.inference.onnx_cache import read_sidecar, sidecar_of, style_graph_of

log = logging.getLogger(__name__)
#: λ is fed to S as a float32 (``inference.model.LAMBDA_LIMITS``, without importing torch).
LAMBDA_LIMITS = (float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max))


class GraphError(ValueError):
    """The exported graph cannot do what was asked, or produced NaN/inf; the message says what to do."""


@dataclass(frozen=True)
class LeanModel:
    """An exported graph and its sidecar; ``source``: the checkpoint (or .onnx file) the user named."""

    graph: Path
    meta: dict[str, Any]
    source: Path

    @classmethod
    def from_onnx_file(cls, path: Path) -> LeanModel:
        """A graph written by ``adaptive-st export`` with its ``.json`` sidecar beside it."""
        if not path.is_file():
            raise GraphError(f"{path}: no such ONNX file")
        meta = read_sidecar(sidecar_of(path))
        missing = [f.name for f in (sidecar_of(path), style_graph_of(path)) if not f.is_file()]
        if meta is None or missing:
            what = ", ".join(missing) or f"{sidecar_of(path).name} (unreadable or from another version of adaptive_st)"
            raise GraphError(f"{path}: {what} missing beside it; export the checkpoint again with `adaptive-st export`")
        return cls(path, meta, path)

    @property
    def style_graph(self) -> Path:
        return style_graph_of(self.graph)

    @property
    def weights_label(self) -> str:
        return str(self.meta.get("weights_label", self.meta["weights"]))

    @property
    def train_crop(self) -> tuple[int, int]:
        load, crop = self.meta["train_crop"]
        return int(load), int(crop)

    def check_lambda(self, lam: float | None) -> float | None:
        """λ to feed (explicit, else the policy's default) with ``inference.model.check_lambda``'s rules."""
        if not self.meta["conditioned"]:
            if lam is not None:
                raise GraphError(f"{self.source}: λ (--lam) is only an input of models trained with a "
                                 f"λ-conditioned policy; this model was trained with policy={self.meta['policy']}, "
                                 "whose λ was a training-time loss weight only. Use --alpha to dial the style "
                                 "strength instead.")
            return None
        if lam is None:
            if self.meta["lambda_default"] is None:
                raise GraphError(f"{self.source}: a per-image λ model needs VGG features for its λ, which are not "
                                 "exported; pass --lam, or stylize the checkpoint with --backend torch")
            return float(self.meta["lambda_default"])
        if not (math.isfinite(lam) and LAMBDA_LIMITS[0] <= lam <= LAMBDA_LIMITS[1]):
            lo, hi = LAMBDA_LIMITS
            raise GraphError(f"λ (--lam) {lam:g}: must be a finite number > 0 that float32 holds, in "
                             f"[{lo:.3g}, {hi:.3g}] (S conditions on log λ)")
        lo, hi = self.meta.get("lambda_range") or (None, None)
        if lo is not None and hi is not None and not lo <= lam <= hi:
            log.warning("λ=%g is outside the range [%g, %g] this model was trained on: results extrapolate",
                        lam, lo, hi)
        return lam


# ------------------------------------------------------------------------------------------ images
def read_image(path: str | Path) -> np.ndarray:
    """(3,H,W) float32 in [0,1] (``inference.images.read_image`` without the tensor)."""
    return pil_to_array(load_rgb(path))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """(3,H,W) in [0,1] → (H,W,3) uint8, rounded half to even like ``torch.round``."""
    return np.ascontiguousarray((np.clip(image, 0, 1) * np.float32(255)).round().astype(np.uint8).transpose(1, 2, 0))


def write_png(image: np.ndarray, path: str | Path) -> None:
    """Save (3,H,W) in [0,1] as an 8-bit PNG (zlib level 1, like ``inference.images.write_png``)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(to_uint8(image), mode="RGB").save(path, format="PNG", compress_level=1)


def resize_longer_side(image: np.ndarray, size: int | None) -> np.ndarray:
    """(3,H,W) resized so the longer side is ``size``: bilinear, antialiased when shrinking (PIL's filter,
    which ``F.interpolate(antialias=True)`` reimplements; upscaling, both are plain bilinear)."""
    h, w = image.shape[-2:]
    new_h, new_w = resized_shape(h, w, size)
    if (new_h, new_w) == (h, w):
        return image
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(c), mode="F").resize((new_w, new_h),
                                                                                   Image.Resampling.BILINEAR))
              for c in image]
    return np.clip(np.stack(planes), 0, 1).astype(np.float32)


def pad_to_multiple(x: np.ndarray, multiple: int, min_side: int) -> np.ndarray:
    """(…,H,W) padded at the bottom/right like ``inference.images.pad_to_multiple`` (reflect, or replicate
    where a side is too short to reflect that far)."""
    ph, pw = pad_amounts(x.shape[-2], x.shape[-1], multiple, min_side)
    if not (ph or pw):
        return x
    mode = "reflect" if x.shape[-2] > ph and x.shape[-1] > pw else "edge"
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, ph), (0, pw)], mode=mode)


# ------------------------------------------------------------------------------------------ colour
_TO_YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
                     dtype=np.float32)
_OFFSET = np.array([0.0, 0.5, 0.5], dtype=np.float32)[:, None, None]


def to_grey(x: np.ndarray) -> np.ndarray:
    """Y of a (3,H,W) RGB image, replicated to 3 channels (``inference.images.to_grey``)."""
    y = np.tensordot(_TO_YCBCR[0], x, axes=1).astype(np.float32)
    return np.repeat(y[None], 3, axis=0)


def keep_content_chroma(output: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The output's luminance with the content's Cb/Cr, clamped to [0,1]."""
    ycc = np.tensordot(_TO_YCBCR, content, axes=1) + _OFFSET
    ycc[0] = np.tensordot(_TO_YCBCR[0], output, axes=1)
    inverse = np.linalg.inv(_TO_YCBCR.astype(np.float64)).astype(np.float32)
    return np.clip(np.tensordot(inverse, ycc - _OFFSET, axes=1), 0, 1).astype(np.float32)


def match_color(style: np.ndarray, content: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Style (3,H,W) recoloured to the content's RGB mean and covariance (``inference.images.match_color``)."""
    def mean_cov(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels = x.astype(np.float64).reshape(3, -1)
        mean = pixels.mean(1, keepdims=True)
        centred = pixels - mean
        return mean, centred @ centred.T / max(pixels.shape[1] - 1, 1)

    def sqrtm(cov: np.ndarray, inverse: bool = False) -> np.ndarray:
        evals, evecs = np.linalg.eigh(cov + eps * np.eye(3))
        root = np.sqrt(np.maximum(evals, eps))
        return (evecs * (1 / root if inverse else root)) @ evecs.T

    mu_s, cov_s = mean_cov(style)
    mu_c, cov_c = mean_cov(content)
    out = sqrtm(cov_c) @ sqrtm(cov_s, inverse=True) @ (style.astype(np.float64).reshape(3, -1) - mu_s) + mu_c
    return np.clip(out.reshape(style.shape).astype(np.float32), 0, 1)


def release_free_memory() -> None:
    """Hand the heap's free pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Why: the style graph's scratch buffers, freed after it ran, would otherwise stay resident under the
    stylizer graph's arena for the rest of the job (measured: ~60 MB of a ~290 MB peak at 512²)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return
    if trim is not None:
        trim(0)


def encode_styles(session: Any, input_name: str, feeds: Sequence[np.ndarray],
                  weights: Sequence[float] | None) -> np.ndarray:
    """The style graph's (1, D) code of one style, or the weighted mean of several (``Stylizer.style_code``);
    shared by the torch-free and the onnxruntime engines."""
    codes = np.concatenate([session.run(None, {input_name: f})[0] for f in feeds])
    release_free_memory()
    if len(codes) == 1:
        return codes
    w = np.asarray(weights if weights is not None else [1.0] * len(codes), dtype=np.float32).reshape(-1, 1)
    return (w * codes).sum(0, keepdims=True) / max(float(w.sum()), 1e-8)


# ----------------------------------------------------------------------------------------- engine
@dataclass
class LeanStyle:
    """One style (or a weighted mix) for a whole folder: its code, computed once by the style graph
    (``images``: the style images, for colour preservation; empty for ids)."""

    name: str
    code: np.ndarray
    images: list[np.ndarray]
    weights: list[float] | None = None
    grey_code: np.ndarray | None = None


class LeanStyleTransfer:
    """``StyleTransfer``'s interface on the graphs: one style (or mix) per output, whole images, CPU, fp32."""

    def __init__(self, model: LeanModel, threads: int | None = None) -> None:
        try:
            import onnxruntime
        except ImportError:
            raise GraphError("running an ONNX graph needs onnxruntime: pip install onnxruntime") from None
        self.model = model
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        # Measured on 512² images: idle workers spin-wait by default (~2x the CPU time), and the memory pattern
        # planner allocates a second block after the first run (peak RSS 430 MB instead of 240 MB).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.enable_mem_pattern = False
        self.session = onnxruntime.InferenceSession(str(model.graph), options, providers=["CPUExecutionProvider"])
        # The style graph runs once per style: without the arena its buffers go back to the allocator instead of
        # staying reserved beside the stylizer's (a VGG style encoder at 256²: ~130 MB more peak RSS with it).
        options.enable_cpu_mem_arena = False
        self.style_session = onnxruntime.InferenceSession(str(model.style_graph), options,
                                                          providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        style_names = [i.name for i in self.style_session.get_inputs()]
        if names != list(model.meta["inputs"]) or style_names != list(model.meta["style_inputs"]):
            raise GraphError(f"{model.graph}: graph inputs {names} and {style_names} do not match its sidecar's "
                             f"{model.meta['inputs']} and {model.meta['style_inputs']}; export it again")
        self.names = names

    def _codes(self, feeds: Sequence[np.ndarray], weights: Sequence[float] | None) -> np.ndarray:
        return encode_styles(self.style_session, self.model.meta["style_inputs"][0], feeds, weights)

    def _encode(self, images: Sequence[np.ndarray], weights: Sequence[float] | None) -> np.ndarray:
        return self._codes([crop_like_training(to_uint8(im), *self.model.train_crop)[None] for im in images], weights)

    def style_from_images(self, images: Sequence[np.ndarray], name: str,
                          weights: Sequence[float] | None = None) -> LeanStyle:
        if self.model.meta["encoder_kind"] != "image":
            raise GraphError(f"{self.model.source}: this model has learned style ids (0..{self.model.meta['num_styles'] - 1}); "
                             "pass style ids, not images")
        return LeanStyle(name, self._encode(images, weights), list(images), None if weights is None else list(weights))

    def style_from_ids(self, ids: Sequence[int], name: str, weights: Sequence[float] | None = None) -> LeanStyle:
        n = self.model.meta.get("num_styles") or 0
        if self.model.meta["encoder_kind"] != "embedding":
            raise GraphError(f"{self.model.source}: style ids need a model trained with model=base_embedding; this "
                             "one encodes style images")
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise GraphError(f"style ids {bad} out of range: this model has {n} styles (0..{n - 1})")
        return LeanStyle(name, self._codes([np.array([i], dtype=np.int64) for i in ids], weights), [],
                         None if weights is None else list(weights))

    def stylize(self, content: np.ndarray, style: LeanStyle, options: StylizeOptions | None = None) -> np.ndarray:
        """(3,H,W) in [0,1] → stylized (3,H',W') float32; H',W' = H,W unless ``options.size``."""
        options = options or StylizeOptions()
        lam = self.model.check_lambda(options.lam)
        x = resize_longer_side(content, options.size)
        code, source = style.code, x
        if options.preserve_color == "histogram":
            if not style.images:
                raise GraphError("preserve_color=histogram recolours style images; it does not apply to style ids")
            code = self._encode([match_color(im, x) for im in style.images], style.weights)
        elif options.preserve_color == "luminance":
            if style.images and style.grey_code is None:
                style.grey_code = self._encode([to_grey(im) for im in style.images], style.weights)
            code = style.grey_code if style.grey_code is not None else code
            source = to_grey(x)
        h, w = x.shape[-2:]
        padded = pad_to_multiple(source[None], int(self.model.meta["multiple"]), int(self.model.meta["min_side"]))
        feeds = {self.names[0]: np.ascontiguousarray(padded, dtype=np.float32), "code": code,
                 "alpha": np.array([options.alpha], dtype=np.float32)}
        if lam is not None:
            feeds["lam"] = np.array([lam], dtype=np.float32)
        out = self.session.run(None, feeds)[0][0, :, :h, :w]
        if not np.isfinite(out).all():
            fix = ", or --no-ema" if self.model.meta["weights"] == "ema" else ""
            raise GraphError(f"{self.model.source}: the model's outputs are not finite (NaN/inf) although its "
                             f"{self.model.weights_label} weights are; the checkpoint is broken for this input — "
                             f"use an earlier checkpoint{fix}.")
        if options.preserve_color == "luminance":
            out = keep_content_chroma(out, x)
        return np.clip(out, 0, 1)
