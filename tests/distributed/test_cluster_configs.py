"""Cluster configs compose into what SLURM / torchrun and Lightning expect (no cluster needed)."""

from __future__ import annotations

from hydra.utils import get_class, instantiate

from adaptive_st.module.ddp import HydraDDPStrategy, config_flags


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
