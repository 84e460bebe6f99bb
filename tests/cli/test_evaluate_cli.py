"""`adaptive-st evaluate` end to end (the library is covered in tests/evaluation)."""

from __future__ import annotations

import csv
from pathlib import Path

from adaptive_st.cli.main import COMMANDS
from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.evaluation import CSV_COLUMNS


def test_evaluate_writes_reports_and_refuses_to_overwrite(constant_ckpt: Path, images: Path, tmp_path: Path,
                                                          capsys):
    args = ["evaluate", str(constant_ckpt), "--content", str(images / "content" / "sailboat.jpg"),
            str(images / "content" / "modern.jpg"), "--style", str(images / "style"), "--pairs", "2",
            "--size", "64", "--out", str(tmp_path), "--hub-dir", str(tmp_path / "hub"), "--save-images"]
    assert adaptive_st(args) == 0
    printed = capsys.readouterr().out
    assert "## Metrics (mean ± std over pairs)" in printed and "unavailable" in printed
    with (tmp_path / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and tuple(rows[0]) == CSV_COLUMNS
    assert len(list((tmp_path / "images").rglob("*.png"))) == 2
    assert adaptive_st(args) == 1
    assert "--overwrite" in capsys.readouterr().err


def test_console_script_knows_the_new_commands():
    assert {"stylize", "evaluate", "export", "weights"} <= set(COMMANDS)
