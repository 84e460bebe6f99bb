"""The inference CLIs on adversarial inputs: tiny and thin images, unusable ``--out`` folders, values out of
range, Unicode names. Each either works (valid outputs) or fails with one line naming the file or option."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from PIL import Image

from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.data.images import load_rgb
from adaptive_st.inference import MAX_NAME_BYTES, output_name
from tests.reliability.conftest import assert_one_line_error


def run(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str]:
    capsys.readouterr()
    code = adaptive_st([str(a) for a in args])
    return code, capsys.readouterr().err


@pytest.fixture(scope="module")
def odd_contents(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Path:
    """A 1×1 and a 3×5000 image (what G's reflection pads cannot take as they are), a normal one, a corrupt one."""
    root = tmp_path_factory.mktemp("odd_contents")
    Image.new("RGB", (1, 1), (200, 40, 40)).save(root / "a_dot.png")
    load_rgb(images / "content" / "sailboat.jpg").resize((5000, 3)).save(root / "b_strip.png")
    load_rgb(images / "content" / "flowers.jpg").resize((96, 72)).save(root / "c_photo.png")
    (root / "d_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    return root


def test_tiny_and_thin_contents_are_stylized_at_their_size(constant_ckpt, images, odd_contents, tmp_path, capsys):
    code, err = run(capsys, "stylize", constant_ckpt, odd_contents, images / "style" / "candy.jpg",
                    "--out", tmp_path, "-q")
    assert code == 1 and "Traceback" not in err  # 1: because of d_broken.jpg, reported in the summary
    assert "1 content image(s) could not be read" in err and "d_broken.jpg" in err
    sizes = {p.name: Image.open(p).size for p in tmp_path.iterdir()}
    assert sizes == {"a_dot__candy.png": (1, 1), "b_strip__candy.png": (5000, 3), "c_photo__candy.png": (96, 72)}


def test_tiny_and_thin_contents_through_onnxruntime(constant_ckpt, images, odd_contents, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    code, err = run(capsys, "stylize", constant_ckpt, odd_contents, images / "style" / "candy.jpg", "--out",
                    tmp_path / "out", "-q", "--backend", "onnxruntime", "--onnx-cache", tmp_path / "cache")
    assert code == 1 and "Traceback" not in err and "1 content image(s) could not be read" in err
    sizes = {p.name: Image.open(p).size for p in (tmp_path / "out").iterdir()}
    assert sizes == {"a_dot__candy.png": (1, 1), "b_strip__candy.png": (5000, 3), "c_photo__candy.png": (96, 72)}


def test_thin_content_also_tiles(constant_ckpt, images, odd_contents, tmp_path, capsys):
    code, err = run(capsys, "stylize", constant_ckpt, odd_contents / "b_strip.png", images / "style" / "candy.jpg",
                    "--out", tmp_path, "--tile", "1024", "--stats-size", "64")
    assert code == 0, err
    assert Image.open(tmp_path / "b_strip__candy.png").size == (5000, 3)


def test_evaluate_skips_what_it_cannot_score_and_still_reports(constant_ckpt, images, odd_contents, tmp_path,
                                                                capsys):
    out = tmp_path / "eval"
    code, err = run(capsys, "evaluate", constant_ckpt, "--content", odd_contents, "--style",
                    images / "style" / "candy.jpg", "--size", "96", "--out", out, "--hub-dir", tmp_path / "hub")
    assert code == 1 and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["metrics.csv", "metrics.json", "report.html", "report.md"]
    report = (out / "report.md").read_text()
    assert "b_strip.png: 96x1 px at --size 96 is too small to score" in report and "d_broken.jpg" in report
    assert "2 image(s) were skipped with their pairs (2 pair(s) scored)" in err  # the dot, upscaled, and the photo


@pytest.fixture
def read_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A folder that behaves like a read-only mount: statvfs says so, and creating anything fails with EROFS."""
    folder = tmp_path / "ro"
    folder.mkdir()
    real_statvfs, real_mkdir = os.statvfs, Path.mkdir

    class ReadOnly:
        def __init__(self, real: os.statvfs_result) -> None:
            self.real = real
            self.f_flag = real.f_flag | os.ST_RDONLY

        def __getattr__(self, name: str) -> object:
            return getattr(self.real, name)

    def statvfs(path):
        result = real_statvfs(path)
        return ReadOnly(result) if Path(path).is_relative_to(folder) else result

    def mkdir(self, *args, **kwargs):
        if self.is_relative_to(folder):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(os, "statvfs", statvfs)
    monkeypatch.setattr(Path, "mkdir", mkdir)
    return folder


@pytest.mark.parametrize("command", ["stylize", "evaluate", "export"])
def test_unusable_out_folders_are_one_line_errors(command, constant_ckpt, images, tmp_path, capsys, read_only):
    a_file = tmp_path / "taken.png"
    a_file.write_bytes(b"not a folder")
    style = images / "style" / "candy.jpg"
    args = {"stylize": ["stylize", constant_ckpt, images / "content" / "sailboat.jpg", style],
            "evaluate": ["evaluate", constant_ckpt, "--content", images / "content" / "sailboat.jpg",
                         "--style", style],
            "export": ["export", constant_ckpt]}[command]
    expected = {a_file: f"--out {a_file}: is a file, not a folder",
                a_file / "sub": f"--out {a_file / 'sub'}: {a_file} is a file, so no folder can be created below it",
                read_only / "out": f"--out {read_only / 'out'}: cannot write there (it would be created in "
                                   f"{read_only}): read-only file system"}
    for out, message in expected.items():
        code, err = run(capsys, *args, "--out", out)
        assert code == 1
        assert message in assert_one_line_error(err, command)
    assert a_file.read_bytes() == b"not a folder" and list(read_only.iterdir()) == []


def test_out_of_range_values_name_their_option(constant_ckpt, conditional_ckpt, images, tmp_path, capsys):
    content, style = images / "content" / "sailboat.jpg", images / "style" / "candy.jpg"
    cases = [
        (["stylize", conditional_ckpt, content, style, "--lam", "1e300"], "λ (--lam) 1e+300: must be a finite number"),
        (["stylize", conditional_ckpt, content, style, "--lam", "1e-300"], "λ (--lam) 1e-300: must be a finite"),
        (["stylize", constant_ckpt, content, style, style, "--style-weights", "1", "2", "3"],
         "--style-weights: 3 weight(s) for 2 style(s)"),
        (["stylize", constant_ckpt, content, style, "--size", "100000"], "size (--size) 100000: the longer side"),
        (["export", constant_ckpt, "--opset", "5"], "--opset 5: supported opsets are 18..23"),
        (["export", constant_ckpt, "--opset", "99"], "--opset 99: supported opsets are 18..23"),
        (["evaluate", constant_ckpt, "--content", content, "--style", style, "--seed", "-1"], "--seed -1: must be >= 0"),
    ]
    for args, expected in cases:
        code, err = run(capsys, *args, "--out", tmp_path / "out")
        assert code == 1, (args, err)
        assert expected in assert_one_line_error(err, str(args[0])), err
    assert not (tmp_path / "out").exists()


def test_unicode_names_stay_distinct(constant_ckpt, images, tmp_path, capsys):
    photo = load_rgb(images / "content" / "sailboat.jpg").resize((40, 30))
    for name in ("日本.png", "中国.png", "Ünïcödé façade.png"):
        photo.save(tmp_path / name)
    out = tmp_path / "out"
    code, err = run(capsys, "stylize", constant_ckpt, tmp_path, images / "style" / "candy.jpg", "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["日本__candy.png", "中国__candy.png", "Ünïcödé façade__candy.png"])


def test_output_names_only_lose_separators_and_control_characters():
    assert output_name("日本", "ゴッホ", 0.5) == "日本__ゴッホ__a0.5.png"
    assert output_name("a/b\\c", "x\ny\x00z") == "a_b_c__x_y_z.png"
    long_a, long_b = "長" * 120 + "a", "長" * 120 + "b"  # 361 bytes each: over NAME_MAX
    names = {output_name(long_a, "candy"), output_name(long_b, "candy")}
    assert len(names) == 2 and all(len(n.encode()) <= MAX_NAME_BYTES and n.endswith(".png") for n in names)


def test_opset_range_is_what_this_torch_writes_and_the_file_is_checked(tmp_path):
    import onnx
    from torch.onnx import _constants

    from adaptive_st.cli.export import check_opset
    from adaptive_st.inference import MAX_OPSET

    assert _constants.ONNX_MAX_OPSET == MAX_OPSET  # raise MAX_OPSET with torch (and test the export there)
    graph = onnx.helper.make_graph([], "g", [], [])
    path = tmp_path / "m.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), str(path))
    check_opset(path, 18)
    with pytest.raises(ValueError, match="--opset 20: the exporter wrote opset 18"):
        check_opset(path, 20)  # what torch does silently when it cannot convert to the opset asked for
