"""`adaptive-st --help` / `<command> --help` stay light: no torch, Lightning, W&B, Hydra or torchvision."""

from __future__ import annotations

import subprocess
import sys

import pytest

from adaptive_st import __version__
from adaptive_st.cli.main import COMMANDS
from adaptive_st.cli.main import main as adaptive_st
from adaptive_st.cli.resolvers import PROJECT_ROOT

HEAVY = ("torch", "lightning", "wandb", "hydra", "torchvision", "onnxruntime", "torchmetrics")
PROBE = """
import sys
from adaptive_st.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
sys.exit(code)
"""


def run_help(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args", [("--help",), ("--version",), *((name, "--help") for name in COMMANDS)])
def test_help_imports_nothing_heavy(args: tuple[str, ...]):
    proc = run_help(*args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("HEAVY:"), proc.stdout[-300:]
    assert "`" not in proc.stdout, "help text shows raw reST backticks"


def test_top_level_help_lists_every_command_with_a_summary(capsys):
    assert adaptive_st(["--help"]) == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        line = next(line for line in out.splitlines() if line.strip().startswith(name + " "))
        assert len(line.split(None, 1)[1]) > 10, line
    assert "Stylize a file or a folder with a trained model." in out
    assert adaptive_st(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"adaptive-st {__version__}"


def test_unknown_command_and_no_command(capsys):
    assert adaptive_st(["stylise"]) == 2
    assert "unknown command 'stylise'" in capsys.readouterr().err
    assert adaptive_st([]) == 2
    assert "usage: adaptive-st" in capsys.readouterr().err
