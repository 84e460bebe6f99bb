"""Relative path options are read against the working directory (where the user typed them), not the repo root."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.cli.resolvers import PROJECT_ROOT
from tests.conftest import VGG_WEIGHTS


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the repository holding ``w/vgg.pth`` (a link to the shared VGG)."""
    cwd = tmp_path / "cwd"
    (cwd / "w").mkdir(parents=True)
    (cwd / "w" / "vgg.pth").symlink_to(VGG_WEIGHTS)
    assert not (PROJECT_ROOT / "w" / "vgg.pth").exists()  # only found when read against cwd
    monkeypatch.chdir(cwd)
    return cwd


def test_weights_check_reads_a_relative_vgg_path_against_cwd(shared_dir: Path, elsewhere: Path, capsys):
    assert adaptive_st(["weights", "check", "--vgg-path", "w/vgg.pth", "--require", "vgg_normalised_conv3_1",
                        "--hub-dir", "hub"]) == 0
    assert "vgg_normalised_conv3_1" in capsys.readouterr().out


def test_evaluate_reads_relative_paths_against_cwd(constant_ckpt: Path, images: Path, elsewhere: Path, capsys):
    (elsewhere / "content").mkdir()
    (elsewhere / "content" / "boat.jpg").symlink_to(images / "content" / "sailboat.jpg")
    (elsewhere / "run.ckpt").symlink_to(constant_ckpt)
    style = os.path.relpath(images / "style", elsewhere)  # ../../… : relative, and not from the repo root
    base = ["evaluate", "run.ckpt", "--content", "content/boat.jpg", "--style", style, "--pairs", "1",
            "--size", "64", "--hub-dir", "hub"]
    assert adaptive_st([*base, "--vgg-path", "w/vgg.pth", "--out", "report"]) == 0
    with (elsewhere / "report" / "metrics.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 1
    capsys.readouterr()
    # The option is used (not the checkpoint's saved path): a relative path missing under cwd is refused.
    assert adaptive_st([*base, "--vgg-path", "nowhere/vgg.pth", "--out", "report2"]) != 0
    assert "nowhere/vgg.pth" in capsys.readouterr().err
