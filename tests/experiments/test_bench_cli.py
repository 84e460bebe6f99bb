"""experiments/bench_cli.py: the timed command lines and the table (the timings themselves are not tested)."""

from __future__ import annotations

import sys

from experiments.bench_cli import commands, measure, table


def test_every_subcommand_and_the_module_entry_are_timed():
    labels = [label for label, _ in commands()]
    assert "adaptive-st --help" in labels and "python -m adaptive_st.train --help" in labels
    assert {f"adaptive-st {name} --help" for name in ("train", "stylize", "evaluate", "export")} <= set(labels)


def test_measure_and_table():
    row = measure("python -c pass", [sys.executable, "-c", "pass"], repeat=2)
    assert row.runs == 2 and row.returncode == 0 and 0 < row.min_s <= row.median_s
    failed = measure("python -c exit(3)", [sys.executable, "-c", "raise SystemExit(3)"], repeat=1)
    text = table([row, failed], target=60.0)
    assert "`python -c pass`" in text and "yes" in text.splitlines()[2]
    assert text.splitlines()[3].rstrip("| ").endswith("3") and "no" in text.splitlines()[3]
