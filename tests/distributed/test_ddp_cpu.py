"""DDP on 2 CPU processes (gloo) through the real CLI, as a Hydra multirun of three jobs.

One multirun covers: every job launches its own 2 ranks (own port, own output dir, clean teardown —
three DDP jobs back to back in one process), G/S/D weights, the EMA and the policy buffers end
bit-identical on both ranks for a constant, a gradient-based and a per-image (feature all-reduce)
policy, epoch-level metrics are synced, and only rank 0 writes outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adaptive_st.cli.resolvers import PROJECT_ROOT
from tests.conftest import FAST

pytestmark = pytest.mark.slow

POLICIES = ("constant", "grad_ratio", "per_image")
DDP_TINY = (
    *(o for o in FAST if not o.startswith("module.val_metrics")),
    "trainer=ddp_cpu",
    "data.crop_size=32",
    "data.batch_size=2",
    "data.train_length=16",
    "data.num_val_pairs=4",
    "trainer.max_steps=6",  # 3 batches per rank
    "trainer.val_check_interval=3",
    "module.ema_decay=0.5",
    "module.r1_every=2",
    # SSIM/PSNR only (torchmetrics sync themselves across ranks); LPIPS is slow to build.
    "module.val_metrics.lpips_net=null",
    "logger=csv",
    "+callbacks.rank_state._target_=tests.distributed.rank_state.RankStateCallback",
    "+callbacks.rank_state.dirpath=${paths.output_dir}/rank_state",
    # A time budget checked every batch: rank 0's horizon estimate and stop decision are broadcast (a rank
    # deciding alone would hang the other in the next all-reduce); batches cap the horizon at 3.
    "module.lr_decay_start=0.5",
    "module.lr_final_scale=0.1",
    "+callbacks.time_budget._target_=adaptive_st.training.callbacks.TimeBudget",
    "+callbacks.time_budget.minutes=30",
    "+callbacks.time_budget.warmup_batches=1",
    "+callbacks.time_budget.check_every=1",
)


def run_cli(*args: str, cwd: Path, timeout: int = 400) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    env.pop("MASTER_PORT", None)
    env.pop("LOCAL_RANK", None)
    return subprocess.run([sys.executable, "-m", "adaptive_st.train", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def ddp_sweep(tmp_path_factory: pytest.TempPathFactory, sample_root: Path, shared_dir: Path) -> Path:
    tmp = tmp_path_factory.mktemp("ddp")
    proc = run_cli("-m", f"policy={','.join(POLICIES)}", *DDP_TINY, f"paths.data_dir={sample_root}",
                   f"paths.shared_dir={shared_dir}", f"hydra.sweep.dir={tmp / 'sweep'}", cwd=tmp)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    # Nothing but the sweep folder: children did not start sweeps or Hydra run dirs of their own.
    assert {p.name for p in tmp.iterdir()} == {"sweep"}
    return tmp / "sweep"


@pytest.mark.parametrize("index,policy", list(enumerate(POLICIES)))
def test_ranks_end_identical(ddp_sweep: Path, index: int, policy: str) -> None:
    job = ddp_sweep / f"{index}_{policy}"
    ranks = [torch.load(job / "rank_state" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    s0, s1 = ranks[0]["state"], ranks[1]["state"]
    assert s0.keys() == s1.keys()
    differing = [k for k in s0 if not torch.equal(s0[k], s1[k])]
    assert not differing, f"{policy}: ranks differ in {differing[:8]}"
    assert int(s0["train_step"]) == 3
    assert [r["budget_horizon"] for r in ranks] == [3, 3]  # fixed by the time budget's broadcast on both ranks
    assert any(k.startswith("ema.generator.") for k in s0)
    buffers = [k for k in s0 if k.startswith("policy.")]
    if policy == "per_image":
        assert bool(s0["policy.initialized"]) and "policy.running_means" in buffers
    # Training moved the weights away from the (identical) start, so the equality is not vacuous.
    assert not torch.equal(s0["ema.generator.to_rgb.weight"], s0["generator.to_rgb.weight"])


@pytest.mark.parametrize("index,policy", list(enumerate(POLICIES)))
def test_epoch_metrics_synced_and_rank0_writes(ddp_sweep: Path, index: int, policy: str) -> None:
    job = ddp_sweep / f"{index}_{policy}"
    m0, m1 = (torch.load(job / "rank_state" / f"rank{r}.pt", weights_only=True)["metrics"] for r in (0, 1))
    for key in ("val/loss_content", "val/loss_style", "val/ssim", "val/psnr"):
        assert m0[key] == pytest.approx(m1[key], rel=1e-6), key  # each rank validated other images
    metrics = json.loads((job / "metrics.json").read_text())
    assert metrics["val/ssim"] == pytest.approx(m0["val/ssim"])
    assert (job / "checkpoints" / "last.ckpt").is_file()
    assert len(list((job / "images").glob("val_step*.png"))) == 1
    assert len(list(job.rglob("metrics.csv"))) == 1
    assert not (job / ".hydra" / "rank1").exists()
