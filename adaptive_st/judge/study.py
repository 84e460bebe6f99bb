"""The study folder: its manifest (``study.json``), the answer CSVs, and each rater's order of comparisons.

A study is a plain folder a team can share (copy, sync, commit). The manifest names the models, the
pairs and every comparison and never changes after preparation; answers go to ``answers/<rater>.csv``,
one file per rater, so merging several raters' work is copying their files side by side. A rater's
order of comparisons and which output sits on the left both derive from the study seed and the rater
id, so a restarted server shows that rater exactly the comparisons not answered yet, laid out as before.
"""

from __future__ import annotations

import csv
import json
import os
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from itertools import combinations
from pathlib import Path
from typing import Any

MANIFEST = "study.json"
ANSWERS_DIR = "answers"
VERSION = 1
#: One row per answer; ``left``/``right`` are model labels as shown in the report, never on the page.
ANSWER_COLUMNS = ("rater", "comparison", "pair", "left", "right", "choice", "answered_at", "latency_ms")
CHOICES = ("left", "right", "tie")
_RATER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")


class StudyError(ValueError):
    """A study folder or an answer that cannot be used; the message is the whole story."""


@dataclass(frozen=True)
class Model:
    id: str
    label: str
    checkpoint: str
    policy: str
    weights: str
    vgg: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyPair:
    """One (content, style) pair, its output per model (paths relative to the study) and their metrics."""

    id: str
    content: str
    style: str
    content_image: str
    style_image: str
    outputs: dict[str, str]
    metrics: dict[str, dict[str, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """Outputs of models ``a`` and ``b`` (ids) on one pair; ids are assigned after shuffling (opaque)."""

    id: str
    pair: str
    a: str
    b: str


@dataclass(frozen=True)
class Answer:
    rater: str
    comparison: str
    pair: str
    left: str
    right: str
    choice: str
    answered_at: str = ""
    latency_ms: float | None = None

    @property
    def winner(self) -> str | None:
        """Label of the preferred model, None for "can't tell"."""
        return {"left": self.left, "right": self.right}.get(self.choice)


def check_rater(rater: str) -> str:
    """Rater ids name files (``answers/<rater>.csv``), so they are short and filename-safe."""
    if not _RATER.fullmatch(rater or ""):
        raise StudyError(f"rater id {rater!r}: use 1-40 letters, digits, '.', '_' or '-' (starting with a "
                         "letter or digit)")
    return rater


class Study:
    """A prepared study (see module docstring); :meth:`load` reads one, :meth:`save` writes the manifest."""

    def __init__(self, root: Path, models: list[Model], pairs: list[StudyPair], comparisons: list[Comparison],
                 settings: dict[str, Any], notes: list[str] | None = None) -> None:
        self.root = Path(root)
        self.models = models
        self.pairs = pairs
        self.comparisons = comparisons
        self.settings = settings
        self.notes = list(notes or [])
        self.model_by_id = {m.id: m for m in models}
        self.model_by_label = {m.label: m for m in models}
        self.pair_by_id = {p.id: p for p in pairs}
        self.comparison_by_id = {c.id: c for c in comparisons}

    @staticmethod
    def exists(root: Path) -> bool:
        return (Path(root) / MANIFEST).is_file()

    @classmethod
    def load(cls, root: Path) -> Study:
        path = Path(root) / MANIFEST
        if not path.is_file():
            raise StudyError(f"{root}: no study here (no {MANIFEST}); prepare one with "
                             "'adaptive-st judge CKPT_A CKPT_B --content DIR --style DIR --out DIR'")
        try:
            data = json.loads(path.read_text())
            if data.get("version") != VERSION:
                raise StudyError(f"{path}: study format version {data.get('version')!r}, expected {VERSION}")
            models = [Model(**{**m, "notes": tuple(m.get("notes", ()))}) for m in data["models"]]
            pairs = [StudyPair(**p) for p in data["pairs"]]
            comparisons = [Comparison(**c) for c in data["comparisons"]]
            return cls(Path(root), models, pairs, comparisons, data["settings"], data.get("notes", []))
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
            raise StudyError(f"{path}: not a readable study manifest ({type(err).__name__}: {err})") from None

    def save(self) -> Path:
        """Write the manifest atomically (a half-written one would hide the whole study)."""
        data = {"version": VERSION, "settings": self.settings, "notes": self.notes,
                "models": [asdict(m) for m in self.models], "pairs": [asdict(p) for p in self.pairs],
                "comparisons": [asdict(c) for c in self.comparisons]}
        path = self.root / MANIFEST
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
        os.replace(tmp, path)
        return path

    def file(self, relative: str) -> Path:
        """A file of the study, refusing paths that leave the folder (they come from the manifest)."""
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise StudyError(f"{relative}: outside the study folder")
        return path

    def order(self, rater: str) -> list[Comparison]:
        """This rater's order of all comparisons: fixed by the study seed and the rater id."""
        order = list(self.comparisons)
        random.Random(f"{self.settings.get('seed', 0)}/{rater}").shuffle(order)
        return order

    def sides(self, rater: str, comparison: Comparison) -> tuple[Model, Model]:
        """(left, right) models of a comparison for this rater: a fair coin per rater and comparison."""
        a, b = self.model_by_id[comparison.a], self.model_by_id[comparison.b]
        flip = random.Random(f"{self.settings.get('seed', 0)}/{rater}/{comparison.id}").random() < 0.5
        return (b, a) if flip else (a, b)


def comparisons_for(pair_ids: Sequence[str], model_ids: Sequence[str], seed: int) -> list[Comparison]:
    """Every pair of models on every pair of images, shuffled before numbering so an id says nothing."""
    combos = [(p, a, b) for p in pair_ids for a, b in combinations(model_ids, 2)]
    random.Random(seed).shuffle(combos)
    return [Comparison(f"q{i:04d}", p, a, b) for i, (p, a, b) in enumerate(combos)]


def _answer_from_row(study: Study, row: dict[str, str]) -> Answer:
    comparison = study.comparison_by_id.get(row.get("comparison") or "")
    if comparison is None:
        raise StudyError(f"unknown comparison {row.get('comparison')!r}")
    if row.get("choice") not in CHOICES:
        raise StudyError(f"choice {row.get('choice')!r} is not one of {', '.join(CHOICES)}")
    labels = {study.model_by_id[comparison.a].label, study.model_by_id[comparison.b].label}
    if {row.get("left"), row.get("right")} != labels or row.get("pair") != comparison.pair:
        raise StudyError(f"models/pair do not match comparison {comparison.id} of this study")
    latency = row.get("latency_ms") or ""
    return Answer(check_rater(row.get("rater") or ""), comparison.id, comparison.pair, row["left"], row["right"],
                  row["choice"], row.get("answered_at") or "", float(latency) if latency else None)


def read_answers(study: Study) -> tuple[list[Answer], list[str]]:
    """Every answer under ``answers/*.csv`` (first answer per rater and comparison), and one line per row or
    file that was left out, so a report says what it did not count instead of failing on a stray file."""
    answers: list[Answer] = []
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for path in sorted((study.root / ANSWERS_DIR).glob("*.csv")):
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            if tuple(reader.fieldnames or ()) != ANSWER_COLUMNS:
                problems.append(f"{path.name}: not an answer file (header {reader.fieldnames}); skipped")
                continue
            for line, row in enumerate(reader, start=2):
                try:
                    answer = _answer_from_row(study, row)
                except (StudyError, ValueError) as err:
                    problems.append(f"{path.name} line {line}: {err}; row skipped")
                    continue
                key = (answer.rater, answer.comparison)
                if key in seen:
                    problems.append(f"{path.name} line {line}: {answer.rater} answered {answer.comparison} "
                                    "before; the first answer counts")
                    continue
                seen.add(key)
                answers.append(answer)
    return answers, problems


class AnswerLog:
    """What a server records: one appended, flushed CSV row per answer (a crash loses nothing answered).

    Thread-safe (the server answers requests on threads); knows every answer already in the folder, so a
    restart resumes each rater where they stopped.
    """

    def __init__(self, study: Study) -> None:
        self.study = study
        self._lock = threading.Lock()
        self._answered: dict[str, set[str]] = {}
        for answer in read_answers(study)[0]:
            self._answered.setdefault(answer.rater, set()).add(answer.comparison)

    def raters(self) -> list[str]:
        return sorted(self._answered)

    def answered(self, rater: str) -> int:
        return len(self._answered.get(rater, ()))

    def next(self, rater: str) -> Comparison | None:
        """The first comparison in this rater's order they have not answered; None when all are."""
        done = self._answered.get(rater, set())
        return next((c for c in self.study.order(rater) if c.id not in done), None)

    def record(self, rater: str, comparison_id: str, choice: str, latency_ms: float | None) -> bool:
        """Append one answer; False (nothing written) when this rater already answered the comparison."""
        check_rater(rater)
        comparison = self.study.comparison_by_id.get(comparison_id)
        if comparison is None:
            raise StudyError(f"unknown comparison {comparison_id!r}")
        if choice not in CHOICES:
            raise StudyError(f"choice {choice!r}: expected one of {', '.join(CHOICES)}")
        left, right = self.study.sides(rater, comparison)
        row = {"rater": rater, "comparison": comparison.id, "pair": comparison.pair, "left": left.label,
               "right": right.label, "choice": choice,
               "answered_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
               "latency_ms": "" if latency_ms is None else f"{latency_ms:.0f}"}
        with self._lock:
            done = self._answered.setdefault(rater, set())
            if comparison.id in done:
                return False
            path = self.study.root / ANSWERS_DIR / f"{rater}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            new = not path.exists() or path.stat().st_size == 0
            with path.open("a", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(ANSWER_COLUMNS))
                if new:
                    writer.writeheader()
                writer.writerow(row)
                f.flush()
                os.fsync(f.fileno())
            done.add(comparison.id)
        return True
