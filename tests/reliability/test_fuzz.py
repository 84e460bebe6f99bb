"""Seeded fuzzing of the CLIs: odd files and random option values, in-process, about a minute in all.

Inputs: random bytes named like images, 1×1 and 3×N strips, 16-bit, CMYK, palette, grey, RGBA and
truncated files, next to ordinary small photos. Options: valid and invalid values for every option of
``stylize``, ``evaluate`` and ``export``, and bad values for key Hydra options of ``train``. Every run
must either exit 0 with valid outputs, or exit non-zero with one error line and no traceback (a folder
run may instead end with its summary of skipped files); and no file that was already in ``--out`` may
change (unless ``--overwrite`` names it as an output). Left out for time: ``--compile`` and
``--backend onnxruntime`` (a minute of compilation / export each) and successful ONNX exports (40 s);
their argument checks are still fuzzed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adaptive_st.cli.main import main as adaptive_st
from tests.reliability.conftest import TrainCli

SEED = 13
CASES = {"stylize": 150, "evaluate": 20, "export": 12, "train": 6}


# ----------------------------------------------------------------------------------------- odd files
def odd_file(rng: random.Random, folder: Path, index: int, photo: Image.Image) -> Path:
    """One file of a randomly chosen odd kind (about half of them readable)."""
    kind = rng.choice(["bytes", "dot", "strip", "column", "16bit", "cmyk", "palette", "grey", "rgba",
                       "truncated", "photo", "photo"])
    path = folder / f"{index:02d}_{kind}.{'jpg' if kind in ('cmyk', 'grey') else 'png'}"
    if kind == "bytes":
        path.write_bytes(rng.randbytes(rng.randint(0, 2000)))
    elif kind == "dot":
        Image.new("RGB", (1, 1), tuple(rng.randrange(256) for _ in range(3))).save(path)
    elif kind in ("strip", "column"):
        long = rng.randint(20, 3000)
        photo.resize((long, 3) if kind == "strip" else (2, long)).save(path)
    elif kind == "16bit":
        data = np.random.default_rng(index).integers(0, 65535, (rng.randint(5, 60), rng.randint(5, 60)))
        Image.fromarray(data.astype(np.uint16)).save(path)
    elif kind == "cmyk":
        photo.resize((rng.randint(10, 90), rng.randint(10, 90))).convert("CMYK").save(path)
    elif kind == "palette":
        photo.resize((rng.randint(4, 80), rng.randint(4, 80))).convert("P", palette=Image.Palette.ADAPTIVE,
                                                                          colors=rng.choice([2, 16, 256])).save(path)
    elif kind == "grey":
        photo.resize((rng.randint(4, 80), rng.randint(4, 80))).convert("L").save(path)
    elif kind == "rgba":
        rgba = photo.resize((rng.randint(4, 80), rng.randint(4, 80))).convert("RGBA")
        rgba.putalpha(rng.randrange(256))
        rgba.save(path)
    elif kind == "truncated":
        buffer = io.BytesIO()
        photo.resize((64, 48)).save(buffer, format="PNG")
        path.write_bytes(buffer.getvalue()[: rng.randint(40, len(buffer.getvalue()) - 10)])
    else:
        photo.resize((rng.randint(16, 120), rng.randint(16, 120))).save(path)
    return path


@dataclass
class Inputs:
    contents: list[Path]
    styles: list[Path]
    content_dir: Path
    style_dir: Path
    junk_ckpt: Path  # random bytes named .ckpt

    def checkpoint(self, rng: random.Random, ckpts: list[Path]) -> str:
        return str(self.junk_ckpt if rng.random() < 0.1 else rng.choice(ckpts))


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory, images: Path) -> Inputs:
    rng = random.Random(SEED)
    root = tmp_path_factory.mktemp("fuzz_inputs")
    photo = Image.open(images / "content" / "sailboat.jpg").convert("RGB").resize((160, 120))
    made = {}
    for kind in ("content", "style"):
        (root / kind).mkdir()
        made[kind] = [odd_file(rng, root / kind, i, photo) for i in range(12)]
    junk = root / "junk.ckpt"
    junk.write_bytes(rng.randbytes(300))
    return Inputs(made["content"], made["style"], root / "content", root / "style", junk)


# ----------------------------------------------------------------------------------------- checks
def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def prepare_out(rng: random.Random, tmp: Path) -> tuple[Path, dict[str, str]]:
    """A fresh, a populated, or an unusable ``--out`` (a file, or a folder below a file)."""
    kind = rng.choice(["new", "new", "populated", "populated", "populated", "populated", "file", "below_file"])
    tmp.mkdir(parents=True)
    out = tmp / "out"
    if kind == "populated":
        (out / "keep").mkdir(parents=True)
        (out / "notes.txt").write_text("a user's file")
        (out / "keep" / "a.png").write_bytes(b"not touched")
    elif kind in ("file", "below_file"):
        out.write_bytes(b"a user's file, not a folder")
        return (out if kind == "file" else out / "sub"), {"": hashlib.sha1(out.read_bytes()).hexdigest()}
    return out, snapshot(out) if out.exists() else {}


def check_untouched(out: Path, before: dict[str, str]) -> None:
    """Files already in ``--out`` are never changed: the fuzzed names cannot collide with outputs."""
    if "" in before:  # --out was a file
        user_file = out if out.is_file() else out.parent
        assert hashlib.sha1(user_file.read_bytes()).hexdigest() == before[""], "a file given as --out changed"
        return
    after = snapshot(out) if out.exists() else {}
    for name, digest in before.items():
        assert after.get(name) == digest, f"{name} in --out changed or vanished"


def check_outcome(command: str, code: int, err: str) -> None:
    """Exit 0, or non-zero with one error line (or a folder run's skip summary), never a traceback."""
    assert "Traceback" not in err, err
    if code == 0:
        return
    errors = [line for line in err.splitlines() if ": error: " in line]
    summary = "could not be read and were skipped" in err or "were skipped with their pairs" in err
    assert len(errors) == 1 or (not errors and summary), err
    if errors:
        assert errors[0].startswith(f"adaptive-st {command}: error: "), errors[0]


def call(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    try:
        code = adaptive_st(argv)
    except SystemExit as exc:  # argparse rejects a value: usage + one error line, exit 2
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


# ----------------------------------------------------------------------------------------- options
#: option → (valid values, invalid values); a tuple value is several arguments.
Pools = dict[str, tuple[list[object], list[object]]]
STYLIZE: Pools = {
    "--alpha": ([0, 0.3, 1], [-0.1, 1.5, "nan", "inf", "abc"]),
    "--lam": ([0.5, 3, 50], [1e300, 1e-300, 0, -2, "nan"]),  # valid for the conditional model only
    "--size": ([8, 16, 40], [7, 0, -5, 100000]),
    "--tile": (["auto", "0", "64"], ["63", "-1", "abc"]),
    "--tile-overlap": ([0, 8, 16], [7, -8]),
    "--stats-size": ([64, 100000], [63, 0]),
    "--preserve-color": (["none", "luminance", "histogram"], ["bogus"]),
    "--style-weights": ([(1,), (0.7, 0.3)], [(1, 1, 1), (-1, 2), (0, 0), ("nan", 1)]),
    "--precision": (["fp32", "bf16"], ["fp64"]),
    "--device": (["auto", "cpu"], ["cuda:7", "tpu"]),
    "--threads": ([1, 2], [0, -3]),
    "--style-id": ([], [(0,), (-1,)]),
}
EVALUATE: Pools = {
    "--pairs": (["2", "all"], ["0", "-3", "abc"]),
    "--seed": ([0, 7], [-1]),
    "--size": ([64, 96, 0], [-1, 7, 100000]),
    "--alpha": ([0.5, 1], [2, "nan"]),
    "--lam": ([3], [1e300, -1]),  # noted and ignored for the constant model
    "--labels": ([("a",)], [("a", "b")]),
    "--grid-pairs": ([0, 2], [-1]),
}


def options(rng: random.Random, pools: Pools, p: float = 0.35) -> list[str]:
    """Random options, valid ones only in half of the runs (so both outcomes are common), else with one or
    two invalid values among them."""
    bad = set(rng.sample(sorted(pools), rng.choice([1, 2]))) if rng.random() < 0.5 else set()
    argv: list[str] = []
    for option, (good, wrong) in pools.items():
        if option in bad and wrong:
            value = rng.choice(wrong)
        elif good and rng.random() < p:
            value = rng.choice(good)
        else:
            continue
        argv += [option, *map(str, value)] if isinstance(value, tuple) else [option, str(value)]
    return argv


def stylize_argv(rng: random.Random, inputs: Inputs, ckpts: list[Path]) -> list[str]:
    content = rng.choice([inputs.content_dir, *inputs.contents])
    styles = rng.sample([inputs.style_dir, *inputs.styles], rng.choice([1, 1, 2]))
    return ["stylize", inputs.checkpoint(rng, ckpts), str(content), *map(str, styles), "-q", *options(rng, STYLIZE)]


def evaluate_argv(rng: random.Random, inputs: Inputs, ckpts: list[Path]) -> list[str]:
    content = rng.choice([inputs.content_dir, *inputs.contents])
    style = rng.choice([inputs.style_dir, *inputs.styles])
    return ["evaluate", inputs.checkpoint(rng, ckpts[:1]), "--content", str(content), "--style", str(style), "--size", "128",
            "--pairs", "2", *options(rng, EVALUATE)]


def export_argv(rng: random.Random, inputs: Inputs, ckpts: list[Path]) -> list[str]:
    argv = ["export", inputs.checkpoint(rng, ckpts)]
    opset = rng.choice([18, 23, 17, 5, 24, 99])
    formats = rng.choice([["torchscript"], ["onnx"], ["torchscript", "onnx"]])
    if 18 <= opset <= 23 and "onnx" in formats:
        formats = ["torchscript"]  # a real ONNX export takes ~40 s here: its argument checks are enough
    return [*argv, "--opset", str(opset), "--format", *formats, "--no-verify"]


def check_outputs(command: str, out: Path, before: dict[str, str]) -> None:
    """What a successful run wrote is readable and finite."""
    new = [p for p in out.rglob("*") if p.is_file() and p.relative_to(out).as_posix() not in before]
    if command == "stylize":
        assert new, "exit 0 without outputs"
        for path in new:
            with Image.open(path) as im:
                im.load()
                assert im.mode == "RGB" and min(im.size) >= 1
    elif command == "evaluate":
        assert {"metrics.csv", "metrics.json", "report.md", "report.html"} <= {p.name for p in new}
        json.loads((out / "metrics.json").read_text())
        with (out / "metrics.csv").open() as f:
            for row in csv.DictReader(f):
                assert math.isfinite(float(row["ssim"])) and math.isfinite(float(row["content_loss"])), row
    elif command == "export":
        assert (out / "stylizer.json").is_file() and (out / "stylizer.pt").stat().st_size > 0


Builder = Callable[[random.Random, Inputs, list[Path]], list[str]]
BUILDERS: dict[str, Builder] = {"stylize": stylize_argv, "evaluate": evaluate_argv, "export": export_argv}


@pytest.mark.timeout(300, func_only=True)  # a hang guard; fixtures (training) excluded
def test_fuzz_inference_clis(constant_ckpt, conditional_ckpt, inputs, tmp_path, capsys) -> None:
    rng = random.Random(SEED)
    timings: dict[str, float] = {}
    outcomes: dict[str, list[int]] = {}
    for command, builder in BUILDERS.items():
        started = time.perf_counter()
        for case in range(CASES[command]):
            argv = builder(rng, inputs, [constant_ckpt, conditional_ckpt])
            overwrite = rng.random() < 0.3
            out, before = prepare_out(rng, tmp_path / f"{command}{case}")
            argv += ["--out", str(out), *(["--overwrite"] if overwrite else [])]
            code, err = call(capsys, argv)
            context = f"case {command}#{case}: adaptive-st {' '.join(argv)}\n{err[-3000:]}"
            try:
                check_outcome(command, code, err)
                check_untouched(out, before)
                if code == 0:
                    check_outputs(command, out, before)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{context}") from None
            outcomes.setdefault(command, []).append(code)
        timings[command] = time.perf_counter() - started
    print("exit codes:", outcomes, "seconds:", {k: round(v, 1) for k, v in timings.items()})
    for command, codes in outcomes.items():  # the seed must exercise both outcomes, or it tests too little
        assert 0 in codes and any(codes), (command, codes)


BAD_HYDRA_VALUES = {
    "data.crop_size": ["abc", "-1", "0", "1.5", "[1,2]"],
    "data.batch_size": ["0", "abc", "null"],
    "data.val_fraction": ["2", "-0.5", "x"],
    "loss.weights.style": ["abc", "-1", "nan", "inf"],
    "module.max_consecutive_nonfinite": ["0", "abc"],
    "trainer.max_steps": ["abc", "1.5"],
    "checkpoint_every": ["3", "0", "abc"],
    "seed": ["abc"],
}


@pytest.mark.timeout(300, func_only=True)
def test_fuzz_train_rejects_bad_hydra_values(train_cli: TrainCli) -> None:
    rng = random.Random(SEED)
    for _ in range(CASES["train"]):
        keys = rng.sample(sorted(BAD_HYDRA_VALUES), rng.choice([1, 2]))
        overrides = [f"{key}={rng.choice(BAD_HYDRA_VALUES[key])}" for key in keys]
        code, err = train_cli(*overrides)
        assert code == 1 and "Traceback" not in err, (overrides, err[-3000:])
        errors = [line for line in err.splitlines() if line.startswith("adaptive-st train: error: ")]
        assert errors and any(key in " ".join(errors) for key in keys), (overrides, err[-3000:])
