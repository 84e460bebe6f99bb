"""A synthetic study (tiny PNGs, hand-made metrics: no torch, no checkpoints) for the server and report
tests, and the session's trained checkpoints for the end-to-end browser test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from adaptive_st.judge.study import Model, Study, StudyPair, comparisons_for
from tests.cli.conftest import (  # noqa: F401  (fixtures)
    _retain_freed_memory,
    checkpoint_factory,
    conditional_ckpt,
    constant_ckpt,
)

LABELS = ("alpha/last", "beta/last", "gamma/last")


def _png(path: Path, colour: tuple[int, int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 16), colour).save(path)
    return path.as_posix()


def build_study(root: Path, models: int = 3, pairs: int = 4, seed: int = 0) -> Study:
    """Model ``m<i>`` has style_meanstd ``3 - i`` (so m2 is "most stylized"), equal ssim_y, no LPIPS; every
    output is a distinct solid colour, so a test can tell which file the server sent."""
    model_list = [Model(f"m{i}", LABELS[i], f"/ckpt/{i}.ckpt", f"policy{i}", "live", "vgg") for i in range(models)]
    study_pairs = []
    for k in range(pairs):
        outputs, metrics = {}, {}
        for i in range(models):
            rel = f"outputs/m{i}/p{k}.png"
            _png(root / rel, (40 * i, 10 * k, 200))
            outputs[f"m{i}"] = rel
            metrics[f"m{i}"] = {"style_meanstd": 3.0 - i, "content_loss": 1.0 + i + 0.1 * k, "ssim_y": 0.9,
                                "lpips": None}
        _png(root / f"inputs/content/{k}.png", (k, 0, 0))
        _png(root / f"inputs/style/{k}.png", (0, k, 0))
        study_pairs.append(StudyPair(f"p{k:03d}", f"/src/c{k}.jpg", f"/src/s{k}.jpg", f"inputs/content/{k}.png",
                                     f"inputs/style/{k}.png", outputs, metrics))
    settings = {"seed": seed, "pairs": pairs, "metrics_unavailable": {"lpips": "no LPIPS weights in this test"}}
    study = Study(root, model_list, study_pairs,
                  comparisons_for([p.id for p in study_pairs], [m.id for m in model_list], seed), settings)
    study.save()
    return Study.load(root)


@pytest.fixture
def synthetic_study(tmp_path: Path) -> Callable[..., Study]:
    def make(**kwargs: int) -> Study:
        return build_study(tmp_path / "study", **kwargs)

    return make
