"""The CLI as a user runs it: `python -m adaptive_st.train` (single run and Hydra multirun)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from adaptive_st.cli.resolvers import PROJECT_ROOT
from tests.conftest import FAST

pytestmark = pytest.mark.slow


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1"}
    return subprocess.run([sys.executable, "-m", "adaptive_st.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_multirun_two_policies(tmp_path, sample_root, shared_dir):
    proc = run_cli("-m", "policy=constant,schedule", *FAST, "trainer.max_steps=4", "logger=csv",
                   f"paths.data_dir={sample_root}", f"paths.shared_dir={shared_dir}",
                   f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "sweep").glob("*_*"))
    assert [j.name for j in jobs] == ["0_constant", "1_schedule"]
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        assert "train/lambda_style" in metrics
        assert (job / "checkpoints" / "last.ckpt").is_file()
    # Hydra did not chdir: nothing was written into the CWD besides the sweep dir.
    assert {p.name for p in tmp_path.iterdir()} == {"sweep"}


def test_bad_override_fails_with_clear_message(tmp_path, sample_root, shared_dir):
    proc = run_cli(*FAST, "policy=no_such_policy", f"paths.data_dir={sample_root}", cwd=tmp_path)
    assert proc.returncode != 0
    assert "no_such_policy" in proc.stderr


def test_console_script_dispatch():
    from adaptive_st.cli.main import main

    assert main(["--help"]) == 0
    assert main(["no-such-command"]) == 2
    assert (PROJECT_ROOT / "conf" / "train.yaml").is_file()
