"""The onnxruntime backend: the same numbers as eager, a cache that is reused and renewed, clear refusals."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from adaptive_st.inference import (
    ConditionError,
    StyleTransfer,
    StylizeOptions,
    load_stylizer,
    read_image,
    resolve_runtime,
)
from adaptive_st.inference.engine import OnnxStyleTransfer
from adaptive_st.inference.export import PARITY_TOLERANCE, exporter_failure
from adaptive_st.inference.images import resize_longer_side
from adaptive_st.inference.onnx_cache import cache_name, cached_onnx

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def ckpt_copy(ema_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy: these tests export next to it and change its mtime."""
    folder = tmp_path_factory.mktemp("onnx_ckpt")
    return Path(shutil.copy2(ema_ckpt, folder / "last.ckpt"))


@pytest.fixture(scope="module")
def engines(ckpt_copy: Path) -> tuple[StyleTransfer, OnnxStyleTransfer]:
    onnx_path = cached_onnx(load_stylizer(ckpt_copy))  # the default cache, next to the checkpoint
    assert onnx_path.parent == ckpt_copy.parent / ".onnx_cache"
    return (StyleTransfer(load_stylizer(ckpt_copy), resolve_runtime("cpu")),
            OnnxStyleTransfer(load_stylizer(ckpt_copy), onnx_path, threads=2))


@pytest.mark.parametrize(("alpha", "lam", "preserve"), [(1.0, None, "none"), (0.4, 20.0, "luminance"),
                                                         (0.8, 2.0, "histogram")])
def test_same_numbers_as_eager(engines, images: Path, alpha, lam, preserve):
    eager, ort = engines
    content = read_image(images / "content" / "flowers.jpg")[:, :77, :101]  # odd sizes: padding is exercised
    style = resize_longer_side(read_image(images / "style" / "udnie.jpg"), 200)
    options = StylizeOptions(alpha=alpha, lam=lam, preserve_color=preserve)
    ref, lam_eager = eager.stylize_with_condition(content, eager.style_from_images([style], "u"), options)
    out, lam_ort = ort.stylize_with_condition(content, ort.style_from_images([style], "u"), options)
    assert out.shape == ref.shape == (3, 77, 101) and lam_ort == lam_eager
    assert float((out - ref).abs().max()) <= PARITY_TOLERANCE
    assert float((ref - content).abs().mean()) > 1e-3  # the model does change the image


def test_what_the_graph_cannot_do_is_refused(engines, images: Path):
    _, ort = engines
    a = resize_longer_side(read_image(images / "style" / "candy.jpg"), 96)
    style = ort.style_from_images([a], "a")
    with pytest.raises(ConditionError, match="runs whole images"):
        ort.stylize(torch.rand(3, 80, 80), style, StylizeOptions(tile=64))


def test_cache_is_reused_then_renewed_when_the_checkpoint_changes(engines, ckpt_copy: Path):
    first = cached_onnx(load_stylizer(ckpt_copy), announce=lambda _: pytest.fail("exported again"))
    assert first.is_file()
    live = load_stylizer(ckpt_copy, use_ema=False)
    assert cache_name(live) != first.name and ".live." in cache_name(live)  # EMA and live never share a file
    stat = ckpt_copy.stat()
    os.utime(ckpt_copy, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a re-trained last.ckpt
    announced: list[Path] = []
    second = cached_onnx(load_stylizer(ckpt_copy), announce=announced.append)
    assert announced == [second] and second != first
    assert second.is_file() and not first.exists()  # the stale graph (and its sidecar) is removed
    # no temporary file left behind; the sidecar lets `stylize` find and run the graph without torch
    assert sorted(p.name for p in second.parent.iterdir()) == sorted(
        [second.name, second.stem + ".style.onnx", second.stem + ".json"])


def test_mixed_styles_match_eager(engines, images: Path):
    """A 3:1 mix of two styles: the style graph encodes each, the codes are mixed as in torch."""
    eager, ort = engines
    a, b = (resize_longer_side(read_image(images / "style" / n), 96) for n in ("candy.jpg", "sketch.png"))
    content = read_image(images / "content" / "flowers.jpg")[:, :64, :80]
    mixed, single = eager.style_from_images([a, b], "mix", weights=[3.0, 1.0]), eager.style_from_images([a], "a")
    mixed_ort = ort.style_from_images([a, b], "mix", weights=[3.0, 1.0])
    torch.testing.assert_close(mixed_ort.code, mixed.code, atol=1e-5, rtol=0)
    assert float((mixed.code - single.code).abs().max()) > 1e-3  # the second style does take part
    out, ref = ort.stylize(content, mixed_ort), eager.stylize(content, mixed)
    assert float((out - ref).abs().max()) <= PARITY_TOLERANCE


def test_the_sidecar_declares_the_code_the_style_graph_returns(engines, ckpt_copy: Path, images: Path):
    """`code_dim` comes from S's declared ``style_dim`` (no style pass at export): it must be the graph's."""
    _, ort = engines
    code = ort.style_from_images([resize_longer_side(read_image(images / "style" / "candy.jpg"), 96)], "c").code
    sidecar = json.loads(cached_onnx(load_stylizer(ckpt_copy)).with_suffix(".json").read_text())
    assert code.shape == (1, sidecar["code_dim"])


def test_exporter_failures_are_summarised_in_one_line():
    message = ("Failed to convert the exported program to an ONNX model. \x1b[96mThis is step 3/3\x1b[0m of "
               "exporting the model to ONNX. Next steps:\n- If there is a missing ONNX function, implement it.\n\n"
               "## Exception summary\n\n<class 'torch.onnx._internal.exporter._errors.DispatchError'>: No ONNX "
               "function found for <OpOverload(op='aten._linalg_eigh', overload='default')>.\n⬆️\n")
    assert exporter_failure(RuntimeError(message)) == (
        "DispatchError: No ONNX function found for <OpOverload(op='aten._linalg_eigh', overload='default')>.")
    assert exporter_failure(ValueError("\x1b[96mplain\x1b[0m first line\nmore")) == "plain first line"


def test_the_cache_key_changes_with_the_model_sources(tmp_path: Path, monkeypatch):
    """A graph exported by earlier model code of the same version (an editable install) is not reused: the key holds
    a digest of the sources that define the graph, and only of those."""
    import adaptive_st
    from adaptive_st.inference import onnx_cache

    package = tmp_path / "adaptive_st"
    for rel in ("__init__.py", "models/micro.py", "losses/vgg.py", "inference/export.py", "cli/main.py"):
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(f"# {rel}\n")
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"weights")
    monkeypatch.setattr(adaptive_st, "__file__", str(package / "__init__.py"))

    def stem() -> str:
        onnx_cache.graph_source_digest.cache_clear()
        return onnx_cache.cache_stem(ckpt, "ema")

    try:
        before = stem()
        (package / "cli" / "main.py").write_text("# a CLI change does not change the graph\n")
        assert stem() == before
        for rel in ("models/micro.py", "losses/vgg.py", "inference/export.py"):
            (package / rel).write_text((package / rel).read_text() + "# changed\n")
            after = stem()
            assert after != before, rel
            before = after
    finally:
        onnx_cache.graph_source_digest.cache_clear()
