"""Cluster configs compose into what SLURM / torchrun and Lightning expect (no cluster needed)."""

from __future__ import annotations

import pytest
from hydra.utils import get_class, instantiate

from adaptive_st.training.ddp import HydraDDPStrategy, config_flags


def test_submitit_slurm_launcher_matches_the_trainer(compose_cfg):
    compose_cfg("hydra/launcher=submitit_slurm", "trainer=ddp_multinode", "trainer.num_nodes=3", "trainer.devices=4",
                fast=False)
    from hydra.core.hydra_config import HydraConfig

    launcher = HydraConfig.get().launcher
    assert get_class(launcher._target_).__name__ == "SlurmLauncher"
    # Lightning's SLURMEnvironment requires ntasks-per-node == devices (one process per GPU).
    assert (launcher.nodes, launcher.tasks_per_node, launcher.gpus_per_node) == (3, 4, 4)


def test_ddp_configs_build_the_hydra_strategy(compose_cfg):
    for option, accelerator in (("ddp", "gpu"), ("ddp_cpu", "cpu"), ("ddp_multinode", "gpu")):
        cfg = compose_cfg(f"trainer={option}")
        strategy = instantiate(cfg.trainer.strategy)
        assert isinstance(strategy, HydraDDPStrategy)
        assert strategy._ddp_kwargs["find_unused_parameters"] is True
        assert cfg.trainer.accelerator == accelerator


def test_config_flags_pass_through():
    argv = ["-m", "--config-name", "other", "policy=a,b", "-cd=/x", "--config-path", "p", "trainer=ddp"]
    assert config_flags(argv) == ["--config-name", "other", "-cd=/x", "--config-path", "p"]


def test_child_ranks_rerun_the_job_not_the_sweep(compose_cfg):
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict, read_write

    from adaptive_st.training.ddp import job_command

    compose_cfg("policy=schedule", "module.optimizer_g.lr='${oc.env:LR,0.001}'")
    with pytest.raises(RuntimeError, match="compose API"):  # no Hydra app to re-run
        job_command(1)
    hydra_cfg = HydraConfig.get()
    with read_write(hydra_cfg), open_dict(hydra_cfg):
        hydra_cfg.runtime.output_dir = "/runs/sweep/3_schedule"
    cmd = job_command(1)
    assert "policy=schedule" in cmd and "module.optimizer_g.lr='${oc.env:LR,0.001}'" in cmd  # raw, unresolved
    assert {"hydra.mode=RUN", 'hydra.run.dir="/runs/sweep/3_schedule"', "hydra.output_subdir=null"} <= set(cmd)
    assert "-m" not in cmd[3:] and "--multirun" not in cmd
