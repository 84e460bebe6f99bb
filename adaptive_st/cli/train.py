"""`python -m adaptive_st.train`: compose the Hydra config, build everything, fit, report.

Everything is built with ``hydra.utils.instantiate`` from ``conf/``; this file only wires the
objects together, checks the config at start-up (:mod:`adaptive_st.cli.validation`), resolves
``ckpt_path=last`` and checks that checkpoint before Lightning restores it, writes checkpoints
atomically (:class:`AtomicCheckpointIO`), and always closes W&B (an unclosed run makes multirun jobs
hang or merge). A run stopped by SIGTERM/SIGINT saves ``last.ckpt`` (see
:mod:`adaptive_st.training.callbacks`) and exits with status 128 + signal number.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hydra
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers

if TYPE_CHECKING:
    import lightning as L

# Lightning, torch and the module are imported inside the functions that use them, so that
# `adaptive-st train --help` (Hydra's help, composed from conf/) answers without them.
log = logging.getLogger(__name__)
register_resolvers()
#: When this process started (close enough: the first import of the CLI): ``minutes=M`` counts from here.
STARTED_AT = time.time()


def resolve_ckpt_path(ckpt_path: str | None, output_dir: str, quiet: bool = False) -> str | None:
    """``last`` → ``<output_dir>/checkpoints/last.ckpt`` if it exists (fresh start otherwise)."""
    if ckpt_path in (None, "", "null"):
        return None
    if ckpt_path == "last":
        last = Path(output_dir) / "checkpoints" / "last.ckpt"
        if last.exists():
            return str(last)
        if not quiet:
            log.info("ckpt_path=last but %s does not exist yet: starting a fresh run", last)
        return None
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt_path}: no such checkpoint file")
    return str(path)


def apply_batches(cfg: DictConfig) -> None:
    """``batches=N`` (the count a person means) → ``trainer.max_steps = 2·N`` (Lightning's count of G and D
    optimizer steps); ``batches=null`` leaves ``trainer.max_steps`` as configured."""
    from adaptive_st.training.module import STEPS_PER_BATCH

    batches = cfg.get("batches")
    if batches is None:
        return
    with open_dict(cfg):
        cfg.trainer.max_steps = STEPS_PER_BATCH * int(batches)


def apply_cpu_precision(cfg: DictConfig, native_bf16: bool | None = None) -> None:
    """A bf16 ``trainer.precision`` on a CPU without native bf16 falls back to ``32-true`` (one warning):
    recipes choose bf16 for its speed, and emulated bf16 would break their time budget."""
    from adaptive_st.cli.validation import cpu_has_native_bf16, runs_on_cpu

    precision = str(cfg.trainer.get("precision", "32-true"))
    if not precision.startswith("bf16") or not runs_on_cpu(cfg):
        return
    if native_bf16 is None:
        native_bf16 = cpu_has_native_bf16()
    if not native_bf16:
        log.warning("trainer.precision=%s: this CPU has no native bf16 (AMX / AVX512-BF16), so training "
                    "runs in 32-true instead (emulated bf16 is slower than fp32)", precision)
        with open_dict(cfg):
            cfg.trainer.precision = "32-true"


def build(cfg: DictConfig) -> tuple[L.LightningDataModule, L.LightningModule, L.Trainer]:
    """Check the config (and the checkpoint to resume), seed, then instantiate datamodule, module and trainer."""
    import lightning as L
    from lightning.pytorch.callbacks import ProgressBar

    from adaptive_st.checkpoint import load_resume_checkpoint, warm_start
    from adaptive_st.cli.validation import validate_config
    from adaptive_st.runlog.progress import progress_bar
    from adaptive_st.runlog.wandb_run import hydra_summary
    from adaptive_st.training.csv_resume import continue_csv_logs

    validate_config(cfg)
    apply_batches(cfg)  # before the config is resolved, logged and compared with a checkpoint's
    apply_cpu_precision(cfg)  # after validation: bf16 autocast works here, the question is speed
    L.seed_everything(cfg.seed, workers=True)  # after the checks (seed=abc is one of them), before any init
    resolved: dict[str, Any] = OmegaConf.to_container(cfg, resolve=True)  # type: ignore[assignment]
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), str(cfg.paths.output_dir), quiet=True)
    # Before anything heavy: a truncated checkpoint or one of another model fails here, naming why.
    checkpoint = load_resume_checkpoint(ckpt_path, resolved) if ckpt_path else None
    with _config_errors("data"):
        datamodule = instantiate(cfg.data)
    with _config_errors("module"):
        # Passed after instantiation: Hydra would otherwise instantiate the _target_ nodes inside it.
        module = instantiate(cfg.module, _partial_=True)(run_config=resolved)
    if cfg.get("init_from") and checkpoint is None:  # a resume restores its own weights
        grown = warm_start(module, cfg.init_from)
        log.info("warm start from %s%s", cfg.init_from, f" (widened: {', '.join(grown)})" if grown else "")
    with _config_errors("callbacks"):
        callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    with _config_errors("logger"):
        loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None]
    if cfg.get("minutes") is not None:
        from adaptive_st.cli.validation import ConfigError
        from adaptive_st.training.callbacks import TimeBudget

        try:
            callbacks.append(TimeBudget(cfg.minutes, started_at=STARTED_AT))
        except ValueError as exc:  # its constructor checks the value and names the key
            raise ConfigError(str(exc)) from None
    if cfg.trainer.get("enable_progress_bar", True) and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(progress_bar())  # counts batches, not G+D optimizer steps
    with _config_errors("trainer"):
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False, plugins=_plugins(cfg))
    if checkpoint is not None:  # before log_hyperparams: creating the CSV writer deletes metrics.csv
        continue_csv_logs(loggers, checkpoint)
        del checkpoint
    logged = {**resolved, "hydra": hydra_summary()}  # + the overrides and every group's chosen option
    for lg in loggers:
        if hasattr(lg, "log_hyperparams"):
            lg.log_hyperparams(logged)
    log.info("model: %s", parameter_summary(module))
    return datamodule, module, trainer


def parameter_summary(module: L.LightningModule) -> str:
    """One line instead of Lightning's model table (whose FLOPs column reads 0 without an example input)."""
    def count(params: Any) -> str:
        n = sum(p.numel() for p in params)
        return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}K"

    nets = [(name, getattr(module, attr, None)) for name, attr in
            (("G", "generator"), ("S", "style_generator"), ("D", "discriminator"))]
    parts = [f"{name} {count(p for p in net.parameters() if p.requires_grad)}" for name, net in nets if net is not None]
    frozen = count(p for p in module.parameters() if not p.requires_grad)
    return f"trainable {', '.join(parts)}; frozen (VGG) {frozen}"



def train(cfg: DictConfig) -> dict[str, float]:
    """Fit and return the final logged metrics (also written to ``<output_dir>/metrics.json``)."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    output_dir = Path(cfg.paths.output_dir)
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from adaptive_st.cli.validation import ConfigError

        raise ConfigError(f"paths.output_dir={output_dir}: cannot create the folder ({exc.strerror or exc}); "
                          "set paths.output_dir (or hydra.run.dir) to a writable folder") from None
    datamodule, module, trainer = build(cfg)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), str(output_dir))
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        _wandb_summary(trainer, metrics)
    except SIGTERMException:
        raise SystemExit(128 + _stop_signal(trainer)) from None
    finally:
        _finish_wandb(trainer)
    if trainer.is_global_zero:
        (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True))
        shown = {k: v for k, v in metrics.items() if k.startswith("val/")} or metrics
        log.info("final validation: %s", ", ".join(f"{k.removeprefix('val/')}={v:.4g}" for k, v in sorted(shown.items())))
        log.info("outputs in %s", output_dir)
    return metrics


@contextlib.contextmanager
def _config_errors(group: str) -> Iterator[None]:
    """Surface a constructor's error as itself: ours already name the config key and the fix, which
    Hydra's ``InstantiationException`` wrapper would bury under its own text (the module, a ``_partial_``
    called by us, raises its errors unwrapped). Any other ValueError or
    TypeError (an unknown ``+group.key``, a flag Lightning refuses) raised while instantiating ``group``
    from the config is a bad config value too: a :class:`ConfigError` naming the group."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from adaptive_st.cli.validation import ConfigError

    try:
        yield
    except (InstantiationException, MisconfigurationException, ValueError, TypeError) as exc:
        # A ``_partial_`` target is called outside Hydra: its constructor's errors arrive unwrapped.
        cause = exc.__cause__ if isinstance(exc, InstantiationException) else exc
        if isinstance(cause, user_errors()):
            raise cause from None
        if isinstance(cause, (ValueError, TypeError, MisconfigurationException)):
            message = str(cause)
            names_a_key = re.match(r"[\w.]+[=:]", message)  # ours do: "data.crop_size=0 must be >= 1"
            raise ConfigError(message if names_a_key else f"{group}: {message}") from None
        raise


def user_errors() -> tuple[type[BaseException], ...]:
    """Errors whose message names the key, file or fault and the fix: reported as one line per problem by
    the CLI, without a traceback (any other exception is a bug and keeps its traceback)."""
    from adaptive_st.checkpoint import CheckpointError, CheckpointWriteError
    from adaptive_st.cli.validation import ConfigError
    from adaptive_st.data.images import DataConfigError, ImageLoadError
    from adaptive_st.pretrained import MissingWeightsError
    from adaptive_st.training.module import NonFiniteLossError

    return (ConfigError, DataConfigError, ImageLoadError, CheckpointError, CheckpointWriteError,
            NonFiniteLossError, MissingWeightsError)


def error_lines(exc: BaseException) -> list[str]:
    """One line per problem: a :class:`ConfigError` lists several; other multi-line messages are joined."""
    text = str(exc)
    header = "invalid training config:\n"
    problems = text[len(header):].split("\n  - ") if text.startswith(header) else [text]
    return [" ".join(part.strip() for part in p.strip().lstrip("- ").splitlines() if part.strip()) for p in problems]


def _plugins(cfg: DictConfig) -> list[Any]:
    """The config's ``trainer.plugins`` plus atomic checkpoint writes, unless it brings its own CheckpointIO."""
    from lightning.fabric.plugins.io import CheckpointIO

    from adaptive_st.checkpoint import AtomicCheckpointIO

    plugins = list(instantiate(cfg.trainer.get("plugins")) or [])
    if not any(isinstance(p, CheckpointIO) for p in plugins):
        plugins.append(AtomicCheckpointIO())
    return plugins


def _stop_signal(trainer: L.Trainer) -> int:
    from adaptive_st.training.callbacks import InterruptCheckpoint

    for cb in trainer.callbacks:  # type: ignore[attr-defined]
        if isinstance(cb, InterruptCheckpoint) and cb.stop_signal is not None:
            return int(cb.stop_signal)
    return int(signal.SIGTERM)


def _wandb_summary(trainer: L.Trainer, metrics: dict[str, float]) -> None:
    """The run summary holds the final validation metrics (every run ends with a validation)."""
    from adaptive_st.runlog.wandb_run import RunLogger

    if trainer.is_global_zero:
        for lg in trainer.loggers:
            if isinstance(lg, RunLogger):
                lg.finalize_summary(metrics)


def _finish_wandb(trainer: L.Trainer) -> None:
    from lightning.pytorch.loggers import WandbLogger

    if any(isinstance(lg, WandbLogger) for lg in trainer.loggers):
        import wandb

        wandb.finish()


def apply_extras(cfg: DictConfig) -> None:
    """``extras``: filter harmless library warnings/notices (``ignore_warnings``), print the config tree
    (``print_config``). Run first, before Lightning or W&B print anything."""
    from adaptive_st.runlog.quiet import quiet_libraries

    extras = cfg.get("extras") or {}
    quiet_libraries(ignore_warnings=bool(extras.get("ignore_warnings", True)))
    if extras.get("print_config", False):
        from adaptive_st.runlog.config_tree import print_config_tree

        print_config_tree(cfg)


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="train")
def main(cfg: DictConfig) -> float | None:
    apply_extras(cfg)
    try:
        metrics = train(cfg)
    except user_errors() as exc:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise  # a sweep records the failed job and goes on to the next one
        for line in error_lines(exc):
            print(f"adaptive-st train: error: {line}", file=sys.stderr)
        raise SystemExit(1) from None
    value = metrics.get(cfg.get("optimized_metric") or "", math.nan)
    return value


if __name__ == "__main__":
    main()
