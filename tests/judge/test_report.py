"""`adaptive-st judge --report` on a synthetic study with two raters' answers."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from adaptive_st.cli.main import main
from adaptive_st.judge.study import AnswerLog, Study


def answer_all(study: Study, rater: str, rule: Callable[[str, str, str], str]) -> None:
    """Answer every comparison as ``rule(comparison id, left id, right id)`` says (left | right | tie)."""
    log = AnswerLog(study)
    for comparison in study.order(rater):
        left, right = study.sides(rater, comparison)
        assert log.record(rater, comparison.id, rule(comparison.id, left.id, right.id), 900.0)


def prefer_higher_index(_: str, left: str, right: str) -> str:
    return "left" if left > right else "right"  # m2 > m1 > m0: the model with the lowest style distance wins


def test_report_ranks_models_measures_agreement_and_metrics(synthetic_study: Callable[..., Study], capsys):
    study = synthetic_study(pairs=6)
    answer_all(study, "ann", prefer_higher_index)
    answer_all(study, "bob", lambda q, left, right: "tie" if q.endswith(("0", "5")) else prefer_higher_index(q, left, right))
    assert main(["judge", "--report", str(study.root), "--bootstrap", "200"]) == 0
    printed = capsys.readouterr().out
    assert "## Ranking (Bradley–Terry)" in printed and "Fleiss' κ" in printed

    report = json.loads((study.root / "report.json").read_text())
    assert report["answers"] == 36 and report["raters"] == ["ann", "bob"]
    assert [m["model"] for m in report["models"]] == ["gamma/last", "beta/last", "alpha/last"]
    best = report["models"][0]
    assert best["low"] < best["theta"] < best["high"] and best["theta"] > 0 > report["models"][-1]["theta"]
    rates = report["win_rates"]["rate"]
    assert rates[2][0] > 0.8 and rates[0][0] is None and report["win_rates"]["counts"][2][0] == 12
    ties = sum(q.id.endswith(("0", "5")) for q in study.comparisons)
    agreement = report["agreement"]
    assert agreement["items"] == 18 and agreement["percent"] == pytest.approx(1 - ties / 18)
    assert agreement["cohen"][0]["raters"] == ["ann", "bob"]
    predictors = report["predictors"]
    assert predictors["style_meanstd"]["accuracy"] == 1.0 and predictors["style_meanstd"]["n"] == 36 - ties
    assert predictors["content_loss"]["accuracy"] == 0.0  # higher content loss won every time here
    assert predictors["lpips"] == "unavailable: no LPIPS weights in this test"
    assert "LPIPS to content: unavailable: no LPIPS weights in this test" in printed
    assert predictors["ssim_y"].startswith("unavailable: no decisive answer")

    page = (study.root / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 3 and "gamma/last" in page and "<script" not in page
    markdown = (study.root / "report.md").read_text()
    assert "lower style distance (VGG mean/std) wins | 1.000" in markdown


def test_merged_answer_files_of_several_raters_all_count(synthetic_study: Callable[..., Study], tmp_path: Path):
    study = synthetic_study()
    answer_all(study, "ann", prefer_higher_index)
    copy = tmp_path / "colleague"  # a colleague's copy of the folder, answered on another machine
    shutil.copytree(study.root, copy, ignore=shutil.ignore_patterns("answers"))
    answer_all(Study.load(copy), "cyd", lambda *_: "left")
    shutil.copy(copy / "answers" / "cyd.csv", study.root / "answers")
    assert main(["judge", "--report", str(study.root), "--bootstrap", "50"]) == 0
    report = json.loads((study.root / "report.json").read_text())
    assert report["raters"] == ["ann", "cyd"] and report["answers"] == 24


@pytest.mark.slow
def test_report_is_logged_to_wandb_offline(synthetic_study: Callable[..., Study], monkeypatch, capsys):
    monkeypatch.setenv("WANDB_MODE", "offline")
    study = synthetic_study()
    answer_all(study, "ann", prefer_higher_index)
    assert main(["judge", "--report", str(study.root), "--bootstrap", "50", "--wandb-project", "judge-test"]) == 0
    assert "W&B run (offline)" in capsys.readouterr().err
    runs = list((study.root / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))
