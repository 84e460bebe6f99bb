"""`adaptive-st weights check`: a report of every known pretrained file."""

from __future__ import annotations

import json
from pathlib import Path

from adaptive_st.cli.main import main as adaptive_st


def test_lists_missing_lpips_and_present_conv3_1(shared_dir: Path, tmp_path: Path, capsys):
    code = adaptive_st(["weights", "check", "--vgg-path", str(shared_dir / "weights"), "--hub-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0  # a report: missing files are not an error
    lines = {line.split()[1]: line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")
             and len(line.split()) > 1}
    assert lines["vgg_normalised_conv3_1"] == "present"
    assert lines["alexnet"] == lines["vgg16"] == lines["squeezenet1_1"] == "missing"
    assert str(shared_dir / "weights" / "vgg_normalised_conv3_1.pth") in out
    assert str(tmp_path / "checkpoints" / "alexnet-owt-7be5be79.pth") in out


def test_require_and_json(shared_dir: Path, tmp_path: Path, capsys):
    base = ["weights", "check", "--vgg-path", str(shared_dir / "weights" / "vgg_normalised_conv3_1.pth"),
            "--hub-dir", str(tmp_path)]
    assert adaptive_st([*base, "--require", "vgg_normalised_conv3_1"]) == 0
    capsys.readouterr()
    assert adaptive_st([*base, "--require", "alexnet"]) == 1
    assert "required but missing: alexnet" in capsys.readouterr().err
    assert adaptive_st([*base, "--require", "nonsense"]) == 2
    capsys.readouterr()
    assert adaptive_st([*base, "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["vgg_normalised_conv3_1"]["present"] and not rows["alexnet"]["present"]


def test_unrecognised_vgg_file(tmp_path: Path, capsys):
    junk = tmp_path / "model.pth"
    junk.write_text("not weights")
    assert adaptive_st(["weights", "check", "--vgg-path", str(junk)]) == 2
    assert "not a recognised VGG weights file" in capsys.readouterr().err
