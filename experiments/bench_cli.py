"""How fast the command lines answer ``--help``: ``adaptive-st``, each sub-command, the ``python -m`` entries.

Each command runs ``--repeat`` times (default 3) in a fresh process; the table gives the median and the
fastest wall time and whether the median is under the target (1 s, issue 14). The first runs after an
install also pay for writing ``__pycache__``; run it twice to see the warm numbers.

    .venv/bin/python experiments/bench_cli.py [--repeat 3] [--target 1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adaptive_st.cli.main import COMMANDS  # noqa: E402  (lightweight: a dict of module names)

#: ``python -m adaptive_st.<entry>`` shims (train and eval print Hydra's full help: it composes every group).
MODULE_ENTRIES: tuple[str, ...] = ("train", "eval", "stylize")


@dataclass
class Timing:
    command: str
    median_s: float
    min_s: float
    runs: int
    returncode: int

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def console_script() -> list[str]:
    """The installed ``adaptive-st`` next to this interpreter (or on PATH); else ``python -m`` its main."""
    here = Path(sys.executable).parent / "adaptive-st"
    found = str(here) if here.exists() else shutil.which("adaptive-st")
    return [found] if found else [sys.executable, "-m", "adaptive_st.cli.main"]


def commands() -> list[tuple[str, list[str]]]:
    """(label, argv) of every command line timed."""
    script = console_script()
    out = [("adaptive-st --help", [*script, "--help"]), ("adaptive-st --version", [*script, "--version"])]
    out += [(f"adaptive-st {name} --help", [*script, name, "--help"]) for name in COMMANDS]
    out += [(f"python -m adaptive_st.{entry} --help", [sys.executable, "-m", f"adaptive_st.{entry}", "--help"])
            for entry in MODULE_ENTRIES]
    return out


def measure(label: str, argv: Sequence[str], repeat: int = 3, timeout: float = 120.0) -> Timing:
    """Wall time of ``repeat`` fresh runs of ``argv`` (output discarded), from the repository root."""
    times, code = [], 0
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(list(argv), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=timeout)
        times.append(time.perf_counter() - start)
        code = code or proc.returncode
    return Timing(label, statistics.median(times), min(times), repeat, code)


def table(rows: Sequence[Timing], target: float) -> str:
    """A Markdown table: command, median, min, under the target, exit status."""
    width = max(len(r.command) for r in rows) + 2
    lines = [f"| {'command':<{width}} | median s | min s | < {target:g} s | rc |",
             f"|{'-' * (width + 2)}|---------:|------:|:-----:|---:|"]
    for r in rows:
        ok = "yes" if r.median_s < target and r.returncode == 0 else "no"
        lines.append(f"| {'`' + r.command + '`':<{width}} | {r.median_s:8.2f} | {r.min_s:5.2f} | {ok:^5} | {r.returncode:>2} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3, help="runs per command (median reported)")
    p.add_argument("--target", type=float, default=1.0, help="seconds a --help should take at most")
    p.add_argument("--json", type=Path, help="also write the timings here")
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    rows = []
    for label, cmd in commands():
        rows.append(measure(label, cmd, args.repeat))
        print(f"{label}: {rows[-1].median_s:.2f} s", file=sys.stderr, flush=True)
    print(table(rows, args.target))
    if args.json:
        args.json.write_text(json.dumps([r.to_dict() for r in rows], indent=2))
    return 0 if all(r.returncode == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
