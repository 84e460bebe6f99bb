"""Hydra sweeps through the real CLI: an Optuna study of two tiny trials (optuna 2.10 with numpy 2)."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import FAST
from tests.distributed.test_ddp_cpu import run_cli

pytestmark = pytest.mark.slow


def test_optuna_two_trials(tmp_path, sample_root, shared_dir):
    proc = run_cli("hparams_search=optuna", "hydra.sweeper.n_trials=2", *FAST, "trainer.max_steps=2",
                   "trainer.val_check_interval=1", "logger=csv", f"paths.data_dir={sample_root}",
                   f"paths.shared_dir={shared_dir}", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert jobs == ["0_constant", "1_constant"]
    result = yaml.safe_load((tmp_path / "sweep" / "optimization_results.yaml").read_text())
    assert result["name"] == "optuna"
    assert set(result["best_params"]) == {"module.optimizer_g.lr", "module.optimizer_d.lr", "module.r1_weight",
                                          "loss.weights.adv"}
    assert result["best_value"] > 0  # a real val/objective came back, not NaN
