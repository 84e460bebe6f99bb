"""W&B runs that read at a glance: names from the overrides that differ, groups per sweep, one step axis.

``conf/logger/wandb.yaml`` takes its name and group from the resolvers below (registered by
:func:`adaptive_st.cli.resolvers.register_resolvers`):

- ``${wandb_name:${run_name}}``: the run name plus the overrides that make this run differ. In a sweep
  (Hydra multirun, Optuna) that is the job number and the swept values (``constant#1 optimizer_g.lr=0.000412
  adv=0.031``); in a single run the command line's overrides (paths, logging and output switches left
  out).
- ``${wandb_group:${task_name}}``: the experiment (``experiment=...``), and in a sweep the sweep itself
  (``optuna@2026-12-04_17-33-56``), so a sweep's trials sit together and apart from other sweeps.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger

#: Overrides that say where or how a run writes, not what it trains: left out of run names.
_NOT_IN_NAME = ("paths.", "hydra.", "logger", "callbacks", "ckpt_path", "extras", "tags", "run_name", "task_name",
                "trainer.enable_", "trainer.log_every_n_steps", "experiment", "hparams_search", "debug")
_MAX_NAME = 120


def _hydra() -> Any:
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def _short(override: str, parts: int = 1) -> str:
    """``module.optimizer_g.lr=0.000412345`` → ``lr=0.000412``: the last key part(s), 3 significant digits."""
    key, _, value = override.lstrip("+~").partition("=")
    try:
        number = float(value)
        if not value.lstrip("-").isdigit():
            value = f"{number:.3g}"
    except ValueError:
        pass
    return f"{'.'.join(key.split('.')[-parts:])}={value}"


def _shorten_all(overrides: Sequence[str]) -> list[str]:
    """:func:`_short` for each, with one more key part where the last one alone is ambiguous
    (``optimizer_g.lr=… optimizer_d.lr=…``, not ``lr=… lr=…``)."""
    names = [o.lstrip("+~").partition("=")[0].rsplit(".", 1)[-1] for o in overrides]
    return [_short(o, 2 if names.count(n) > 1 else 1) for o, n in zip(overrides, names, strict=True)]


def _is_multirun(hc: Any) -> bool:
    from hydra.types import RunMode

    return hc is not None and hc.mode == RunMode.MULTIRUN


def run_overrides(hc: Any, argv: Sequence[str] | None = None) -> list[str]:
    """The overrides that make this run differ: in a sweep, those not literally on the command line (the
    swept values); else all of them; without paths, logging and output switches."""
    if hc is None:
        return []
    overrides = [str(o) for o in hc.overrides.task]
    if _is_multirun(hc):
        given = set(sys.argv[1:] if argv is None else argv)
        overrides = [o for o in overrides if o not in given]
    return [o for o in overrides if not o.lstrip("+~").startswith(_NOT_IN_NAME)]


def wandb_name(run_name: str) -> str:
    hc = _hydra()
    name = str(run_name)
    if _is_multirun(hc):
        name = f"{name}#{hc.job.num}"
    # The run name already says the policy (or the experiment's name): do not repeat it.
    parts = _shorten_all([o for o in run_overrides(hc) if o.partition("=")[2] != str(run_name)])
    full = " ".join([name, *parts])
    return full if len(full) <= _MAX_NAME else full[: _MAX_NAME - 1] + "…"


def wandb_group(task_name: str) -> str:
    hc = _hydra()
    if hc is None:
        return str(task_name)
    choices = hc.runtime.choices
    label = choices.get("experiment") or choices.get("hparams_search") or str(task_name)
    if _is_multirun(hc):
        return f"{label}@{Path(str(hc.sweep.dir)).name}"
    return str(label)


def hydra_summary() -> dict[str, Any]:
    """What W&B's config shows under ``hydra``: the command line's overrides and every group's option."""
    hc = _hydra()
    if hc is None:
        return {}
    from omegaconf import OmegaConf

    choices = OmegaConf.to_container(hc.runtime.choices, resolve=True) or {}
    summary: dict[str, Any] = {
        "overrides": [str(o) for o in hc.overrides.task],
        "choices": {k: v for k, v in choices.items() if not str(k).startswith("hydra/")},  # type: ignore[union-attr]
    }
    if _is_multirun(hc):
        summary["job_num"] = int(hc.job.num)
        summary["sweep_dir"] = str(hc.sweep.dir)
    return summary


class RunLogger(WandbLogger):
    """Lightning's WandbLogger without its ``anonymous`` warning, with one step axis for every key (scalars
    and the ``val/grid`` images: Lightning's batch step, ``trainer/global_step``), and a summary that holds
    the final validation metrics (:meth:`finalize_summary`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self._wandb_init.get("anonymous") is None:
            self._wandb_init.pop("anonymous", None)  # wandb >= 0.19 warns about the key whatever its value
        self._wandb_init.setdefault("settings", _quiet_settings())

    @property
    def experiment(self) -> Any:
        run = super().experiment
        if not getattr(self, "_axes_defined", False) and hasattr(run, "define_metric"):
            run.define_metric("trainer/global_step")
            for pattern in ("train/*", "val/*", "*"):
                run.define_metric(pattern, step_metric="trainer/global_step", step_sync=True)
            self._axes_defined = True
        return run

    def finalize_summary(self, metrics: Mapping[str, float]) -> None:
        """Write the final validation metrics (and the last train values) to the run summary."""
        if not metrics:
            return
        self.experiment.summary.update({k: float(v) for k, v in metrics.items()})


def _quiet_settings() -> Any:
    import wandb

    return wandb.Settings(silent=True)
