"""stylize / export / evaluate: EMA weights by default (``--no-ema``: live), and a checkpoint with NaN/inf
weights or outputs is one error line naming it, with nothing written."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.inference import load_stylizer
from adaptive_st.inference.export import export_torchscript, parity
from tests.cli.conftest import edited_checkpoint


@pytest.fixture(scope="module")
def nan_ckpt(ema_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """NaN in both weight sets: every loader must refuse it."""
    return edited_checkpoint(ema_ckpt, tmp_path_factory.mktemp("broken") / "nan.ckpt",
                             ema__generator__stem__conv__weight=math.nan, generator__stem__conv__weight=math.nan)


@pytest.fixture(scope="module")
def overflow_ckpt(ema_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Finite weights whose outputs are NaN (the first conv overflows to inf, instance norm makes NaN)."""
    return edited_checkpoint(ema_ckpt, tmp_path_factory.mktemp("broken") / "overflow.ckpt",
                             ema__generator__stem__conv__weight=1e38, generator__stem__conv__weight=1e38)


def one_error_line(err: str, ckpt: Path, what: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert str(ckpt) in lines[0] and what in lines[0], lines[0]


def test_stylize_uses_the_ema_unless_told_otherwise(ema_ckpt, images, tmp_path, capsys):
    args = [str(ema_ckpt), str(images / "content" / "sailboat.jpg"), str(images / "style" / "candy.jpg"),
            "--size", "64", "-q"]
    assert adaptive_st(["stylize", *args, "--out", str(tmp_path / "ema")]) == 0
    assert "EMA weights" in capsys.readouterr().err
    assert adaptive_st(["stylize", *args, "--out", str(tmp_path / "live"), "--no-ema"]) == 0
    assert "live weights" in capsys.readouterr().err
    ema, live = (np.asarray(Image.open(tmp_path / d / "sailboat__candy.png"), dtype=np.int16) for d in ("ema", "live"))
    assert np.abs(ema - live).max() > 2  # different weights, visibly different images


@pytest.mark.parametrize(("fixture", "what"), [("nan_ckpt", "weights are not finite"),
                                               ("overflow_ckpt", "outputs are not finite")])
def test_stylize_refuses_broken_checkpoints(fixture, what, request, images, tmp_path, capsys):
    ckpt = request.getfixturevalue(fixture)
    code = adaptive_st(["stylize", str(ckpt), str(images / "content" / "sailboat.jpg"),
                        str(images / "style" / "candy.jpg"), "--size", "64", "--out", str(tmp_path), "-q"])
    assert code == 1
    one_error_line(capsys.readouterr().err, ckpt, what)
    assert not list(tmp_path.rglob("*.png"))  # no black image


@pytest.mark.parametrize(("fixture", "what"), [("nan_ckpt", "weights are not finite"),
                                               ("overflow_ckpt", "outputs are not finite")])
def test_export_refuses_broken_checkpoints_before_writing(fixture, what, request, tmp_path, capsys):
    ckpt = request.getfixturevalue(fixture)
    assert adaptive_st(["export", str(ckpt), "--out", str(tmp_path / "out")]) == 1
    one_error_line(capsys.readouterr().err, ckpt, what)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_parity_fails_on_non_finite_exported_outputs(ema_ckpt, overflow_ckpt, tmp_path, monkeypatch, capsys):
    # A traced file of the broken model checked against the good one: NaN must not count as "no difference".
    broken = export_torchscript(load_stylizer(overflow_ckpt), tmp_path / "broken.pt")
    assert parity(load_stylizer(ema_ckpt), torchscript=broken)["torchscript"] == math.inf
    monkeypatch.setattr("adaptive_st.inference.export.parity", lambda *a, **k: {"torchscript": math.inf})
    assert adaptive_st(["export", str(ema_ckpt), "--out", str(tmp_path / "out"), "--format", "torchscript"]) == 1
    captured = capsys.readouterr()
    assert "= inf (its outputs are not finite)" in captured.out
    assert f"error: {ema_ckpt}: the exported torchscript model does not match" in captured.err


def test_export_writes_the_weights_it_was_asked_for(ema_ckpt, tmp_path):
    outputs = {}
    for flag in ([], ["--no-ema"]):
        out = tmp_path / ("live" if flag else "ema")
        assert adaptive_st(["export", str(ema_ckpt), "--out", str(out), "--format", "torchscript", *flag]) == 0
        assert json.loads((out / "stylizer.json").read_text())["weights"] == out.name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            scripted = torch.jit.load(str(out / "stylizer.pt"))
        gen = torch.Generator().manual_seed(0)
        inputs = (torch.rand(1, 3, 40, 48, generator=gen), torch.rand(1, 3, 64, 64, generator=gen),
                  torch.tensor([1.0]), torch.tensor([5.0]))
        outputs[out.name] = scripted(*inputs)
    assert (outputs["ema"] - outputs["live"]).abs().max() > 1e-3


@pytest.mark.parametrize(("fixture", "what"), [("nan_ckpt", "weights are not finite"),
                                               ("overflow_ckpt", "outputs are not finite")])
def test_evaluate_reports_the_checkpoint_as_broken(fixture, what, request, images, tmp_path, capsys):
    ckpt = request.getfixturevalue(fixture)
    code = adaptive_st(["evaluate", str(ckpt), "--content", str(images / "content" / "sailboat.jpg"),
                        "--style", str(images / "style" / "candy.jpg"), "--size", "64", "--out", str(tmp_path),
                        "--hub-dir", str(tmp_path / "hub")])
    captured = capsys.readouterr()
    assert code == 1 and "unavailable" not in captured.out
    one_error_line(captured.err, ckpt, what)
    assert not (tmp_path / "report.md").exists()


def test_stylize_builds_neither_the_vgg_nor_the_discriminator(constant_ckpt, images, tmp_path, capsys):
    """The checkpoint's VGG file is gone and its D cannot be built: stylize needs neither."""
    checkpoint = torch.load(constant_ckpt, map_location="cpu", weights_only=True)
    config = checkpoint["adaptive_st"]["config"]
    config["loss"]["perceptual"]["vgg"]["weights_path"] = str(tmp_path / "missing_vgg.pth")
    config["model"]["discriminator"]["_target_"] = "adaptive_st.no_such_module.Discriminator"
    ckpt = tmp_path / "elsewhere.ckpt"
    torch.save(checkpoint, ckpt)
    assert adaptive_st(["stylize", str(ckpt), str(images / "content" / "sailboat.jpg"),
                        str(images / "style" / "candy.jpg"), "--size", "64", "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "sailboat__candy.png").is_file()
    # An evaluation does need the loss VGG: there, the missing file is the one-line error.
    assert adaptive_st(["evaluate", str(ckpt), "--content", str(images / "content" / "sailboat.jpg"),
                        "--style", str(images / "style" / "candy.jpg"), "--out", str(tmp_path / "eval")]) == 1
    assert "missing_vgg.pth" in capsys.readouterr().err
