"""`adaptive-st export`: TorchScript and ONNX files whose outputs match the eager model."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.inference import load_stylizer
from adaptive_st.inference.export import ExportableStylizer


@pytest.fixture(scope="module")
def exported(conditional_ckpt: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    assert adaptive_st(["export", str(conditional_ckpt), "--out", str(out)]) == 0
    return out


def eager_and_inputs(ckpt: Path, h: int, w: int, alpha: float, lam: float):
    model = load_stylizer(ckpt)
    gen = torch.Generator().manual_seed(h)
    inputs = (torch.rand(1, 3, h, w, generator=gen), torch.rand(1, 3, 150, 90, generator=gen),
              torch.tensor([alpha]), torch.tensor([lam]))
    return ExportableStylizer(model.stylizer, conditioned=True).eval(), inputs


@pytest.mark.parametrize(("h", "w", "alpha", "lam"), [(64, 80, 1.0, 5.0), (37, 53, 0.4, 30.0)])
def test_torchscript_and_onnx_match_eager(exported: Path, conditional_ckpt: Path, h, w, alpha, lam):
    import onnxruntime

    eager, inputs = eager_and_inputs(conditional_ckpt, h, w, alpha, lam)
    with torch.no_grad():
        ref = eager(*inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(exported / "stylizer.pt"))
    torch.testing.assert_close(scripted(*inputs), ref, atol=1e-5, rtol=0)
    style_graph = onnxruntime.InferenceSession(str(exported / "stylizer.style.onnx"), providers=["CPUExecutionProvider"])
    session = onnxruntime.InferenceSession(str(exported / "stylizer.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in style_graph.get_inputs()] == ["style"]
    names = [i.name for i in session.get_inputs()]
    assert names == ["content", "code", "alpha", "lam"]
    code = style_graph.run(None, {"style": inputs[1].numpy()})[0]  # once per style ...
    out = session.run(None, {"content": inputs[0].numpy(), "code": code, "alpha": inputs[2].numpy(),
                             "lam": inputs[3].numpy()})[0]           # ... then per photo
    assert out.shape == (1, 3, h, w)
    np.testing.assert_allclose(out, ref.numpy(), atol=1e-4, rtol=0)


def test_exported_inputs_are_live(exported: Path, conditional_ckpt: Path):
    """α and λ are graph inputs, not constants frozen at trace time."""
    eager, (content, style, _, _) = eager_and_inputs(conditional_ckpt, 48, 48, 1.0, 5.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(exported / "stylizer.pt"))
    full = scripted(content, style, torch.tensor([1.0]), torch.tensor([5.0]))
    for alpha, lam in ((0.0, 5.0), (1.0, 50.0)):
        changed = scripted(content, style, torch.tensor([alpha]), torch.tensor([lam]))
        assert (changed - full).abs().mean() > 1e-4
        with torch.no_grad():
            torch.testing.assert_close(changed, eager(content, style, torch.tensor([alpha]), torch.tensor([lam])))
    meta = json.loads((exported / "stylizer.json").read_text())
    assert meta["inputs"] == ["content", "code", "alpha", "lam"] and meta["style_inputs"] == ["style"]
    assert meta["torchscript_inputs"] == ["content", "style", "alpha", "lam"] and meta["lambda_range"] == [0.5, 50.0]


def test_refuses_to_overwrite(exported: Path, conditional_ckpt: Path, capsys):
    assert adaptive_st(["export", str(conditional_ckpt), "--out", str(exported), "--format", "torchscript"]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
