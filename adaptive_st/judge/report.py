"""The study's report: Bradley–Terry ranking with bootstrap intervals, win rates, rater agreement and how well
each automatic metric predicts the human choice — as ``report.md``, a self-contained ``report.html``
(plots as base64 PNGs), ``report.json``, and optionally a W&B run.

It reads only the study folder (manifest + every ``answers/*.csv``), so any team member can rebuild it
after merging the raters' files.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adaptive_st.evaluation.scoring import HIGHER_IS_BETTER
from adaptive_st.judge.figures import figures
from adaptive_st.judge.ranking import (
    DEFAULT_PRIOR,
    Agreement,
    MetricAccuracy,
    Outcomes,
    agreement,
    bootstrap_intervals,
    bradley_terry,
    group_by_item,
    metric_accuracy,
    win_rates,
)
from adaptive_st.judge.study import Answer, Study, StudyError, read_answers

#: Automatic metrics tested as predictors of the human choice, with how a reader names them.
PREDICTORS = {
    "style_meanstd": "style distance (VGG mean/std)",
    "style_gram": "style distance (VGG Gram)",
    "content_loss": "content loss (VGG)",
    "ssim_y": "SSIM_y to content",
    "lpips": "LPIPS to content",
}
SCORE = {"left": 1.0, "right": 0.0, "tie": 0.5}


@dataclass
class JudgeReport:
    study: Study
    answers: list[Answer]
    problems: list[str]
    theta: np.ndarray
    low: np.ndarray
    high: np.ndarray
    rates: np.ndarray
    counts: np.ndarray
    agreement: Agreement
    predictors: dict[str, MetricAccuracy | str] = field(default_factory=dict)  # str: why unavailable
    bootstrap: int = 1000

    @property
    def labels(self) -> list[str]:
        return [m.label for m in self.study.models]

    def ranking(self) -> list[int]:
        return sorted(range(len(self.theta)), key=lambda i: -self.theta[i])

    def model_rows(self) -> list[dict[str, Any]]:
        """Per model, best first: BT score, interval, raw score rate and mean metrics of its outputs."""
        rows = []
        for rank, i in enumerate(self.ranking(), start=1):
            model = self.study.models[i]
            n = int(self.counts[i].sum())
            scored = sum(SCORE[a.choice] if a.left == model.label else 1.0 - SCORE[a.choice]
                         for a in self.answers if model.label in (a.left, a.right))
            means = {}
            for name in ("style_meanstd", "content_loss", "ssim_y"):
                values = [p.metrics.get(model.id, {}).get(name) for p in self.study.pairs]
                finite = [v for v in values if v is not None]
                means[name] = float(np.mean(finite)) if finite else None
            rows.append({"rank": rank, "model": model.label, "policy": model.policy, "theta": float(self.theta[i]),
                         "low": float(self.low[i]), "high": float(self.high[i]), "answers": n,
                         "score_rate": scored / n if n else None, **means})
        return rows

    def as_dict(self) -> dict[str, Any]:
        ag = self.agreement
        return {
            "settings": self.study.settings,
            "answers": len(self.answers),
            "raters": sorted({a.rater for a in self.answers}),
            "models": self.model_rows(),
            "win_rates": {"models": self.labels, "rate": _nan_to_none(self.rates.tolist()),
                          "counts": self.counts.tolist()},
            "agreement": {"items": ag.items, "raters": ag.raters, "percent": _num(ag.percent),
                          "fleiss_kappa": _num(ag.fleiss_kappa),
                          "cohen": [{"raters": list(k), "items": v[0], "agreement": v[1], "kappa": _num(v[2])}
                                    for k, v in ag.cohen.items()]},
            "predictors": {name: (p if isinstance(p, str) else
                                  {"correct": p.correct, "n": p.n, "accuracy": _num(p.accuracy),
                                   "low": _num(p.low), "high": _num(p.high)})
                           for name, p in self.predictors.items()},
            "problems": self.problems,
            "notes": self.study.notes,
        }


def _num(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _nan_to_none(matrix: list[list[float]]) -> list[list[float | None]]:
    return [[_num(v) for v in row] for row in matrix]


def _predictor(study: Study, answers: list[Answer], name: str) -> MetricAccuracy | str:
    reason = study.settings.get("metrics_unavailable", {}).get(name)
    if reason:
        return f"unavailable: {reason}"
    triples = []
    for a in answers:
        metrics = study.pair_by_id[a.pair].metrics
        left, right = study.model_by_label[a.left].id, study.model_by_label[a.right].id
        triples.append((metrics.get(left, {}).get(name), metrics.get(right, {}).get(name), SCORE[a.choice]))
    result = metric_accuracy(name, triples, HIGHER_IS_BETTER[name])
    return result if result.n else "unavailable: no decisive answer where this metric differs"


def build_report(study: Study, bootstrap: int = 1000, seed: int = 0, prior: float = DEFAULT_PRIOR) -> JudgeReport:
    answers, problems = read_answers(study)
    if not answers:
        raise StudyError(f"{study.root}: no answers yet under answers/*.csv; rate some comparisons first")
    index = {m.label: i for i, m in enumerate(study.models)}
    outcomes = Outcomes.from_lists([index[a.left] for a in answers], [index[a.right] for a in answers],
                                   [SCORE[a.choice] for a in answers], len(study.models))
    theta = bradley_terry(outcomes, prior)
    low, high = bootstrap_intervals(outcomes, bootstrap, seed=seed, prior=prior)
    rates, counts = win_rates(outcomes)
    ratings = group_by_item([(a.comparison, a.rater, a.winner or "tie") for a in answers])
    predictors = {name: _predictor(study, answers, name) for name in PREDICTORS}
    return JudgeReport(study, answers, problems, theta, low, high, rates, counts, agreement(ratings), predictors,
                       bootstrap)


# ---------------------------------------------------------------------------------------------- text
def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:.{digits}f}"


def _tables(report: JudgeReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every table, shared by the Markdown and HTML renderings."""
    ranking = [[str(r["rank"]), r["model"], r["policy"], _fmt(r["theta"]), f"[{_fmt(r['low'])}, {_fmt(r['high'])}]",
                _fmt(r["score_rate"]), str(r["answers"]), _fmt(r["style_meanstd"], 4), _fmt(r["content_loss"], 4),
                _fmt(r["ssim_y"], 4)] for r in report.model_rows()]
    labels = report.labels
    matrix = [[labels[i], *["—" if i == j or not report.counts[i, j] else
                            f"{report.rates[i, j]:.2f} (n={report.counts[i, j]})" for j in range(len(labels))]]
              for i in range(len(labels))]
    predictors = []
    for name, p in report.predictors.items():
        direction = "higher" if HIGHER_IS_BETTER[name] else "lower"
        rule = f"{direction} {PREDICTORS[name]} wins"
        if isinstance(p, str):
            predictors.append([rule, "unavailable", "", ""])  # the reason is a note: it can be long
        else:
            predictors.append([rule, _fmt(p.accuracy), f"[{_fmt(p.low)}, {_fmt(p.high)}]", f"{p.correct}/{p.n}"])
    ag = report.agreement
    agree = [["items rated by ≥2 raters", str(ag.items)], ["raters on those items", str(ag.raters)],
             ["percent agreement (rater pairs)", _fmt(ag.percent)], ["Fleiss' κ", _fmt(ag.fleiss_kappa)]]
    agree += [[f"Cohen's κ {a} vs {b} ({n} items, {agreement_:.0%} agree)", _fmt(kappa)]
              for (a, b), (n, agreement_, kappa) in report.agreement.cohen.items()]
    return [
        ("Ranking (Bradley–Terry)", ["rank", "model", "policy", "θ", "95% CI", "score rate", "answers",
                                     "style_meanstd ↓", "content_loss ↓", "ssim_y ↑"], ranking),
        ("Win rates (row vs column, ties ½)", ["", *labels], matrix),
        ("Rater agreement", ["", "value"], agree),
        ("Does a metric predict the human choice?", ["rule", "accuracy", "95% CI", "correct/decisive"], predictors),
    ]


def _summary_lines(report: JudgeReport) -> list[str]:
    raters = sorted({a.rater for a in report.answers})
    ties = sum(a.choice == "tie" for a in report.answers)
    settings = {k: v for k, v in report.study.settings.items() if k != "metrics_unavailable"}
    return [f"answers: {len(report.answers)} from {len(raters)} rater(s) ({', '.join(raters)}); "
            f"{ties} \"can't tell\"; {len(report.study.comparisons)} comparisons in the study",
            *[f"{k}: {v}" for k, v in settings.items()]]


def _notes(report: JudgeReport) -> list[str]:
    return [f"θ: maximum-likelihood Bradley–Terry log-strengths (MM algorithm, \"can't tell\" = half a win each, "
            f"one virtual tie per pair of models as a weak prior), centred to mean 0; P(i preferred to j) = "
            f"1/(1+e^(θj−θi)). Intervals: percentiles of {report.bootstrap} refits on answers resampled with "
            "replacement.",
            "Metric rules count only decisive answers where the two outputs' metric values differ; metrics are "
            "those of `adaptive-st evaluate` (content: to the content image, style: to the style image).",
            *[f"{PREDICTORS[name]}: {p}" for name, p in report.predictors.items() if isinstance(p, str)],
            *report.study.notes, *report.problems]


def render_markdown(report: JudgeReport) -> str:
    lines = ["# adaptive_st human preference study", ""]
    lines += [f"- {line}" for line in _summary_lines(report)]
    for title, header, rows in _tables(report):
        lines += ["", f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    lines += ["", "Plots: report.html.", "", "## Notes", ""] + [f"- {n}" for n in _notes(report)]
    return "\n".join(lines) + "\n"


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:75em}
table{border-collapse:collapse;font-size:13px;margin-bottom:1em}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3}img{max-width:100%}"""


def render_html(report: JudgeReport, plots: dict[str, bytes]) -> str:
    def img(name: str, alt: str) -> str:
        if name not in plots:
            return ""
        return f'<p><img alt="{alt}" src="data:image/png;base64,{base64.b64encode(plots[name]).decode()}"></p>'

    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>adaptive_st preference study</title>",
             f"<style>{_STYLE}</style></head><body><h1>adaptive_st human preference study</h1><ul>"]
    parts += [f"<li>{html.escape(line)}</li>" for line in _summary_lines(report)]
    parts.append("</ul>")
    figure_after = {0: ("scores", "Bradley–Terry scores"), 1: ("win_rates", "win-rate matrix"),
                    3: ("predictors", "metric accuracy")}
    for n, (title, header, rows) in enumerate(_tables(report)):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in header]
        parts.append("</tr>")
        parts += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>")
        if n in figure_after:
            parts.append(img(*figure_after[n]))
    parts.append("<h2>Notes</h2><ul>")
    parts += [f"<li>{html.escape(note)}</li>" for note in _notes(report)]
    parts.append("</ul></body></html>")
    return "\n".join(parts) + "\n"


def write_report(report: JudgeReport, out_dir: Path) -> dict[str, Path]:
    """``report.md``, ``report.html`` and ``report.json`` in ``out_dir``; returns them by name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / name for name in ("report.md", "report.html", "report.json")}
    files["report.md"].write_text(render_markdown(report))
    files["report.html"].write_text(render_html(report, figures(report)))
    files["report.json"].write_text(json.dumps(report.as_dict(), indent=1, allow_nan=False) + "\n")
    return files


def upload(report: JudgeReport, project: str, mode: str = "offline") -> str:
    """Log the ranking, win rates, metric accuracies and plots to W&B; returns the run folder."""
    import wandb
    from PIL import Image

    run = wandb.init(project=project, mode=mode, dir=str(report.study.root), job_type="judge",
                     config={k: v for k, v in report.study.settings.items() if k != "metrics_unavailable"})
    try:
        rows = report.model_rows()
        columns = list(rows[0])
        run.log({"judge/ranking": wandb.Table(columns=columns, data=[[r[c] for c in columns] for r in rows]),
                 "judge/win_rates": wandb.Table(columns=["model", *report.labels],
                                                data=[[label, *[_num(v) for v in row]] for label, row
                                                      in zip(report.labels, report.rates.tolist())]),
                 **{f"judge/{name}": wandb.Image(Image.open(io.BytesIO(png)))
                    for name, png in figures(report).items()}})
        for r in rows:
            run.summary[f"{r['model']}/bt_theta"] = r["theta"]
        for name, p in report.predictors.items():
            if isinstance(p, MetricAccuracy):
                run.summary[f"predictor/{name}"] = p.accuracy
        run.summary["answers"] = len(report.answers)
        if report.agreement.items:
            run.summary["agreement/fleiss_kappa"] = _num(report.agreement.fleiss_kappa)
        return str(run.dir)
    finally:
        run.finish()
