"""Rebuild what inference needs from a checkpoint: G∘S (EMA weights by default) and the policy.

The discriminator and the perceptual VGG are never built (a checkpoint stylizes without the VGG file
unless a per-image λ asks for it). Config nodes are instantiated only when every ``_target_`` is inside
the adaptive_st package: the file is read with ``weights_only=True`` so that it cannot run code, and
instantiating an arbitrary target from its config would reopen that door. Non-finite weights are refused:
a diverged checkpoint would otherwise stylize every image to black.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from adaptive_st.checkpoint.files import (
    EMA_PREFIX,
    META_KEY,
    CheckpointError,
    NonFiniteError,
    ema_prefix,
    load_file,
)

if TYPE_CHECKING:
    from adaptive_st.models import Stylizer
    from adaptive_st.policies import WeightPolicy

#: Only the project's own factories are instantiated from a checkpoint's config.
ALLOWED_PREFIX = "adaptive_st."


def read(path: Path) -> Mapping[str, Any]:
    """The checkpoint dict, checked to be an adaptive_st training checkpoint."""
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint file does not exist.")
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory; pass a .ckpt file (e.g. <run>/checkpoints/last.ckpt).")
    try:
        checkpoint = load_file(path)
    except Exception as err:  # a loader boundary: random bytes make the legacy unpickler raise IndexError, ...
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint — the file is truncated, corrupt, or holds objects "
            f"that are not plain tensors/containers ({type(err).__name__}: {str(err).splitlines()[0][:200]}). "
            "Re-copy it, or pick another checkpoint (e.g. an earlier stepNNNNNN.ckpt)."
        ) from err
    if not isinstance(checkpoint, Mapping) or not isinstance(checkpoint.get("state_dict"), Mapping):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no `state_dict`).")
    meta = checkpoint.get(META_KEY)
    if not isinstance(meta, Mapping) or not isinstance(meta.get("config"), Mapping):
        raise CheckpointError(
            f"{path}: not an adaptive_st training checkpoint (no saved run config under `adaptive_st.config`); "
            "pass a .ckpt written by `python -m adaptive_st.train`."
        )
    return checkpoint


def read_checkpoint(path: str | Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state_dict, run_config)`` of an adaptive_st ``.ckpt``; every failure is a :class:`CheckpointError`."""
    checkpoint = read(Path(path).expanduser())
    return dict(checkpoint["state_dict"]), dict(checkpoint[META_KEY]["config"])


# ------------------------------------------------------------------------------------ safe config
def config_node(config: Mapping[str, Any], dotted: str, path: Path) -> Any:
    """``config["a"]["b"]`` for ``"a.b"``, or a :class:`CheckpointError` naming the missing key."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise CheckpointError(
                f"{path}: the run config saved in this checkpoint has no `{dotted}`; it was written by an "
                "incompatible version of adaptive_st (re-train, or load it with the version that wrote it)."
            )
        node = node[part]
    return node


def check_targets(node: Any, dotted: str, path: Path) -> None:
    """Raise if any ``_target_`` below ``node`` is outside the adaptive_st package."""
    if isinstance(node, Mapping):
        target = node.get("_target_")
        if target is not None and not str(target).startswith(ALLOWED_PREFIX):
            raise CheckpointError(
                f"{path}: `{dotted}._target_={target}` is not an adaptive_st class; refusing to instantiate "
                "code named by a checkpoint file."
            )
        for key, value in node.items():
            check_targets(value, f"{dotted}.{key}", path)
    elif isinstance(node, list | tuple):
        for i, value in enumerate(node):
            check_targets(value, f"{dotted}[{i}]", path)


def safe_instantiate(config: Mapping[str, Any], dotted: str, path: Path, **kwargs: Any) -> Any:
    """Instantiate ``config[dotted]`` after checking its targets; errors name the file and the key."""
    from hydra.utils import instantiate

    node = config_node(config, dotted, path)
    check_targets(node, dotted, path)
    try:
        return instantiate(node, **kwargs)
    except Exception as err:  # Hydra wraps constructor errors; surface them with the key that caused them
        cause = err.__cause__ or err
        if isinstance(cause, FileNotFoundError):  # e.g. MissingWeightsError: its message is the fix
            raise cause from err
        raise CheckpointError(
            f"{path}: cannot build `{dotted}` from the config saved in the checkpoint "
            f"({type(cause).__name__}: {cause})"
        ) from err


def _build_network(config: Mapping[str, Any], dotted: str, path: Path) -> Any:
    """Instantiate G or S from the saved config. Every weight, frozen pretrained parts (e.g. a VGG
    encoder) included, comes from the checkpoint, so a ``pretrained`` flag is turned off: stylizing never
    reads the pretrained file, nor needs it on this machine."""
    from hydra.utils import get_object

    node = config_node(config, dotted, path)
    check_targets(node, dotted, path)  # before get_object imports the target's module
    overrides = {}
    if isinstance(node, Mapping) and isinstance(node.get("_target_"), str):
        try:
            params = inspect.signature(get_object(node["_target_"])).parameters
        except (ImportError, AttributeError, TypeError, ValueError):
            params = {}  # safe_instantiate reports an unknown target with the key that names it
        if "pretrained" in params:
            overrides["pretrained"] = False
    return safe_instantiate(config, dotted, path, **overrides)


# --------------------------------------------------------------------------------------- weights
def nonfinite_tensors(state: Mapping[str, Tensor], prefixes: tuple[str, ...]) -> list[str]:
    """Names of the floating-point tensors under ``prefixes`` holding NaN or ±inf."""
    return [k for k, v in state.items() if k.startswith(prefixes) and isinstance(v, Tensor)
            and v.is_floating_point() and not bool(torch.isfinite(v).all())]


def check_finite_weights(path: Path, state: Mapping[str, Tensor], prefix: str, alternative: str | None) -> None:
    """Refuse G/S/policy weights with NaN/inf; ``alternative`` is the other weight set's prefix, offered as
    the fix when it is finite."""
    bad = nonfinite_tensors(state, (f"{prefix}generator.", f"{prefix}style_generator.", "policy."))
    if not bad:
        return
    which = "EMA" if prefix else "live"
    hint = "use an earlier checkpoint (e.g. <run>/checkpoints/stepNNNNNN.ckpt)"
    shared_bad = any(k.startswith("policy.") for k in bad)  # the policy is the same for both weight sets
    if alternative is not None and not shared_bad and not nonfinite_tensors(
            state, (f"{alternative}generator.", f"{alternative}style_generator.")):
        hint += ", or " + ("--no-ema (the live weights are finite)" if prefix else
                           "drop --no-ema (the EMA weights are finite)")
    shown = ", ".join(bad[:3]) + (" …" if len(bad) > 3 else "")
    raise NonFiniteError(f"{path}: the {which} weights are not finite (NaN/inf in {len(bad)} tensor(s): {shown}); "
                         f"the run diverged before this checkpoint was saved — {hint}.")


def load_subset(module: nn.Module, state: Mapping[str, Tensor], prefix: str, path: Path, what: str) -> None:
    """Load the ``prefix``-ed entries of ``state`` into ``module`` strictly, explaining any mismatch."""
    subset = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    expected = module.state_dict()
    if not subset and expected:
        raise CheckpointError(f"{path}: holds no `{prefix}*` weights for the {what}; is it an adaptive_st checkpoint?")
    missing = sorted(set(expected) - set(subset))
    unexpected = sorted(set(subset) - set(expected))
    wrong = sorted(k for k in set(expected) & set(subset) if expected[k].shape != subset[k].shape)
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shape mismatch " + ", ".join(
                f"{prefix}{k} {tuple(subset[k].shape)} in file vs {tuple(expected[k].shape)} in model" for k in wrong[:3]))
        if missing:
            parts.append(f"missing {[prefix + k for k in missing[:4]]}")
        if unexpected:
            parts.append(f"unexpected {[prefix + k for k in unexpected[:4]]}")
        raise CheckpointError(
            f"{path}: the {what} weights do not fit the model described by the checkpoint's saved config "
            f"({'; '.join(parts)}). The checkpoint was edited or written by another model definition."
        )
    module.load_state_dict(subset, strict=True)


def load_networks(path: Path, use_ema: bool = True) -> tuple[Stylizer, WeightPolicy, dict[str, Any], str]:
    """``(G∘S, policy, run config, "ema" | "live")`` rebuilt from a checkpoint, in eval mode on the CPU.

    ``use_ema``: the averaged G and S when the run kept them (the weights validation measured), else the
    live ones; the last item says which were loaded.
    """
    from adaptive_st.models import build_stylizer
    from adaptive_st.policies import WeightPolicy

    checkpoint = read(path)
    state, config = dict(checkpoint["state_dict"]), dict(checkpoint[META_KEY]["config"])
    averaged = ema_prefix(checkpoint)
    prefix = averaged if use_ema and averaged is not None else ""
    check_finite_weights(path, state, prefix, averaged if not prefix else "")
    generator = _build_network(config, "model.generator", path)
    policy = safe_instantiate(config, "policy", path)
    factory = _build_network(config, "model.style_generator", path)
    if not isinstance(generator, nn.Module) or not hasattr(generator, "modulation_dims"):
        raise CheckpointError(f"{path}: `model.generator` does not build a generator (an nn.Module with "
                              "modulation_dims).")
    if not isinstance(policy, WeightPolicy):
        raise CheckpointError(f"{path}: `policy` does not build a WeightPolicy.")
    try:
        stylizer = build_stylizer(generator, factory, policy)
    except ValueError as err:
        raise CheckpointError(f"{path}: the saved config does not build a stylizer ({err}).") from err
    if not all(hasattr(stylizer.style_generator, name) for name in ("encode", "modulation", "encoder_kind")):
        raise CheckpointError(f"{path}: `model.style_generator` does not build a style generator (an nn.Module "
                              "with encode, modulation and encoder_kind).")
    load_subset(generator, state, f"{prefix}generator.", path, "content generator (G)")
    load_subset(stylizer.style_generator, state, f"{prefix}style_generator.", path, "style generator (S)")
    load_subset(policy, state, "policy.", path, "policy")  # running statistics of per-image policies
    policy.eval().requires_grad_(False)
    return stylizer.eval().requires_grad_(False), policy, config, "ema" if prefix else "live"


def load_teacher(path: str | Path) -> Stylizer:
    """A trained checkpoint's stylizer (EMA weights when kept) as a frozen distillation teacher
    (``module.teacher``). A λ-conditioned teacher would need a λ per pair, and a teacher with learned style
    embeddings knows only its own run's paintings: both refused."""
    try:
        stylizer, policy, _, _ = load_networks(Path(path))
    except CheckpointError as err:  # name the option that pointed here
        raise CheckpointError(f"module.teacher: {err}") from None
    if stylizer.style_generator.encoder_kind == "embedding":
        raise CheckpointError(f"module.teacher={path}: its style generator is a learned embedding table (model=base_embedding), "
                              "which cannot encode this run's paintings; use an image-encoder checkpoint (e.g. experiment=cpu_quality)")
    if policy.conditions_generator:
        raise CheckpointError(f"module.teacher={path}: a λ-conditioned model cannot be a teacher; use a checkpoint "
                              "trained with an unconditioned policy (e.g. experiment=cpu_quality)")
    return stylizer


#: What a warm start copies: the networks (and their EMA), never the loss VGG, the policy or optimizers.
NETWORK_PREFIXES = ("generator.", "style_generator.", "discriminator.")


def _grown(saved: Tensor, current: Tensor) -> Tensor | None:
    """``saved`` widened to ``current``'s shape along the input axis (dim 1), new inputs zero-weighted, or
    None. Why: a λ-conditioned model's first modulation layer takes one more input (log λ) than the
    unconditioned warm model's; zero weights make the grown model start as exactly the warm one."""
    if saved.ndim != current.ndim or saved.ndim < 2 or saved.shape[0] != current.shape[0]:
        return None
    if saved.shape[2:] != current.shape[2:] or saved.shape[1] >= current.shape[1]:
        return None
    out = torch.zeros_like(current)
    out[:, : saved.shape[1]] = saved
    return out


def warm_start(module: nn.Module, path: str | Path) -> list[str]:
    """Initialise a training module's G, S and D (and the EMA of G and S) from a checkpoint's weights.

    Unlike a resume (``ckpt_path``), the step count, optimizer states and the policy start fresh: this is
    the common starting point of a policy comparison, where every contender fine-tunes the same warm model.
    The EMA starts from the file's EMA when it has one, else from its live weights. Returns the names of
    tensors widened by :func:`_grown` or kept at their init (λ-input parameters, ``*.lambda_*``, which an
    unconditioned warm model lacks). Any other mismatch is a :class:`CheckpointError` naming the tensor.
    """
    path = Path(path).expanduser()
    checkpoint = read(path)
    saved = checkpoint["state_dict"]
    current = module.state_dict()
    update: dict[str, Tensor] = {}
    grown, problems = [], []
    for key, tensor in current.items():
        live_key = key[len(EMA_PREFIX):] if key.startswith(EMA_PREFIX) else key
        if not live_key.startswith(NETWORK_PREFIXES):
            continue
        source = key if key in saved else live_key  # a file without EMA seeds the EMA with its live weights
        if source not in saved:
            if ".lambda_" in key:  # a λ input the unconditioned warm model has no counterpart of: its init
                grown.append(key)
            else:
                problems.append(f"{key} missing")
            continue
        value = saved[source]
        if value.shape == tensor.shape:
            update[key] = value.to(tensor.dtype)
        elif (widened := _grown(value.to(tensor.dtype), tensor)) is not None:
            update[key] = widened
            grown.append(key)
        else:
            problems.append(f"{key} {tuple(value.shape)} in file vs {tuple(tensor.shape)} in model")
    if problems:
        raise CheckpointError(
            f"init_from={path}: its networks do not fit this run's model ({'; '.join(problems[:4])}"
            f"{'; ...' if len(problems) > 4 else ''}). Warm-start from a checkpoint of the same model= option."
        )
    bad = nonfinite_tensors(update, (*NETWORK_PREFIXES, EMA_PREFIX))
    if bad:
        raise NonFiniteError(f"init_from={path}: non-finite weights ({', '.join(bad[:3])}); the run it comes "
                             "from diverged. Pick an earlier checkpoint.")
    module.load_state_dict(update, strict=False)
    return grown
