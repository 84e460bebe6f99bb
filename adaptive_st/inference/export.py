"""TorchScript and ONNX export of G∘S, and the ONNX graph cache of ``stylize --backend onnxruntime``.

Signature: ``(content, style, alpha[, lam]) → output`` for any H×W. The ONNX graph has batch 1 and
symbolic H/W; the traced TorchScript accepts any batch. Both reflect-pad the content to a multiple of 8 and
crop back, so callers need not know G's stride. Inputs: ``content`` (B,3,H,W) and ``style`` (B or 1,3,h,w)
RGB in [0,1] (``style`` is (B,) int64 ids for embedding models), ``alpha`` (B or 1,) float, and for
λ-conditioned models ``lam`` (B or 1,) float > 0. A per-image model's λ needs VGG pair features, which are
not exported: pass λ. TorchScript is traced (``torch.jit.script`` cannot compile the generators); ONNX uses
the ``torch.export`` based exporter, the one that handles the antialiased resize of the style encoder and
symbolic H/W.

The ONNX cache (``inference.onnx_cache``, which finds it without torch): a graph is exported once per
checkpoint (and per weight set, EMA or live) with a JSON sidecar of :func:`export_spec`'s metadata, and is
checked against the eager model before it is used (``PARITY_TOLERANCE``); a re-trained ``last.ckpt`` is
exported again and its stale graph removed. A model the exporter refuses gets a sidecar saying so.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptive_st.inference.choices import OPSET as OPSET  # Resize with antialias needs opset 18
from adaptive_st.inference.model import CheckpointError, LoadedModel, NonFiniteError, default_condition
from adaptive_st.inference.onnx_cache import (
    SIDECAR_FORMAT,
    cache_folders,
    cache_stem,
    read_sidecar,
    write_json,
)
from adaptive_st.inference.onnx_cache import user_cache_dir as user_cache_dir
from adaptive_st.models import Stylizer

#: Max |exported − eager| accepted by ``adaptive-st export`` and by the onnxruntime backend's cache.
PARITY_TOLERANCE = 1e-4


class ExportableStylizer(nn.Module):
    """The stylizer with padding and tensor-only inputs, ready for tracing/export."""

    def __init__(self, stylizer: Stylizer, conditioned: bool) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.conditioned = conditioned

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor, lam: Tensor | None = None) -> Tensor:
        h, w = content.shape[-2], content.shape[-1]
        # (h + 7) // 8 * 8, not h + (8 - h % 8) % 8: the exporter can prove the first is a multiple of 8, so a
        # generator that checks its input's divisibility is not specialised to the example's h % 8.
        x = F.pad(content, (0, (w + 7) // 8 * 8 - w, 0, (h + 7) // 8 * 8 - h), mode="reflect")
        out = self.stylizer(x, style, alpha, lam if self.conditioned else None)
        return out[..., :h, :w]


@dataclass(frozen=True)
class ExportSpec:
    """Names and example inputs of the exported signature."""

    input_names: tuple[str, ...]
    example: tuple[Tensor, ...]
    metadata: dict[str, Any]
    style_sides: tuple[int, int] = (16, 16384)  # the range of style H and W the graph is exported for


def style_example_sides(model: LoadedModel) -> tuple[int, tuple[int, int]]:
    """Side of the example style image, and the range of sides the graph is exported for.

    Style encoders resize the style to their ``image_size`` (always, or only above it). The example is on
    the same side of ``image_size`` as the training crop every stylize path feeds the graph: larger (the
    resize is traced) when the crop is, else smaller (an encoder that only shrinks is traced without it).
    """
    s = model.stylizer.style_generator
    size = int(getattr(s.encoder, "image_size", None) or getattr(s, "image_size", None) or 128)
    if model.train_crop[1] > size:
        return size + 37, (size + 1, 16384)
    return max(16, size - 11), (16, size)


def export_spec(model: LoadedModel, height: int = 100, width: int = 140) -> ExportSpec:
    """Example inputs (H, W not multiples of 8, and a style that makes the encoder take the branch it takes
    for the training crop, so neither the padding nor the style resize is traced away)."""
    from adaptive_st.inference.tiling import minimum_side

    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, height, width, generator=gen)
    sides = (16, 16384)
    if model.encoder_kind == "embedding":
        style = torch.zeros(1, dtype=torch.long)
    else:
        size, sides = style_example_sides(model)
        style = torch.rand(1, 3, size, size + (11 if size + 11 <= sides[1] else -5), generator=gen)
    names = ["content", "style_id" if model.encoder_kind == "embedding" else "style", "alpha"]
    example = [content, style, torch.tensor([0.8])]
    lam_range = None
    if model.conditioned:
        names.append("lam")
        lam_default = float(getattr(model.policy, "inference_lambda", 1.0))
        example.append(torch.tensor([lam_default]))
        lam_range = [getattr(model.policy, "lambda_min", None), getattr(model.policy, "lambda_max", None)]
    lam_default = None
    if model.conditioned and not model.per_image:
        lam_default = float(default_condition(model, None).reshape(-1)[0])  # type: ignore[union-attr]
    metadata = {
        "format": SIDECAR_FORMAT,
        "checkpoint": str(model.path),
        "weights": model.weights,
        "weights_label": model.weights_label,
        "policy": model.policy_name,
        "inputs": names,
        "encoder_kind": model.encoder_kind,
        "conditioned": model.conditioned,
        "per_image": model.per_image,
        "lambda_default": lam_default,
        "train_crop": list(model.train_crop),
        "min_side": minimum_side(model.stylizer.generator),
        "multiple": 8,
        "style_sides": list(sides),
        "content": "float32 (B,3,H,W) RGB in [0,1], any H, W (ONNX: B = 1; TorchScript: any B)",
        "style": "int64 (B,) style ids" if model.encoder_kind == "embedding" else
                 f"float32 (B or 1,3,h,w) RGB in [0,1], h and w in {sides[0]}..{sides[1]}",
        "alpha": "float32 (B or 1,) style strength in [0,1]",
        "lam": "float32 (B or 1,) λ_style > 0" if model.conditioned else None,
        "lambda_range": lam_range,
        "num_styles": model.num_styles or None,
        "output": "float32 (B,3,H,W) RGB in [0,1]",
    }
    return ExportSpec(tuple(names), tuple(example), metadata, sides)


def _module(model: LoadedModel) -> ExportableStylizer:
    stylizer = model.stylizer.to("cpu").to(memory_format=torch.contiguous_format).float().eval()
    return ExportableStylizer(stylizer, model.conditioned).eval()


def export_torchscript(model: LoadedModel, path: str | Path) -> Path:
    """Trace to a TorchScript file (load with ``torch.jit.load``)."""
    spec = export_spec(model)
    with torch.no_grad(), warnings.catch_warnings():
        # Shape checks inside G are constant for the padded input; the tracer's warnings about them are noise.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
        traced = torch.jit.trace(_module(model), spec.example, check_trace=False)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
    return path


def export_onnx(model: LoadedModel, path: str | Path, opset: int = OPSET) -> Path:
    """Export to ONNX with symbolic H/W for content and style."""
    spec = export_spec(model)
    lo, hi = spec.style_sides
    dims = {
        # At least 16: a 4-level encoder needs 2 px at 1/8 scale; stylize pads smaller images up to G's minimum side.
        "content": {2: torch.export.Dim("height", min=16, max=16384), 3: torch.export.Dim("width", min=16, max=16384)},
        "style": {2: torch.export.Dim("style_height", min=lo, max=hi),
                  3: torch.export.Dim("style_width", min=lo, max=hi)},
    }
    shapes = tuple(dims.get(name) for name in spec.input_names)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with torch.no_grad():
            torch.onnx.export(_module(model), spec.example, str(path), input_names=list(spec.input_names),
                              output_names=["output"], dynamic_shapes=shapes, opset_version=opset, dynamo=True,
                              verbose=False, external_data=False)
    except OSError:
        raise
    except Exception as err:  # the exporter fails with many types (e.g. an op ONNX has no function for)
        raise CheckpointError(f"{model.path}: this model cannot be exported to ONNX ({exporter_failure(err)}); "
                              "stylize with --backend torch, or export --format torchscript") from err
    return path


def exporter_failure(err: BaseException) -> str:
    """The informative line of a torch.onnx failure (its summary, without terminal colour codes)."""
    lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", str(err)).splitlines() if line.strip()]
    if "## Exception summary" in lines and lines.index("## Exception summary") + 1 < len(lines):
        line = lines[lines.index("## Exception summary") + 1]
    else:
        line = lines[0] if lines else type(err).__name__
    return re.sub(r"^<class '[\w.]*?(\w+)'>", r"\1", line)[:300]


def write_metadata(model: LoadedModel, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(export_spec(model).metadata, indent=2))
    return path


def check_eager_finite(model: LoadedModel) -> None:
    """Run the eager model on the export example; refuse NaN/inf before any file is written (an export of
    a broken model would pass a parity check against an equally broken reference)."""
    spec = export_spec(model)
    with torch.no_grad():
        out = _module(model)(*spec.example)
    if not bool(torch.isfinite(out).all()):
        raise NonFiniteError(f"{model.path}: the model's outputs are not finite (NaN/inf) on the export example "
                             f"although its {model.weights_label} weights are; nothing was exported — use an earlier "
                             "checkpoint" + (", or --no-ema" if model.weights == "ema" else "") + ".")


def _max_diff(out: Tensor, ref: Tensor) -> float:
    """Max |out − ref|, ``inf`` when ``out`` holds NaN/inf (NaN would compare as "within tolerance")."""
    if not bool(torch.isfinite(out).all()):
        return math.inf
    return float((out - ref).abs().max())


def parity(model: LoadedModel, torchscript: Path | None = None, onnx: Path | None = None,
           sizes: tuple[tuple[int, int], ...] = ((96, 128), (75, 61))) -> dict[str, float]:
    """Max |exported − eager| over inputs of several sizes (other than the traced one); ``inf`` for an
    exported model whose outputs are not finite. Non-finite eager outputs raise :class:`NonFiniteError`."""
    eager = _module(model)
    spec = export_spec(model)
    diffs: dict[str, float] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ts = torch.jit.load(str(torchscript)) if torchscript else None
    session = None
    if onnx:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    gen = torch.Generator().manual_seed(1)
    lo, hi = spec.style_sides
    for i, (h, w) in enumerate(sizes):
        # Every input differs from the traced example: constants baked into a trace would show here.
        inputs = [torch.rand(1, 3, h, w, generator=gen), spec.example[1], torch.tensor([0.3 + 0.2 * i])]
        if model.encoder_kind == "image":
            inputs[1] = torch.rand(1, 3, min(max(h + 9, lo), hi), min(max(w + 5, lo), hi), generator=gen)
        if model.conditioned:
            inputs.append(spec.example[3] * (2.0 + i))
        with torch.no_grad():
            ref = eager(*inputs)
            if not bool(torch.isfinite(ref).all()):
                raise NonFiniteError(f"{model.path}: the model's outputs are not finite (NaN/inf) on a {h}x{w} "
                                     f"test input although its {model.weights_label} weights are; the parity check "
                                     "cannot pass — use an earlier checkpoint.")
            if ts is not None:
                diffs["torchscript"] = max(diffs.get("torchscript", 0.0), _max_diff(ts(*inputs), ref))
        if session is not None:
            feeds = {n: t.numpy() for n, t in zip(spec.input_names, inputs)}
            out = torch.from_numpy(session.run(None, feeds)[0])
            diffs["onnx"] = max(diffs.get("onnx", 0.0), _max_diff(out, ref))
    return diffs


# -------------------------------------------------------------------------------------- ONNX cache
def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("--backend onnxruntime needs onnxruntime, onnx and onnxscript: "
                              "pip install 'adaptive_st[export]' (or use --backend torch)") from None
    return onnxruntime


def cache_name(model: LoadedModel, opset: int = OPSET) -> str:
    """``<ckpt stem>.<ema|live>.<key>.onnx`` (``onnx_cache.cache_stem``)."""
    return cache_stem(model.path, model.weights, opset) + ".onnx"


def _sidecar(model: LoadedModel, folder: Path, stem: str, default: bool | None, **extra: Any) -> None:
    """Write the sidecar of a cache entry. ``default``: the run loaded the checkpoint's default weights
    (True), or ran with ``--no-ema`` (None: keep what an earlier run found)."""
    old = read_sidecar(folder / f"{stem}.json") or {}
    meta = {**export_spec(model).metadata, "default": bool(default or old.get("default")), **extra}
    write_json(folder / f"{stem}.json", meta)


def cached_onnx(model: LoadedModel, cache_dir: Path | None = None, opset: int = OPSET,
                announce: Callable[[Path], None] | None = None, default: bool | None = True) -> Path:
    """The model's ONNX graph from the cache, exported and parity-checked on first use, with its sidecar.

    ``cache_dir`` replaces the default locations; ``announce(target)`` is called before an export (it
    takes a while: the CLI says so); ``default``: see :func:`_sidecar`. Written to a temporary name and
    renamed, so an interrupted export never leaves a truncated graph that a later run would trust.
    """
    stem = cache_stem(model.path, model.weights, opset)
    name = f"{stem}.onnx"
    folders = cache_folders(model.path, cache_dir)
    for folder in folders:
        if (folder / name).is_file():
            meta = read_sidecar(folder / f"{stem}.json")
            if meta is None or (default and not meta.get("default")):
                with contextlib.suppress(OSError):  # a graph cached before sidecars existed
                    _sidecar(model, folder, stem, default)
            return folder / name
    errors = []
    for folder in folders:
        tmp = folder / f".{name}.{os.getpid()}.tmp.onnx"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if announce is not None:
                announce(folder / name)
            export_onnx(model, tmp, opset)
            diff = parity(model, onnx=tmp).get("onnx", float("inf"))
            if not diff <= PARITY_TOLERANCE:
                raise CheckpointError(f"{model.path}: the ONNX export differs from the eager model by {diff:.2e} "
                                      f"(> {PARITY_TOLERANCE:g}); use --backend torch")
            _sidecar(model, folder, stem, default)
            os.replace(tmp, folder / name)
        except OSError as err:
            errors.append(f"{folder}: {err.strerror or err}")
            continue
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        remove_stale(folder, model, stem)
        return folder / name
    raise CheckpointError(f"{model.path}: cannot write the ONNX cache ({'; '.join(errors)}); "
                          "pass --onnx-cache DIR with a writable folder")


def remove_stale(folder: Path, model: LoadedModel, keep: str) -> None:
    """Graphs and sidecars of earlier versions of this checkpoint (same stem and weights, other key)."""
    for stale in folder.glob(f"{model.path.stem}.{model.weights}.*"):
        if stale.suffix in (".onnx", ".json") and stale.name.rsplit(".", 1)[0] != keep:
            with contextlib.suppress(OSError):
                stale.unlink()


def mark_unexportable(model: LoadedModel, reason: str, cache_dir: Path | None = None, opset: int = OPSET,
                      default: bool | None = True) -> None:
    """Remember in the cache that this checkpoint cannot be exported (``--backend auto`` then goes straight
    to torch); silently nothing when no cache folder is writable."""
    stem = cache_stem(model.path, model.weights, opset)
    for folder in cache_folders(model.path, cache_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _sidecar(model, folder, stem, default, exportable=False, reason=reason)
        except OSError:
            continue
        remove_stale(folder, model, stem)
        return
