"""run_evaluation end to end on real checkpoints: files, columns, numbers, reproducibility, LPIPS status."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from adaptive_st.evaluation import (
    CSV_COLUMNS,
    METRICS,
    TIMING_COLUMNS,
    EvalSettings,
    MetricSources,
    make_pairs,
    run_evaluation,
)
from adaptive_st.inference import resolve_runtime


@pytest.fixture(scope="module")
def two_runs(constant_ckpt: Path, conditional_ckpt: Path, images: Path, tmp_path_factory) -> list[Path]:
    contents = [images / "content" / n for n in ("sailboat.jpg", "flowers.jpg")]
    styles = [images / "style" / n for n in ("candy.jpg", "sketch.png")]
    pairs = make_pairs(contents, styles, 3, seed=1)
    outs = []
    for i in range(2):
        out = tmp_path_factory.mktemp(f"eval{i}")
        run_evaluation([constant_ckpt, conditional_ckpt], pairs, resolve_runtime("cpu"),
                       EvalSettings(size=96, grid_pairs=2), out, MetricSources(hub_dir=out / "no_hub"),
                       labels=["constant", "conditional"])
        outs.append(out)
    return outs


def read_rows(out: Path) -> list[dict[str, str]]:
    with (out / "metrics.csv").open() as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def test_writes_every_file_with_per_pair_rows(two_runs: list[Path]):
    out = two_runs[0]
    assert all((out / n).is_file() for n in ("metrics.csv", "metrics.json", "report.md", "report.html"))
    rows = read_rows(out)
    assert [r["checkpoint"] for r in rows] == ["constant"] * 3 + ["conditional"] * 3
    for row in rows:
        assert 0 < float(row["ssim"]) <= 1 and float(row["psnr"]) > 10 and float(row["style_gram"]) >= 0
        assert float(row["content_loss"]) >= 0 and float(row["style_meanstd"]) >= 0 and float(row["seconds"]) > 0
        assert row["lpips"] == ""  # unavailable: never a number from random weights
    assert {r["lam"] for r in rows if r["checkpoint"] == "constant"} == {""}
    assert {float(r["lam"]) for r in rows if r["checkpoint"] == "conditional"} == {5.0}


def test_two_runs_give_identical_numbers(two_runs: list[Path]):
    first, second = (read_rows(o) for o in two_runs)
    strip = [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in first]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING_COLUMNS} for r in second]
    summaries = [json.loads((o / "metrics.json").read_text())["checkpoints"] for o in two_runs]
    assert [s["metrics"] for s in summaries[0]] == [s["metrics"] for s in summaries[1]]


def test_summary_is_mean_and_std_of_the_rows(two_runs: list[Path]):
    import statistics

    data = json.loads((two_runs[0] / "metrics.json").read_text())
    rows = [r for r in read_rows(two_runs[0]) if r["checkpoint"] == "constant"]
    summary = data["checkpoints"][0]
    assert summary["checkpoint"] == "constant" and summary["pairs"] == 3 and summary["policy"] == "constant"
    values = [float(r["ssim_y"]) for r in rows]
    assert summary["metrics"]["ssim_y"]["mean"] == pytest.approx(statistics.mean(values))
    assert summary["metrics"]["ssim_y"]["std"] == pytest.approx(statistics.stdev(values))
    assert set(summary["metrics"]) == set(METRICS)
    assert summary["lpips"]["available"] is False and "alexnet" in summary["lpips"]["reason"]
    assert summary["metrics"]["lpips"]["mean"] is None and summary["fid"] is None
    assert summary["timing"]["images_per_s"] > 0


def test_reports_are_readable_and_self_contained(two_runs: list[Path]):
    md = (two_runs[0] / "report.md").read_text()
    assert "| constant | constant | 3 |" in md and "unavailable" in md and "LPIPS (alex)" in md
    html = (two_runs[0] / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3  # trade-off plot + one grid per checkpoint
    assert "http://" not in html and "https://download" not in html.split("<h2>Notes")[0]
    assert "<table>" in html
