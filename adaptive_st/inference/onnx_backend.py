"""``stylize --backend onnxruntime``: G∘S run by ONNX Runtime on the graph ``adaptive-st export`` writes.

The graph is exported once per checkpoint (and per weight set, EMA or live) into a cache, by default
``<checkpoint folder>/.onnx_cache/`` (``~/.cache/adaptive_st/onnx`` when that folder is read-only), and
is checked against the eager model before it is used (``PARITY_TOLERANCE``). The cache key holds the
checkpoint's path, size and mtime, the weight set, the opset and the torch / adaptive_st versions, so a
re-trained ``last.ckpt`` is exported again and its stale graph removed.

Everything around G∘S (reading images, the training-style crop of the style image, λ, colour
preservation) is the torch engine's, so both backends give the same numbers up to float rounding
(tests/inference checks 1e-4). What the exported graph cannot do is refused rather than approximated:
style mixing (the graph encodes one style), tiling, fp16/bf16 and CUDA.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

import adaptive_st
from adaptive_st.inference.engine import Style, StyleTransfer, StylizeOptions
from adaptive_st.inference.errors import CheckpointError, ConditionError
from adaptive_st.inference.export import OPSET, PARITY_TOLERANCE, export_onnx, export_spec, parity
from adaptive_st.inference.images import center_crop_like_training
from adaptive_st.inference.model import LoadedModel
from adaptive_st.inference.padding import crop_to, pad_to_multiple
from adaptive_st.inference.runtime import Runtime

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


class OnnxStyleTransfer(StyleTransfer):
    """:class:`StyleTransfer` whose G∘S runs in ONNX Runtime (CPU); styles are kept as the preprocessed
    style image the graph encodes, so a folder still prepares each style once."""

    def __init__(self, model: LoadedModel, onnx_path: Path, threads: int | None = None,
                 vgg_path: str | Path | None = None) -> None:
        super().__init__(model, Runtime(torch.device("cpu")), vgg_path)
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.onnx_path = Path(onnx_path)
        self.session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in self.session.get_inputs()]
        expected = list(export_spec(model).input_names)
        if names != expected:
            raise CheckpointError(f"{onnx_path}: graph inputs {names} do not match this checkpoint's "
                                  f"{expected}; delete the file (it is re-exported)")
        self._input_names = names

    def _encode(self, images: Sequence[Tensor], weights: Sequence[float] | None) -> Tensor:
        if len(images) != 1:
            raise ConditionError("--backend onnxruntime takes one style per output (the exported graph encodes a "
                                 "single style image); mix styles with --backend torch")
        load_size, crop = self.model.train_crop
        return center_crop_like_training(images[0], load_size, crop).unsqueeze(0)

    def style_from_ids(self, ids: Sequence[int], name: str, weights: Sequence[float] | None = None) -> Style:
        self._check_ids(ids, weights)
        if len(ids) != 1:
            raise ConditionError("--backend onnxruntime takes one style id per output; mix styles with "
                                 "--backend torch")
        return Style(name, torch.tensor(list(ids), dtype=torch.long), [], None)

    def _run(self, x: Tensor, code: Tensor, cond: Tensor | None, options: StylizeOptions) -> Tensor:
        if options.tile:
            raise ConditionError(f"--tile {options.tile}: the onnxruntime backend runs whole images; use "
                                 "--tile auto/0, or --backend torch for tiling")
        h, w = x.shape[-2:]
        padded = pad_to_multiple(x.unsqueeze(0).float(), min_side=self._min_side)  # 1×1, 3×5000: like torch
        feeds = {self._input_names[0]: padded.contiguous().numpy(),
                 self._input_names[1]: code.contiguous().numpy(),
                 "alpha": np.array([options.alpha], dtype=np.float32)}
        if self.model.conditioned:
            if cond is None:  # cannot happen: conditioned models always get a λ from default_condition
                raise ConditionError(f"{self.model.path}: no λ for a λ-conditioned model")
            feeds["lam"] = cond.reshape(1).float().cpu().numpy()
        return crop_to(torch.from_numpy(self.session.run(None, feeds)[0][0]), h, w)
