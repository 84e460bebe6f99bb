"""OmegaConf resolvers the configs use; registered once by every entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

#: The repository root (the folder holding conf/), whatever the CWD.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "conf"

#: ``paths.output_dir``'s default: "the Hydra run folder". Any other value is a folder the user chose.
_FOLLOWS_HYDRA = "hydra:runtime.output_dir"


def run_dir(default: str, *, _root_: DictConfig) -> str:
    """``hydra.run.dir``: ``paths.output_dir`` when the user set it, else ``default`` (a timestamped folder).

    With this, one folder holds everything a run writes (``.hydra/``, ``train.log``, checkpoints, metrics,
    W&B, images) whether the folder is chosen with ``paths.output_dir=DIR``, ``hydra.run.dir=DIR`` or not at
    all; ``ckpt_path=last paths.output_dir=DIR`` resumes in that same folder. The unresolved value is read:
    resolving the default would ask Hydra for the run folder it is still deciding.
    """
    paths = _root_._get_node("paths") if isinstance(_root_, DictConfig) else None
    node = paths._get_node("output_dir") if isinstance(paths, DictConfig) else None
    raw: Any = node._value() if node is not None else None
    if raw is None or (isinstance(raw, str) and _FOLLOWS_HYDRA in raw):
        return default
    return str(_root_.paths.output_dir)


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
    if not OmegaConf.has_resolver("run_dir"):
        OmegaConf.register_new_resolver("run_dir", run_dir)
    if not OmegaConf.has_resolver("wandb_name"):
        OmegaConf.register_new_resolver("wandb_name", _wandb_name)
        OmegaConf.register_new_resolver("wandb_group", _wandb_group)


# W&B naming (adaptive_st.runlog.wandb_run) imports Lightning: only when a config is resolved.
def _wandb_name(run_name: str) -> str:
    from adaptive_st.runlog.wandb_run import wandb_name

    return wandb_name(run_name)


def _wandb_group(task_name: str) -> str:
    from adaptive_st.runlog.wandb_run import wandb_group

    return wandb_group(task_name)
