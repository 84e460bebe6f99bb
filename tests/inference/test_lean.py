"""`stylize --backend auto`: torch on the first run, which caches the graph; then ONNX Runtime without torch,
writing the torch path's images (within one 8-bit level), with the torch path's refusals and errors."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from adaptive_st.cli.backends import lean_model
from adaptive_st.cli.resolvers import PROJECT_ROOT
from adaptive_st.cli.stylize import build_parser
from adaptive_st.cli.stylize import main as stylize
from adaptive_st.data.images import load_rgb
from adaptive_st.inference.onnx_cache import find_cached

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
LEAN = "onnxruntime without torch)"


def run(*args: object) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = stylize([*map(str, args), "-q"])
    return code, err.getvalue()


# Inputs are never a single flat colour: G's stacked instance norms turn a flat image's zero variance into
# amplified float rounding noise, which no two runtimes share.
def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path), dtype=np.int16)


@pytest.fixture(scope="module")
def first(ema_ckpt: Path, images: Path, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """A first `--backend auto` run (torch), which exports the graph into a private cache afterwards."""
    root = tmp_path_factory.mktemp("lean")
    contents = root / "contents"
    contents.mkdir()
    load_rgb(images / "content" / "flowers.jpg").resize((77, 101)).save(contents / "flowers.png")
    ramp = np.linspace(0, 255, 40 * 30 * 4).reshape(30, 40, 4).astype(np.uint8)
    Image.fromarray(ramp[..., ::-1].copy(), mode="RGBA").save(contents / "logo.png")  # alpha: onto white
    style = root / "udnie.png"
    load_rgb(images / "style" / "udnie.jpg").resize((120, 90)).save(style)
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ADAPTIVE_ST_AUTO_EXPORT", "1")
        code, err = run(ema_ckpt, contents, style, "--out", root / "torch", "--onnx-cache", cache, "--alpha", "0.7")
    assert code == 0, err
    return SimpleNamespace(ckpt=ema_ckpt, contents=contents, style=style, cache=cache, root=root, err=err)


def test_first_run_is_torch_and_caches_the_graph_with_its_sidecar(first):
    assert "EMA weights, torch)" in first.err and "to ONNX once, so that the next runs need no torch" in first.err
    found = find_cached(first.ckpt, cache_dir=first.cache)
    assert found is not None and found.graph is not None and found.sidecar == found.graph.with_suffix(".json")
    meta = found.meta
    assert meta["weights"] == "ema" and meta["default"] and meta["inputs"] == ["content", "code", "alpha", "lam"]
    assert found.graph.with_suffix(".style.onnx").is_file() and meta["style_inputs"] == ["style"]
    assert meta["conditioned"] and meta["lambda_default"] > 0 and meta["min_side"] >= 8
    assert find_cached(first.ckpt, use_ema=False, cache_dir=first.cache) is None  # --no-ema: the live graph


def test_next_run_is_lean_and_writes_the_torch_images(first, tmp_path):
    code, err = run(first.ckpt, first.contents, first.style, "--out", tmp_path, "--onnx-cache", first.cache,
                    "--alpha", "0.7")
    assert code == 0 and LEAN in err and "exporting" not in err
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["flowers__udnie__a0.7.png", "logo__udnie__a0.7.png"]
    for name in names:
        ref, out = pixels(first.root / "torch" / name), pixels(tmp_path / name)
        assert ref.shape == out.shape and np.abs(ref - out).max() <= 1


@pytest.mark.parametrize("options", [("--size", "64", "--lam", "3", "--preserve-color", "histogram"),
                                     ("--size", "150", "--preserve-color", "luminance")])
def test_resize_lambda_and_colour_match_the_torch_backend(first, tmp_path, options):
    content = first.contents / "flowers.png"
    common = (first.ckpt, content, first.style, "--onnx-cache", first.cache, *options)
    assert run(*common, "--out", tmp_path / "torch", "--backend", "torch")[0] == 0
    code, err = run(*common, "--out", tmp_path / "lean")
    assert code == 0 and LEAN in err
    (name,) = [p.name for p in (tmp_path / "lean").iterdir()]
    ref, out = pixels(tmp_path / "torch" / name), pixels(tmp_path / "lean" / name)
    assert ref.shape == out.shape and np.abs(ref - out).max() <= 1


def test_the_lean_process_never_imports_torch(first, tmp_path):
    script = ("import sys; from adaptive_st.cli.main import main; "
              f"code = main(['stylize', {str(first.ckpt)!r}, {str(first.contents)!r}, {str(first.style)!r}, "
              f"'--out', {str(tmp_path)!r}, '--onnx-cache', {str(first.cache)!r}, '-q']); "
              "assert code == 0, code; loaded = [m for m in sys.modules if m.split('.')[0] == 'torch']; "
              "assert not loaded, loaded")
    proc = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert LEAN in proc.stderr and len(list(tmp_path.iterdir())) == 2


@pytest.mark.parametrize("options", [("--tile", "64"), ("--no-ema",), ("--precision", "bf16"), ("--compile",),
                                     ("--channels-last",), ("--size", "4096"), ("--device", "cuda")])
def test_options_only_torch_honours_choose_torch(first, options):
    args = build_parser().parse_args([str(first.ckpt), str(first.contents), str(first.style),
                                      "--onnx-cache", str(first.cache), *options])
    assert lean_model(args) is None
    plain = build_parser().parse_args([str(first.ckpt), str(first.contents), str(first.style),
                                       "--onnx-cache", str(first.cache)])
    assert lean_model(plain) is not None


def test_unexportable_models_keep_running_on_torch(constant_ckpt, first, tmp_path, monkeypatch):
    """Like WCT (eigh): the export fails once, is remembered, and never slows a later run down."""
    import adaptive_st.inference.export as export
    from adaptive_st.inference.model import CheckpointError

    ckpt = Path(shutil.copy2(constant_ckpt, tmp_path / "last.ckpt"))
    monkeypatch.setenv("ADAPTIVE_ST_AUTO_EXPORT", "1")

    def refuse(model, path, opset=18):
        raise CheckpointError(f"{model.path}: this model cannot be exported to ONNX (DispatchError: aten._linalg_eigh)")

    monkeypatch.setattr(export, "export_onnx", refuse)
    args = (ckpt, first.contents / "flowers.png", first.style, "--out", tmp_path / "out")
    code, err = run(*args)
    assert code == 0 and "torch)" in err and "note: the next runs keep using torch" in err
    found = find_cached(ckpt)
    assert found is not None and found.graph is None and "eigh" in found.meta["reason"]
    monkeypatch.setattr(export, "export_onnx", lambda *a, **k: pytest.fail("export retried"))
    code, err = run(*args, "--overwrite")
    assert code == 0 and "torch)" in err and "note:" not in err


def graph_copy(first: SimpleNamespace, folder: Path, poison: bool = False) -> Path:
    """The cached graphs as `adaptive-st export` lays them out (<name>.onnx, <name>.style.onnx, <name>.json);
    ``poison``: NaN weights everywhere in the stylizer graph, so every output pixel is NaN."""
    found = find_cached(first.ckpt, cache_dir=first.cache)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "stylizer.onnx"
    shutil.copy(found.sidecar, target.with_suffix(".json"))
    shutil.copy(found.graph.with_suffix(".style.onnx"), target.with_suffix(".style.onnx"))
    if not poison:
        return Path(shutil.copy(found.graph, target))
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(found.graph))
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if arr.dtype == np.float32 and arr.ndim == 4:  # convolution weights
            init.CopyFrom(numpy_helper.from_array(np.full_like(arr, np.nan), init.name))
    onnx.save(model, str(target))
    return target


def test_an_exported_onnx_file_is_a_model(first, tmp_path):
    graph = graph_copy(first, tmp_path / "exported")
    code, err = run(graph, first.contents, first.style, "--out", tmp_path / "out", "--alpha", "0.7")
    assert code == 0 and LEAN in err
    for name in ("flowers__udnie__a0.7.png", "logo__udnie__a0.7.png"):
        assert np.abs(pixels(first.root / "torch" / name) - pixels(tmp_path / "out" / name)).max() <= 1
    code, err = run(graph, first.contents, first.style, "--out", tmp_path / "t", "--backend", "torch")
    assert code == 1 and "runs in ONNX Runtime; use --backend auto" in err and "Traceback" not in err
    graph.with_suffix(".style.onnx").unlink()
    code, err = run(graph, first.contents, first.style, "--out", tmp_path / "t")
    assert code == 1 and "stylizer.style.onnx missing beside it" in err and "Traceback" not in err
    graph.with_suffix(".json").unlink()
    code, err = run(graph, first.contents, first.style, "--out", tmp_path / "t")
    assert code == 1 and "stylizer.json, stylizer.style.onnx missing" in err and "Traceback" not in err


def test_style_mixes_on_the_graphs_match_torch(first, tmp_path):
    """Two styles mixed 3:1 on the torch-free path: the torch path's image (codes mixed the same way)."""
    other = first.root / "candy.png"
    if not other.exists():
        Image.open(first.style).transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(90, expand=True).save(other)
    args = (first.contents, first.style, other, "--style-weights", "3", "1", "--onnx-cache", first.cache)
    code, err = run(first.ckpt, *args, "--out", tmp_path / "lean")
    assert code == 0 and LEAN in err, err
    code, err = run(first.ckpt, *args, "--out", tmp_path / "torch", "--backend", "torch")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "torch").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "lean").iterdir()) and len(names) == 2
    for name in names:
        assert np.abs(pixels(tmp_path / "torch" / name) - pixels(tmp_path / "lean" / name)).max() <= 1


def test_bad_inputs_unreadable_files_and_existing_outputs(first, tmp_path):
    folder = tmp_path / "contents"
    shutil.copytree(first.contents, folder)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    args = (first.ckpt, folder, first.style, "--out", tmp_path / "out", "--onnx-cache", first.cache)
    code, err = run(*args)
    assert code == 1 and LEAN in err and "skipped" in err and "broken.jpg" in err
    assert "1 content image(s) could not be read" in err and len(list((tmp_path / "out").iterdir())) == 2
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()}
    code, err = run(*args)
    assert code == 1 and "refusing to overwrite 2 existing output file(s)" in err
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "out").iterdir()} == before
    code, err = run(*args, "--lam", "-1")
    assert code == 1 and "λ (--lam) -1: must be a finite number" in err and "Traceback" not in err


def test_non_finite_outputs_are_an_error_and_nothing_is_written(first, tmp_path):
    graph = graph_copy(first, tmp_path / "poisoned", poison=True)
    code, err = run(graph, first.contents, first.style, "--out", tmp_path / "out")
    assert code == 1 and "outputs are not finite (NaN/inf)" in err and "--no-ema" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
