"""The ONNX graph cache of ``stylize``: where a checkpoint's exported graph is kept, how it is found
without importing torch, and how it is exported (and parity-checked) on first use.

A graph is cached per checkpoint and weight set (EMA or live) as ``<stem>.<weights>.<key>.onnx`` (the
stylizer graph) and ``<stem>.<weights>.<key>.style.onnx`` (the style graph, ``export``'s docstring) with a
JSON sidecar ``<stem>.<weights>.<key>.json`` (``export_spec(...).metadata``: inputs, λ default, training
crop, minimum side, …), by default in ``<checkpoint folder>/.onnx_cache/`` (``~/.cache/adaptive_st/onnx``
when that folder is read-only). The key hashes the checkpoint's path, size and mtime, the weight set, the
opset, the torch / adaptive_st versions (read from package metadata, not by importing torch) and a digest of
the model sources (``graph_source_digest``), so a re-trained ``last.ckpt``, or one loaded by changed model code, is
exported again. A model that cannot be exported (e.g. WCT's eigh) leaves a
sidecar with ``"exportable": false`` and no graph, so ``--backend auto`` does not retry it on every run.
A graph is checked against the eager model before it is used (``export.PARITY_TOLERANCE``); a re-trained
checkpoint's stale graph is removed. Finding needs no torch; writing (``cached_onnx``, ``mark_unexportable``:
given a loaded model) imports ``export`` when called.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import adaptive_st
from adaptive_st.inference import OPSET

if TYPE_CHECKING:
    from adaptive_st.inference.model import LoadedModel

CACHE_DIRNAME = ".onnx_cache"
#: Version of the sidecar's fields; sidecars of another version are ignored (the graph is re-exported).
SIDECAR_FORMAT = 2  # 2: two graphs (style → code; content + code → output)


def user_cache_dir() -> Path:
    """Fallback cache for checkpoints in read-only folders (``$XDG_CACHE_HOME``, else ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "adaptive_st" / "onnx"


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "none"


#: The sources that define an exported graph: the networks, the losses' VGG and statistics, the export wrappers.
GRAPH_SOURCES = ("models", "losses", "inference/export.py")


@functools.cache
def graph_source_digest() -> str:
    """A digest of :data:`GRAPH_SOURCES`' Python files. Why: a graph exported by earlier code of the same version (an
    editable install while the model changes) would otherwise be reused silently; reading ~20 files costs ~1 ms."""
    root = Path(adaptive_st.__file__).parent
    digest = hashlib.sha256()
    for entry in GRAPH_SOURCES:
        path = root / entry
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:16]


def cache_stem(checkpoint: Path, weights: str, opset: int = OPSET) -> str:
    """``<ckpt stem>.<ema|live>.<key>``; the key changes whenever the exported graph could."""
    stat = checkpoint.stat()
    key = {"path": str(checkpoint.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
           "weights": weights, "opset": opset, "torch": package_version("torch"),
           "adaptive_st": adaptive_st.__version__, "source": graph_source_digest()}
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return f"{checkpoint.stem}.{weights}.{digest}"


def cache_folders(checkpoint: Path, cache_dir: Path | None = None) -> list[Path]:
    return [cache_dir] if cache_dir is not None else [checkpoint.parent / CACHE_DIRNAME, user_cache_dir()]


def sidecar_of(graph: Path) -> Path:
    return graph.with_suffix(".json")


def style_graph_of(graph: Path) -> Path:
    """The style graph written beside a stylizer graph: ``X.onnx`` → ``X.style.onnx``."""
    return graph.with_suffix(".style.onnx")


def read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar's fields, or None when it is missing, unreadable or of another format."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == SIDECAR_FORMAT else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically (a temporary name, then renamed): a reader never sees half a sidecar."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


@dataclass(frozen=True)
class CachedGraph:
    """A cache entry: the graph (None for a model that cannot be exported) and its sidecar."""

    graph: Path | None
    sidecar: Path
    meta: dict[str, Any]


def find_cached(checkpoint: Path, use_ema: bool = True, cache_dir: Path | None = None,
                opset: int = OPSET) -> CachedGraph | None:
    """The cached graph of the weights a run would load, or None when there is none yet.

    ``use_ema``: the EMA graph when the checkpoint has one, else the live graph of a checkpoint without an
    EMA (its sidecar says ``"default": true``); without it, the live graph.
    """
    try:
        stems = [cache_stem(checkpoint, w, opset) for w in (("ema", "live") if use_ema else ("live",))]
    except OSError:
        return None
    for stem in stems:
        for folder in cache_folders(checkpoint, cache_dir):
            meta = read_sidecar(folder / f"{stem}.json")
            if meta is None or (use_ema and meta.get("weights") == "live" and not meta.get("default")):
                continue
            if meta.get("exportable") is False:
                return CachedGraph(None, folder / f"{stem}.json", meta)
            if (folder / f"{stem}.onnx").is_file() and (folder / f"{stem}.style.onnx").is_file():
                return CachedGraph(folder / f"{stem}.onnx", folder / f"{stem}.json", meta)
    return None


# ------------------------------------------------------------------------- export on first use
def cache_name(model: LoadedModel, opset: int = OPSET) -> str:
    """``<ckpt stem>.<ema|live>.<key>.onnx`` (``onnx_cache.cache_stem``)."""
    return cache_stem(model.path, model.weights, opset) + ".onnx"


def _sidecar(model: LoadedModel, folder: Path, stem: str, default: bool | None, **extra: Any) -> None:
    """Write the sidecar of a cache entry. ``default``: the run loaded the checkpoint's default weights
    (True), or ran with ``--no-ema`` (None: keep what an earlier run found)."""
    from adaptive_st.inference.export import export_spec

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
    import adaptive_st.inference.export as exporter
    from adaptive_st.inference import CheckpointError

    stem = cache_stem(model.path, model.weights, opset)
    name = f"{stem}.onnx"
    folders = cache_folders(model.path, cache_dir)
    for folder in folders:
        if (folder / name).is_file() and style_graph_of(folder / name).is_file():
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
            exporter.export_onnx(model, tmp, opset)
            diff = exporter.parity(model, onnx=tmp).get("onnx", float("inf"))
            if not diff <= exporter.PARITY_TOLERANCE:
                raise CheckpointError(f"{model.path}: the ONNX export differs from the eager model by {diff:.2e} "
                                      f"(> {exporter.PARITY_TOLERANCE:g}); use --backend torch")
            _sidecar(model, folder, stem, default)
            os.replace(style_graph_of(tmp), style_graph_of(folder / name))  # the stylizer graph last: it marks
            os.replace(tmp, folder / name)                                  # a complete entry
        except OSError as err:
            errors.append(f"{folder}: {err.strerror or err}")
            continue
        finally:
            for leftover in (tmp, style_graph_of(tmp)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        remove_stale(folder, model, stem)
        return folder / name
    raise CheckpointError(f"{model.path}: cannot write the ONNX cache ({'; '.join(errors)}); "
                          "pass --onnx-cache DIR with a writable folder")


def remove_stale(folder: Path, model: LoadedModel, keep: str) -> None:
    """Graphs and sidecars of earlier versions of this checkpoint (same stem and weights, other key)."""
    for stale in folder.glob(f"{model.path.stem}.{model.weights}.*"):
        entry = stale.name.removesuffix(".style.onnx").removesuffix(".onnx").removesuffix(".json")
        if stale.suffix in (".onnx", ".json") and entry != keep:
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
