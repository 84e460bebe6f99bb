"""TorchScript and ONNX export of G∘S, and the parity check of an export against the eager model.

TorchScript (traced; ``torch.jit.script`` cannot compile the generators) is the whole model:
``(content, style, alpha[, lam]) → output``, any batch. ONNX is two graphs, because a job stylizes many
photos with one style and S can cost more than G (a VGG style encoder at 256² is ~7 GMAC, G ~5 GMAC at
512²): ``X.style.onnx`` encodes a style once, ``style → code`` (B=1), and ``X.onnx`` renders each photo,
``(content, code, alpha[, lam]) → output`` (B=1, symbolic H/W). Mixing styles is a weighted mean of codes,
as in :meth:`~adaptive_st.models.Stylizer.style_code`. Both reflect-pad the content to a multiple of 8 and
crop back, so callers need not know G's stride. Inputs: ``content`` (B,3,H,W) and ``style`` (B or 1,3,h,w)
RGB in [0,1] (``style_id``: (B,) int64 ids for embedding models), ``alpha`` (B or 1,) float, and for
λ-conditioned models ``lam`` (B or 1,) float > 0. A per-image model's λ needs VGG pair features, which are
not exported: pass λ. ONNX uses the ``torch.export`` based exporter, the one that handles the antialiased
resize of the style encoder and symbolic H/W.

``stylize`` caches its ONNX graphs with these functions (``inference.onnx_cache``): exported once per
checkpoint and weight set, with :func:`export_spec`'s metadata as a JSON sidecar, and checked against the
eager model (``PARITY_TOLERANCE``) before use.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptive_st.inference import OPSET  # Resize with antialias needs opset 18
from adaptive_st.inference.model import CheckpointError, LoadedModel, NonFiniteError, default_condition
from adaptive_st.inference.onnx_cache import SIDECAR_FORMAT, style_graph_of
from adaptive_st.inference.tiling import minimum_side
from adaptive_st.models import Stylizer

#: Max |exported − eager| accepted by ``adaptive-st export`` and by the onnxruntime backend's cache.
PARITY_TOLERANCE = 1e-4


def pad8(content: Tensor) -> Tensor:
    """Reflect-pad H and W up to a multiple of 8. (h + 7) // 8 * 8, not h + (8 - h % 8) % 8: the exporter can
    prove the first is a multiple of 8, so a generator that checks its input's divisibility is not
    specialised to the example's h % 8."""
    h, w = content.shape[-2], content.shape[-1]
    return F.pad(content, (0, (w + 7) // 8 * 8 - w, 0, (h + 7) // 8 * 8 - h), mode="reflect")


class ExportableStylizer(nn.Module):
    """The whole stylizer with padding and tensor-only inputs (TorchScript)."""

    def __init__(self, stylizer: Stylizer, conditioned: bool) -> None:
        super().__init__()
        self.stylizer = stylizer
        self.conditioned = conditioned

    def forward(self, content: Tensor, style: Tensor, alpha: Tensor, lam: Tensor | None = None) -> Tensor:
        out = self.stylizer(pad8(content), style, alpha, lam if self.conditioned else None)
        return out[..., : content.shape[-2], : content.shape[-1]]


class ExportableRenderer(ExportableStylizer):
    """The ONNX stylizer graph: a prepared style code and one photo → the output."""

    def forward(self, content: Tensor, code: Tensor, alpha: Tensor, lam: Tensor | None = None) -> Tensor:
        cond = lam if self.conditioned else None
        params = self.stylizer.style_generator.modulation(code, cond)
        out = self.stylizer.generator(pad8(content), params, self.stylizer.alpha_for(alpha, cond))
        return out[..., : content.shape[-2], : content.shape[-1]]


class ExportableStyleEncoder(nn.Module):
    """The ONNX style graph: a style image (or id) → its code."""

    def __init__(self, stylizer: Stylizer) -> None:
        super().__init__()
        self.stylizer = stylizer

    def forward(self, style: Tensor) -> Tensor:
        return self.stylizer.style_generator.encode(style)


@dataclass(frozen=True)
class ExportSpec:
    """Names and example inputs of the exported signatures: the whole model's (TorchScript) and the two ONNX
    graphs' (``graph_inputs``: the stylizer graph, whose ``code`` comes from the style graph's one input)."""

    input_names: tuple[str, ...]
    example: tuple[Tensor, ...]
    metadata: dict[str, Any]
    style_sides: tuple[int, int] = (16, 16384)  # the range of style H and W the graph is exported for

    @property
    def graph_inputs(self) -> tuple[str, ...]:
        return (self.input_names[0], "code", *self.input_names[2:])

    @property
    def style_input(self) -> str:
        return self.input_names[1]


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
    code_dim = int(model.stylizer.style_generator.style_dim)  # every S declares its code size
    lam_default = None
    if model.conditioned and not model.per_image:
        lam_default = float(default_condition(model, None).reshape(-1)[0])  # type: ignore[union-attr]
    metadata = {
        "format": SIDECAR_FORMAT,
        "checkpoint": str(model.path),
        "weights": model.weights,
        "weights_label": model.weights_label,
        "policy": model.policy_name,
        "inputs": [names[0], "code", *names[2:]],      # X.onnx, the stylizer graph
        "style_inputs": [names[1]],                    # X.style.onnx, the style graph: → code
        "torchscript_inputs": names,
        "code_dim": code_dim,
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
        "code": f"float32 (1,{code_dim}) style code: the style graph's output (a weighted mean of codes mixes styles)",
        "alpha": "float32 (B or 1,) style strength in [0,1]",
        "lam": "float32 (B or 1,) λ_style > 0" if model.conditioned else None,
        "lambda_range": lam_range,
        "num_styles": model.num_styles or None,
        "output": "float32 (B,3,H,W) RGB in [0,1]",
    }
    return ExportSpec(tuple(names), tuple(example), metadata, sides)


def _cpu_stylizer(model: LoadedModel) -> Stylizer:
    return model.stylizer.to("cpu").to(memory_format=torch.contiguous_format).float().eval()


def _module(model: LoadedModel) -> ExportableStylizer:
    return ExportableStylizer(_cpu_stylizer(model), model.conditioned).eval()


def _style_module(model: LoadedModel) -> ExportableStyleEncoder:
    return ExportableStyleEncoder(_cpu_stylizer(model)).eval()


def _renderer(model: LoadedModel) -> ExportableRenderer:
    return ExportableRenderer(_cpu_stylizer(model), model.conditioned).eval()


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
    """Export the stylizer graph to ``path`` and the style graph beside it (``onnx_cache.style_graph_of``),
    with symbolic H/W for content and style."""
    spec = export_spec(model)
    lo, hi = spec.style_sides
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content, style, *rest = spec.example
    with torch.no_grad():
        code = _style_module(model)(style)
    style_dims = None
    if spec.style_input == "style":
        style_dims = ({2: torch.export.Dim("style_height", min=lo, max=hi),
                       3: torch.export.Dim("style_width", min=lo, max=hi)},)
    # At least 16: a 4-level encoder needs 2 px at 1/8 scale; stylize pads smaller images up to G's minimum side.
    content_dims = ({2: torch.export.Dim("height", min=16, max=16384), 3: torch.export.Dim("width", min=16, max=16384)},
                    *(None for _ in spec.graph_inputs[1:]))
    graphs = [(_style_module(model), (style,), [spec.style_input], style_dims, style_graph_of(path)),
              (_renderer(model), (content, code, *rest), list(spec.graph_inputs), content_dims, path)]
    try:
        for module, example, names, dims, target in graphs:
            with torch.no_grad():
                torch.onnx.export(module, example, str(target), input_names=names,
                                  output_names=["code" if target != path else "output"], dynamic_shapes=dims,
                                  opset_version=opset, dynamo=True, verbose=False, external_data=False)
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
    sessions = None
    if onnx:
        import onnxruntime

        sessions = [onnxruntime.InferenceSession(str(f), providers=["CPUExecutionProvider"])
                    for f in (style_graph_of(Path(onnx)), onnx)]
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
        if sessions is not None:
            style_session, session = sessions
            code = style_session.run(None, {spec.style_input: inputs[1].numpy()})[0]
            feeds = {n: t.numpy() for n, t in zip(spec.graph_inputs, inputs)} | {"code": code}
            out = torch.from_numpy(session.run(None, feeds)[0])
            diffs["onnx"] = max(diffs.get("onnx", 0.0), _max_diff(out, ref))
    return diffs
