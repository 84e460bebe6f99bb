"""TorchScript and ONNX export of G∘S, and the ONNX graph cache of ``stylize --backend onnxruntime``.

Signature: ``(content, style, alpha[, lam]) → output`` for any H×W. The ONNX graph has batch 1 and
symbolic H/W; the traced TorchScript accepts any batch. Both reflect-pad the content to a multiple of 8 and
crop back, so callers need not know G's stride. Inputs: ``content`` (B,3,H,W) and ``style`` (B or 1,3,h,w)
RGB in [0,1] (``style`` is (B,) int64 ids for embedding models), ``alpha`` (B or 1,) float, and for
λ-conditioned models ``lam`` (B or 1,) float > 0. A per-image model's λ needs VGG pair features, which are
not exported: pass λ. TorchScript is traced (``torch.jit.script`` cannot compile the generators); ONNX uses
the ``torch.export`` based exporter, the one that handles the antialiased resize of the style encoder and
symbolic H/W.

The ONNX cache: a graph is exported once per checkpoint (and per weight set, EMA or live), by default into
``<checkpoint folder>/.onnx_cache/`` (``~/.cache/adaptive_st/onnx`` when that folder is read-only), and is
checked against the eager model before it is used (``PARITY_TOLERANCE``). Its key holds the checkpoint's
path, size and mtime, the weight set, the opset and the torch / adaptive_st versions, so a re-trained
``last.ckpt`` is exported again and its stale graph removed.
"""

from __future__ import annotations

import contextlib
import hashlib
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

import adaptive_st
from adaptive_st.inference.choices import OPSET as OPSET  # Resize with antialias needs opset 18
from adaptive_st.inference.model import CheckpointError, LoadedModel, NonFiniteError
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
        x = F.pad(content, (0, (8 - w % 8) % 8, 0, (8 - h % 8) % 8), mode="reflect")
        out = self.stylizer(x, style, alpha, lam if self.conditioned else None)
        return out[..., :h, :w]


@dataclass(frozen=True)
class ExportSpec:
    """Names and example inputs of the exported signature."""

    input_names: tuple[str, ...]
    example: tuple[Tensor, ...]
    metadata: dict[str, Any]


def export_spec(model: LoadedModel, height: int = 100, width: int = 140) -> ExportSpec:
    """Example inputs (H, W not multiples of 8, style larger than the encoder's input size, so neither
    the padding nor the style resize is traced away)."""
    gen = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, height, width, generator=gen)
    if model.encoder_kind == "embedding":
        style = torch.zeros(1, dtype=torch.long)
    else:
        size = getattr(model.stylizer.style_generator.encoder, "image_size", 128) + 37
        style = torch.rand(1, 3, size, size + 11, generator=gen)
    names = ["content", "style_id" if model.encoder_kind == "embedding" else "style", "alpha"]
    example = [content, style, torch.tensor([0.8])]
    lam_range = None
    if model.conditioned:
        names.append("lam")
        lam_default = float(getattr(model.policy, "inference_lambda", 1.0))
        example.append(torch.tensor([lam_default]))
        lam_range = [getattr(model.policy, "lambda_min", None), getattr(model.policy, "lambda_max", None)]
    metadata = {
        "checkpoint": str(model.path),
        "weights": model.weights,
        "policy": model.policy_name,
        "inputs": names,
        "content": "float32 (B,3,H,W) RGB in [0,1], any H, W (ONNX: B = 1; TorchScript: any B)",
        "style": "int64 (B,) style ids" if model.encoder_kind == "embedding" else "float32 (B or 1,3,h,w) RGB in [0,1]",
        "alpha": "float32 (B or 1,) style strength in [0,1]",
        "lam": "float32 (B or 1,) λ_style > 0" if model.conditioned else None,
        "lambda_range": lam_range,
        "num_styles": model.num_styles or None,
        "output": "float32 (B,3,H,W) RGB in [0,1]",
    }
    return ExportSpec(tuple(names), tuple(example), metadata)


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
    dims = {
        "content": {2: torch.export.Dim("height", min=8, max=16384), 3: torch.export.Dim("width", min=8, max=16384)},
        "style": {2: torch.export.Dim("style_height", min=8, max=16384),
                  3: torch.export.Dim("style_width", min=8, max=16384)},
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
    for i, (h, w) in enumerate(sizes):
        # Every input differs from the traced example: constants baked into a trace would show here.
        inputs = [torch.rand(1, 3, h, w, generator=gen), spec.example[1], torch.tensor([0.3 + 0.2 * i])]
        if model.encoder_kind == "image":
            inputs[1] = torch.rand(1, 3, h + 9, w + 5, generator=gen)
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
CACHE_DIRNAME = ".onnx_cache"


def user_cache_dir() -> Path:
    """Fallback cache for checkpoints in read-only folders (``$XDG_CACHE_HOME``, else ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "adaptive_st" / "onnx"


def import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise CheckpointError("--backend onnxruntime needs onnxruntime, onnx and onnxscript: "
                              "pip install 'adaptive_st[export]' (or use --backend torch)") from None
    return onnxruntime


def cache_name(model: LoadedModel, opset: int = OPSET) -> str:
    """``<ckpt stem>.<ema|live>.<key>.onnx``; the key changes whenever the exported graph could."""
    stat = model.path.stat()
    key = {"path": str(model.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "weights": model.weights, "opset": opset, "torch": torch.__version__,
           "adaptive_st": adaptive_st.__version__}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return f"{model.path.stem}.{model.weights}.{digest}.onnx"


def cached_onnx(model: LoadedModel, cache_dir: Path | None = None, opset: int = OPSET,
                announce: Callable[[Path], None] | None = None) -> Path:
    """The model's ONNX graph from the cache, exported and parity-checked on first use.

    ``cache_dir`` replaces the default locations; ``announce(target)`` is called before an export (it
    takes a while: the CLI says so). Written to a temporary name and renamed, so an interrupted export
    never leaves a truncated graph that a later run would trust.
    """
    name = cache_name(model, opset)
    folders = [cache_dir] if cache_dir is not None else [model.path.parent / CACHE_DIRNAME, user_cache_dir()]
    for folder in folders:
        if (folder / name).is_file():
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
            os.replace(tmp, folder / name)
        except OSError as err:
            errors.append(f"{folder}: {err.strerror or err}")
            continue
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        stem = f"{model.path.stem}.{model.weights}."
        for stale in folder.glob(f"{stem}*.onnx"):
            if stale.name != name:
                with contextlib.suppress(OSError):
                    stale.unlink()
        return folder / name
    raise CheckpointError(f"{model.path}: cannot write the ONNX cache ({'; '.join(errors)}); "
                          "pass --onnx-cache DIR with a writable folder")

