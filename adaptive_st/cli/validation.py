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
import re
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
    """Raise one :class:`ConfigError` listing every problem found by the checks below.

    Values of the wrong type are found first; a later check that trips over one of them (``int('abc')``)
    is skipped, since the type problem already names the key."""
    problems = list(check_value_types(cfg))
    for check in CHECKS:
        try:
            problems += list(check(cfg))
        except (TypeError, ValueError):
            if not problems:
                raise
    if problems:
        raise ConfigError("invalid training config:\n  - " + "\n  - ".join(problems))


def check_value_types(cfg: DictConfig) -> Iterator[str]:
    """A plain value of the wrong type (``data.crop_size=abc``) fails inside its constructor with Python's
    message (``'>=' not supported between instances of 'str' and 'int'``), naming neither the key nor the
    fix. Every value given to a ``_target_`` is checked against the constructor's type annotation where
    that is a plain type (int, float, bool, str, None or a union of them); others are left to it."""
    for path, node in _target_nodes(cfg, ""):
        hints = _signature_hints(node.get("_target_"))
        for key in node:
            hint = hints.get(str(key))
            child = node._get_node(key)
            if hint is None or child is None or child._is_missing() or child._is_interpolation():
                continue
            value = OmegaConf.to_container(child) if OmegaConf.is_config(child) else child._value()
            if _accepts(hint, value) is False:
                yield f"{path}{key}={value!r}: expected {_describe(hint)}"


def _target_nodes(node: Any, path: str) -> Iterator[tuple[str, DictConfig]]:
    """Every ``_target_`` node under ``node`` with its dotted path prefix, interpolations not followed."""
    if isinstance(node, DictConfig):
        if "_target_" in node and not node._get_node("_target_")._is_interpolation():
            yield path, node
        items = [(str(k), node._get_node(k)) for k in node]
    elif OmegaConf.is_list(node):
        items = [(f"{i}", node._get_node(i)) for i in range(len(node))]
    else:
        return
    for key, child in items:
        if child is not None and OmegaConf.is_config(child) and not child._is_interpolation():
            yield from _target_nodes(child, f"{path}{key}.")


_PLAIN = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}


def _signature_hints(target: Any) -> dict[str, Any]:
    """Resolved annotations of ``target``'s constructor (or function); empty when they cannot be read."""
    import inspect
    import typing

    from hydra.utils import get_object

    try:
        obj = get_object(str(target))
        return typing.get_type_hints(obj.__init__ if inspect.isclass(obj) else obj)
    except Exception:  # an unimportable target is reported by instantiate; odd annotations are skipped
        return {}


def _accepts(hint: Any, value: Any) -> bool | None:
    """Whether ``value`` fits ``hint``; None when the hint is not a plain type (nothing is claimed)."""
    import types
    import typing

    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        verdicts = [_accepts(h, value) for h in typing.get_args(hint)]
        return True if True in verdicts else None if None in verdicts else False
    if hint not in _PLAIN:
        return None
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _describe(hint: Any) -> str:
    import typing

    return " or ".join(_PLAIN.get(h, str(h)) for h in (typing.get_args(hint) or (hint,)))


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
    on_cpu = runs_on_cpu(cfg)
    if not on_cpu and cuda and not torch.cuda.is_bf16_supported():
        yield (f"trainer.precision={precision}: this GPU ({torch.cuda.get_device_name()}) has no bfloat16 "
               "support; use trainer.precision=16-mixed or 32-true")
    elif on_cpu and not _cpu_bf16_works():
        yield (f"trainer.precision={precision}: bfloat16 autocast does not work on this CPU; use "
               "trainer.precision=32-true")


def _cpu_bf16_works() -> bool:
    """Run the ops we need under CPU bf16 autocast once (milliseconds) instead of guessing from CPU flags."""
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = torch.nn.functional.conv2d(torch.ones(1, 3, 8, 8), torch.ones(4, 3, 3, 3))
        return y.dtype == torch.bfloat16 and bool(torch.isfinite(y.float()).all())
    except RuntimeError:
        return False


def runs_on_cpu(cfg: DictConfig) -> bool:
    """Whether the trainer's accelerator resolves to the CPU (``auto`` without a visible CUDA GPU)."""
    accelerator = str(_trainer_value(cfg, "accelerator", "auto")).lower()
    return accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: where bf16 convolutions run natively (2.4× fp32 on a VGG step here); elsewhere
    oneDNN emulates bf16, slower than fp32."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # a torch without these probes: oneDNN's own (looser) answer
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


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


def check_base_weights(cfg: DictConfig) -> Iterator[str]:
    """The λ the policy will get (``policy.base_weights``), checked with the policy's own rule before anything
    is built, and named by the key the user sets: ``loss.weights`` when it is wired there (conf/train.yaml)."""
    policy = cfg.get("policy")
    if not isinstance(policy, DictConfig) or "base_weights" not in policy:
        return
    node = policy._get_node("base_weights")
    source = re.fullmatch(r"\$\{([\w.]+)\}", str(node._value())) if node._is_interpolation() else None
    key = source.group(1) if source else "policy.base_weights"
    try:
        validate_weights(OmegaConf.to_container(policy.base_weights, resolve=True), key)  # type: ignore[arg-type]
    except (ValueError, TypeError) as exc:
        yield str(exc)


def check_batches(cfg: DictConfig) -> Iterator[str]:
    """``batches`` is a top-level key (no constructor argument): :func:`check_value_types` does not see it."""
    batches = cfg.get("batches")
    if batches is not None and (not isinstance(batches, int) or isinstance(batches, bool) or batches < 1):
        yield f"batches={batches!r}: expected an integer >= 1 (or null to train trainer.max_steps optimizer steps)"


def check_seed(cfg: DictConfig) -> Iterator[str]:
    """The seed is no constructor argument, so :func:`check_value_types` does not see it."""
    seed = cfg.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        yield f"seed={seed!r}: expected an integer"


def check_module_settings(cfg: DictConfig) -> Iterator[str]:
    if (OmegaConf.select(cfg, "module.lr_decay_start") is not None and cfg.get("batches") is None
            and cfg.get("minutes") is None):
        steps = OmegaConf.select(cfg, "trainer.max_steps")
        if isinstance(steps, int) and steps <= 0:  # other types: check_value_types
            yield ("module.lr_decay_start needs a run of known length: set batches=N (or trainer.max_steps), "
                   "a time budget minutes=M, or module.lr_decay_start=null")
    n = OmegaConf.select(cfg, "module.max_consecutive_nonfinite")
    if isinstance(n, int) and n < 1:  # other types: check_value_types
        yield f"module.max_consecutive_nonfinite={n}: must be an integer >= 1"
    if OmegaConf.select(cfg, "module.cache_style_targets") is True:
        if OmegaConf.select(cfg, "data.style_size") is None:
            yield ("module.cache_style_targets=true needs data.style_size (whole style images; a random crop "
                   "is a new image every time): set data.style_size or module.cache_style_targets=false")
        if OmegaConf.select(cfg, "data.style_augment") is True:
            yield ("module.cache_style_targets=true with data.style_augment=true: augmented styles differ every "
                   "time, their statistics cannot be cached; set module.cache_style_targets=false")


CHECKS: tuple[Check, ...] = (
    check_manual_optimization_flags,
    check_strategy_devices,
    check_accelerator_precision,
    check_checkpoint_settings,
    check_base_weights,
    check_module_settings,
    check_seed,
    check_batches,
)
