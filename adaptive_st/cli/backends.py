"""Which engine a ``stylize`` job runs (``--backend auto | torch | onnxruntime``), decided without
importing torch: the torch-free ONNX Runtime path (``inference.lean``) when the checkpoint's graph is cached
and the options allow it, else torch (or the torch-side ONNX engine), which then caches the graph once so
the next run is torch-free."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from adaptive_st.cli.files import collect_images
from adaptive_st.inference import AUTO_TILE_ABOVE

if TYPE_CHECKING:
    from adaptive_st.inference import Runtime, StyleTransfer
    from adaptive_st.inference.lean import LeanModel


def check_backend_options(args: argparse.Namespace) -> None:
    """Refuse, before any loading, the options the onnxruntime backend cannot honour."""
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"--threads {args.threads}: must be >= 1")
    if args.backend == "torch" and is_onnx(args.checkpoint):
        raise ValueError(f"{args.checkpoint}: an exported ONNX graph runs in ONNX Runtime; use --backend auto or "
                         "onnxruntime, or stylize its .ckpt with --backend torch")
    if args.backend != "onnxruntime" and not is_onnx(args.checkpoint):
        return
    refused = torch_only_options(args)
    if refused:
        what = "an exported .onnx model" if is_onnx(args.checkpoint) else "--backend onnxruntime"
        raise ValueError(f"{', '.join(refused)}: not available with {what} (it runs the exported "
                         "fp32 graphs on the CPU, whole images); use --backend torch")


def is_onnx(path: Path) -> bool:
    return path.suffix.lower() == ".onnx"


def torch_only_options(args: argparse.Namespace) -> list[str]:
    """The options only the torch engine honours, as the user spelled them."""
    return [flag for flag, used in (
        (f"--device {args.device}", args.device not in ("auto", "cpu")),
        (f"--precision {args.precision}", args.precision != "fp32"),
        ("--compile", args.compile),
        (f"--tile {args.tile}", args.tile not in ("auto", "0")),
    ) if used]


def gpu_present() -> bool:
    """Whether ``--device auto`` may find CUDA, judged without importing torch (NVIDIA device nodes)."""
    import os

    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return Path("/dev/nvidiactl").exists() or Path("/dev/nvidia0").exists()


def lean_eligible(args: argparse.Namespace) -> bool:
    """``--backend auto``: the options let the torch-free path give the torch path's images."""
    import importlib.util

    from adaptive_st.data.images import ImageLoadError, probe_size

    if (torch_only_options(args) or args.channels_last is not None or args.vgg_path is not None
            or importlib.util.find_spec("onnxruntime") is None or (args.device == "auto" and gpu_present())):
        return False
    if args.tile != "auto":
        return True
    if args.size is not None:
        return args.size <= AUTO_TILE_ABOVE
    for path in collect_images([args.content], "content") if args.content.exists() else []:
        try:
            if max(probe_size(path)) > AUTO_TILE_ABOVE:  # torch would tile it
                return False
        except ImageLoadError:
            continue  # reported when the job reaches it
    return True


def lean_model(args: argparse.Namespace) -> LeanModel | None:
    """The graph to run without torch, or None for the torch-based engines (decided without importing torch)."""
    from adaptive_st.inference.lean import LeanModel
    from adaptive_st.inference.onnx_cache import find_cached

    if is_onnx(args.checkpoint):
        return LeanModel.from_onnx_file(args.checkpoint)
    if args.backend == "torch" or (args.backend == "auto" and not lean_eligible(args)) or args.vgg_path:
        return None
    found = find_cached(args.checkpoint, not args.no_ema, args.onnx_cache)
    if found is None or found.graph is None:
        return None
    model = LeanModel(found.graph, found.meta, args.checkpoint)
    if model.meta["per_image"] and args.lam is None:
        return None  # its λ needs VGG features: the torch engines compute them
    try:
        model.check_lambda(args.lam)
    except ValueError:
        return None  # the torch engines say it with their own words
    if bool(args.style_id) != (model.meta["encoder_kind"] == "embedding"):
        return None
    return model


def make_engine(args: argparse.Namespace, runtime: Runtime) -> StyleTransfer:
    """The torch engine, or ONNX Runtime on the checkpoint's cached export; only G, S and the policy are
    built (the VGG only if a per-image λ needs it, the discriminator never)."""
    import torch

    from adaptive_st.inference import StyleTransfer, load_stylizer

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    model = load_stylizer(args.checkpoint, runtime.device, use_ema=not args.no_ema)
    if args.backend != "onnxruntime":
        return StyleTransfer(model, runtime, args.vgg_path, args.compile)
    from adaptive_st.inference.engine import OnnxStyleTransfer
    from adaptive_st.inference.onnx_cache import cached_onnx

    def announce(target: Path) -> None:
        print(f"exporting {model.path} ({model.weights_label} weights) to ONNX once: {target}", file=sys.stderr)

    onnx_path = cached_onnx(model, args.onnx_cache, announce=announce, default=not args.no_ema or None)
    return OnnxStyleTransfer(model, onnx_path, args.threads, args.vgg_path)


def cache_graph_for_next_run(args: argparse.Namespace, engine: StyleTransfer) -> None:
    """``--backend auto`` ran torch although the options allow the lean path: export the graph now (once),
    so the next run is lean. A model the exporter refuses is remembered and keeps running on torch."""
    import importlib.util
    import os

    from adaptive_st.inference.onnx_cache import find_cached

    model = engine.model
    if (args.backend != "auto" or os.environ.get("ADAPTIVE_ST_AUTO_EXPORT", "1") == "0"
            or engine.runtime.device.type != "cpu" or not lean_eligible(args)
            or (model.per_image and args.lam is None) or importlib.util.find_spec("onnxscript") is None
            or find_cached(args.checkpoint, not args.no_ema, args.onnx_cache) is not None):
        return
    from adaptive_st.inference import CheckpointError
    from adaptive_st.inference.onnx_cache import cached_onnx, mark_unexportable

    default = not args.no_ema or None

    def announce(target: Path) -> None:
        print(f"exporting {model.path} ({model.weights_label} weights) to ONNX once, so that the next runs "
              f"need no torch: {target}", file=sys.stderr)

    try:
        cached_onnx(model, args.onnx_cache, announce=announce, default=default)
    except CheckpointError as err:
        mark_unexportable(model, str(err), args.onnx_cache, default=default)
        print(f"note: the next runs keep using torch: {err}", file=sys.stderr)
