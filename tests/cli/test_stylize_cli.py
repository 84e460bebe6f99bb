"""`adaptive-st stylize` as a user runs it: files, folders, names, sizes, overwrite, bad files, λ."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.cli.resolvers import PROJECT_ROOT
from adaptive_st.data.images import load_rgb


@pytest.fixture(scope="module")
def content_dir(images: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small copies of real photos (odd sizes, a sub-folder) and one corrupt file."""
    root = tmp_path_factory.mktemp("contents")
    (root / "nested").mkdir()
    load_rgb(images / "content" / "sailboat.jpg").resize((121, 90)).save(root / "sailboat.png")
    load_rgb(images / "content" / "flowers.jpg").resize((77, 101)).save(root / "nested" / "flowers.jpg")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def stylize(*args: object) -> int:
    return adaptive_st(["stylize", *map(str, args)])


def test_single_file_keeps_size_and_follows_the_naming_scheme(constant_ckpt, images, content_dir, tmp_path):
    style = images / "style" / "candy.jpg"
    assert stylize(constant_ckpt, content_dir / "sailboat.png", style, "--out", tmp_path, "--alpha", "0.5") == 0
    out = tmp_path / "sailboat__candy__a0.5.png"
    assert Image.open(out).size == (121, 90)
    assert [p.name for p in tmp_path.iterdir()] == [out.name]


def test_overwrite_is_refused_then_allowed(constant_ckpt, images, content_dir, tmp_path, capsys):
    args = (constant_ckpt, content_dir / "sailboat.png", images / "style" / "candy.jpg", "--out", tmp_path)
    assert stylize(*args) == 0
    out = tmp_path / "sailboat__candy.png"
    before = out.stat().st_mtime_ns
    assert stylize(*args) == 1
    assert "refusing to overwrite 1 existing output file(s)" in capsys.readouterr().err
    assert out.stat().st_mtime_ns == before
    assert stylize(*args, "--overwrite") == 0
    assert out.stat().st_mtime_ns != before


def test_folder_with_two_styles_reports_bad_file_and_continues(constant_ckpt, images, content_dir, tmp_path, capsys):
    styles = [images / "style" / "candy.jpg", images / "style" / "sketch.png"]
    code = stylize(constant_ckpt, content_dir, *styles, "--out", tmp_path, "--tile", "64")
    err = capsys.readouterr().err
    assert code == 1  # non-zero because of broken.jpg, after doing everything else
    assert "broken.jpg" in err and "1 content image(s) could not be read" in err
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.png"))
    assert written == ["nested/flowers__candy.png", "nested/flowers__sketch.png",
                       "sailboat__candy.png", "sailboat__sketch.png"]
    assert Image.open(tmp_path / "nested" / "flowers__sketch.png").size == (77, 101)


def test_style_mix_and_size(constant_ckpt, images, content_dir, tmp_path):
    styles = [images / "style" / "candy.jpg", images / "style" / "sketch.png"]
    assert stylize(constant_ckpt, content_dir / "sailboat.png", *styles, "--style-weights", "0.7", "0.3",
                   "--size", "64", "--out", tmp_path, "--preserve-color", "luminance") == 0
    out = tmp_path / "sailboat__candy0.7+sketch0.3__luminance.png"  # the colour mode is in the name
    assert Image.open(out).size == (64, 48)


def test_lambda_for_conditional_and_constant_models(constant_ckpt, conditional_ckpt, images, content_dir,
                                                    tmp_path, capsys):
    args = (content_dir / "sailboat.png", images / "style" / "candy.jpg", "--out", tmp_path, "--lam", "3")
    assert stylize(conditional_ckpt, *args) == 0
    assert (tmp_path / "sailboat__candy__lam3.png").is_file()
    assert stylize(constant_ckpt, *args, "--overwrite") == 1
    err = capsys.readouterr().err
    assert "λ (--lam) is only an input of models trained with a λ-conditioned policy" in err


def test_bad_inputs_are_one_line_errors(constant_ckpt, images, content_dir, tmp_path, capsys):
    assert stylize(constant_ckpt, content_dir / "broken.jpg", images / "style" / "candy.jpg", "--out", tmp_path) == 1
    assert "broken.jpg" in capsys.readouterr().err
    assert stylize(constant_ckpt, content_dir / "sailboat.png", content_dir / "broken.jpg", "--out", tmp_path) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "broken.jpg" in err and "Traceback" not in err
    bad_ckpt = tmp_path / "half.ckpt"
    bad_ckpt.write_bytes(constant_ckpt.read_bytes()[:1000])
    assert stylize(bad_ckpt, content_dir / "sailboat.png", images / "style" / "candy.jpg", "--out", tmp_path) == 1
    assert "half.ckpt: not a readable PyTorch checkpoint" in capsys.readouterr().err


def test_python_dash_m_entry_point(constant_ckpt, images, content_dir, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "adaptive_st.stylize", str(constant_ckpt),
                           str(content_dir / "nested" / "flowers.jpg"), str(images / "style" / "udnie.jpg"),
                           "--out", str(tmp_path), "--precision", "bf16"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(tmp_path / "flowers__udnie.png").size == (77, 101)
    assert "wrote 1 image(s)" in proc.stderr
