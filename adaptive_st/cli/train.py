"""`python -m adaptive_st.train`: compose the Hydra config, build everything, fit, report.

Everything is built with ``hydra.utils.instantiate`` from ``conf/``; this file only wires the
objects together, resolves ``ckpt_path=last``, and always closes W&B (an unclosed run makes
multirun jobs hang or merge).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import hydra
import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers

log = logging.getLogger(__name__)
register_resolvers()


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str) -> str | None:
    """``last`` → ``<output_dir>/checkpoints/last.ckpt`` if it exists (fresh start otherwise)."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        last = Path(output_dir) / "checkpoints" / "last.ckpt"
        if last.exists():
            return str(last)
        log.info("ckpt_path=last but %s does not exist yet: starting a fresh run", last)
        return None
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return ckpt_path


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Instantiate datamodule, module and trainer from a composed config."""
    resolved: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    datamodule = instantiate(cfg.data)
    # Passed after instantiation: Hydra would otherwise instantiate the _target_ nodes inside it.
    module = instantiate(cfg.module, _partial_=True)(run_config=resolved)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(resolved)
    return datamodule, module, trainer


def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and return the final logged metrics (also written to ``<output_dir>/metrics.json``)."""
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    datamodule, module, trainer = build(cfg)
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), str(output_dir)))
    finally:
        _finish_wandb(trainer)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
    if trainer.is_global_zero:
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        log.info("metrics: %s", json.dumps(metrics, sort_keys=True))
        log.info("outputs in %s", output_dir)
    return metrics


def _finish_wandb(trainer: L.Trainer) -> None:
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    metrics = train(cfg)
    value = metrics.get(cfg.get("optimized_metric") or "", math.nan)
    return value


if __name__ == "__main__":
    main()
