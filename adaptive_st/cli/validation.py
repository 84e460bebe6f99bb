"""Start-up checks of a composed training config: every problem found before anything heavy is built.

Most values are validated where they are used (the data module names bad folders, policies their
weights and targets, Hydra unknown group options). What is checked here are the *combinations* that
would otherwise fail late (after the VGG is loaded and the data decoded) or with a message that does
not name our config key: Trainer flags Lightning refuses under manual optimization, DDP without a
second process, a GPU or precision the machine does not have, a missing checkpoint, λ that cannot
train. All problems are reported together in one :class:`ConfigError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from adaptive_st.policies.base import validate_weights

log = logging.getLogger(__name__)


class ConfigError(ValueError):
    """The composed config cannot train; the message names each offending key and the fix."""


Check = Callable[[DictConfig], Iterator[str]]


def validate_config(cfg: DictConfig) -> None:
    """Raise one :class:`ConfigError` listing every problem found by the checks below."""
    problems = [msg for check in CHECKS for msg in check(cfg)]
    if problems:
        raise ConfigError("invalid training config:\n  - " + "\n  - ".join(problems))


def _trainer_value(cfg: DictConfig, key: str, default: Any = None) -> Any:
    """One ``trainer.*`` value, resolved alone (other trainer keys may need Hydra's runtime config)."""
    value = OmegaConf.select(cfg, f"trainer.{key}", default=default)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def check_manual_optimization_flags(cfg: DictConfig) -> Iterator[str]:
    """Lightning raises late (in ``fit``) for these, naming its own argument, not where to set ours."""
    clip = _trainer_value(cfg, "gradient_clip_val")
    if clip not in (None, 0, 0.0):
        yield (f"trainer.gradient_clip_val={clip}: Lightning refuses Trainer-level clipping with manual "
               "optimization (G and D are stepped by the module); remove it and set module.grad_clip_g / "
               "module.grad_clip_d instead")
    algorithm = _trainer_value(cfg, "gradient_clip_algorithm")
    if algorithm not in (None, "norm"):
        yield (f"trainer.gradient_clip_algorithm={algorithm}: not used with manual "
               "optimization; remove it (module.grad_clip_g / grad_clip_d clip by norm)")
    accumulate = _trainer_value(cfg, "accumulate_grad_batches", 1)
    if accumulate != 1:
        yield (f"trainer.accumulate_grad_batches={accumulate}: Lightning refuses gradient accumulation with "
               "manual optimization; set it to 1 and raise data.batch_size (or trainer.devices) instead")


def _is_ddp(strategy: Any) -> bool:
    if isinstance(strategy, dict):
        strategy = strategy.get("_target_", "")
    return isinstance(strategy, str) and "ddp" in strategy.lower()


def _device_count(devices: Any) -> int | None:
    """Explicit process count, None for ``auto`` / ``-1`` (Lightning decides)."""
    if isinstance(devices, (list, tuple)):
        return len(devices)
    if isinstance(devices, str):
        if devices.strip().lstrip("-").isdigit():
            devices = int(devices)
        else:
            return len([d for d in devices.split(",") if d.strip()]) if "," in devices else None
    return devices if isinstance(devices, int) and devices >= 0 else None


def check_strategy_devices(cfg: DictConfig) -> Iterator[str]:
    if not _is_ddp(_trainer_value(cfg, "strategy")):
        return
    devices = _device_count(_trainer_value(cfg, "devices", "auto"))
    if devices == 1 and int(_trainer_value(cfg, "num_nodes", 1) or 1) == 1:
        yield ("trainer.strategy is DDP but trainer.devices=1 (one process): DDP needs at least 2; set "
               "trainer.devices=2 or more, or use trainer=cpu / trainer=gpu for a single device")


def check_accelerator_precision(cfg: DictConfig) -> Iterator[str]:
    accelerator = str(_trainer_value(cfg, "accelerator", "auto")).lower()
    precision = str(_trainer_value(cfg, "precision", "32-true"))
    cuda = torch.cuda.is_available()
    if accelerator in ("gpu", "cuda") and not cuda:
        yield (f"trainer.accelerator={accelerator}: no CUDA GPU is visible on this machine; use trainer=cpu "
               "(or check CUDA_VISIBLE_DEVICES / the driver)")
        return
    if not precision.startswith("bf16"):
        return
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and cuda)
    if on_gpu and not torch.cuda.is_bf16_supported():
        yield (f"trainer.precision={precision}: this GPU ({torch.cuda.get_device_name()}) has no bfloat16 "
               "support; use trainer.precision=16-mixed or 32-true")
    elif not on_gpu and not _cpu_bf16_works():
        yield (f"trainer.precision={precision}: bfloat16 autocast does not work on this CPU; use "
               "trainer.precision=32-true")


def _cpu_bf16_works() -> bool:
    """Run the ops we need under CPU bf16 autocast once (milliseconds) instead of guessing from CPU flags."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.nn.functional.conv2d(torch.ones(1, 3, 8, 8), torch.ones(4, 3, 3, 3))
        ok = y.dtype == torch.bfloat16 and bool(torch.isfinite(y.float()).all())
    except RuntimeError:
        return False
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: no way to tell
        native = True
    if ok and not native:
        log.warning("this CPU has no native bfloat16 instructions: bf16-mixed works but may be slower than 32-true")
    return ok


def check_checkpoint_settings(cfg: DictConfig) -> Iterator[str]:
    ckpt_path = cfg.get("ckpt_path")
    if ckpt_path not in (None, "", "null", "last") and not Path(str(ckpt_path)).expanduser().is_file():
        yield (f"ckpt_path={ckpt_path}: no such checkpoint file; give an existing .ckpt, ckpt_path=last (resume "
               "<paths.output_dir>/checkpoints/last.ckpt if present) or ckpt_path=null (fresh run)")
    every = cfg.get("checkpoint_every")
    if every is None:
        return
    if not isinstance(every, int) or every < 1:
        yield f"checkpoint_every={every}: must be an integer >= 1 (optimizer steps between checkpoints)"
    elif every % 2:
        yield (f"checkpoint_every={every}: must be even; Lightning counts 2 optimizer steps per batch (G and D) "
               f"and only saves when a batch ends on a multiple, so {every} would save every {2 * every} steps")


def check_loss_weights(cfg: DictConfig) -> Iterator[str]:
    """Policies check ``policy.base_weights``; naming ``loss.weights`` points at the key the user set."""
    weights = OmegaConf.select(cfg, "loss.weights")
    if weights is None:
        return
    try:
        validate_weights(OmegaConf.to_container(weights, resolve=True), "loss.weights")  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        yield str(exc)


def check_module_settings(cfg: DictConfig) -> Iterator[str]:
    n = OmegaConf.select(cfg, "module.max_consecutive_nonfinite")
    if n is not None and (not isinstance(n, int) or n < 1):
        yield f"module.max_consecutive_nonfinite={n}: must be an integer >= 1"


CHECKS: tuple[Check, ...] = (
    check_manual_optimization_flags,
    check_strategy_devices,
    check_accelerator_precision,
    check_checkpoint_settings,
    check_loss_weights,
    check_module_settings,
)
