"""`adaptive-st stylize --backend onnxruntime`: the same PNGs as the torch backend, refusals before any work."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from adaptive_st.cli.main import main as adaptive_st

pytest.importorskip("onnxruntime")


def test_onnxruntime_backend_writes_the_torch_backends_images(ema_ckpt, images, tmp_path, capsys):
    args = [str(ema_ckpt), str(images / "content" / "flowers.jpg"), str(images / "style" / "udnie.jpg"),
            "--size", "96", "--lam", "4", "--alpha", "0.7", "-q", "--threads", "2"]
    assert adaptive_st(["stylize", *args, "--out", str(tmp_path / "torch")]) == 0
    capsys.readouterr()
    cache = tmp_path / "cache"
    assert adaptive_st(["stylize", *args, "--out", str(tmp_path / "ort"), "--backend", "onnxruntime",
                        "--onnx-cache", str(cache)]) == 0
    err = capsys.readouterr().err
    assert f"exporting {ema_ckpt} (EMA weights) to ONNX once: {cache}" in err and "onnxruntime)" in err
    name = "flowers__udnie__a0.7__lam4.png"
    ref, out = (np.asarray(Image.open(tmp_path / d / name), dtype=np.int16) for d in ("torch", "ort"))
    assert ref.shape == out.shape and np.abs(ref - out).max() <= 1  # equal up to 8-bit rounding
    assert adaptive_st(["stylize", *args, "--out", str(tmp_path / "ort"), "--backend", "onnxruntime",
                        "--onnx-cache", str(cache), "--overwrite"]) == 0
    assert "exporting" not in capsys.readouterr().err  # the cached graph is reused


def test_options_the_graph_cannot_honour_are_refused_up_front(ema_ckpt, images, tmp_path, capsys):
    code = adaptive_st(["stylize", str(ema_ckpt), str(images / "content" / "flowers.jpg"),
                        str(images / "style" / "udnie.jpg"), str(images / "style" / "candy.jpg"),
                        "--style-weights", "1", "1", "--precision", "bf16", "--backend", "onnxruntime",
                        "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "--precision bf16: not available with --backend onnxruntime" in err
    assert not list(tmp_path.iterdir()) and not (ema_ckpt.parent / ".onnx_cache").exists()
    assert adaptive_st(["stylize", str(ema_ckpt), str(images / "content" / "flowers.jpg"),
                        str(images / "style" / "udnie.jpg"), "--threads", "0", "--out", str(tmp_path)]) == 1
    assert "--threads 0: must be >= 1" in capsys.readouterr().err
