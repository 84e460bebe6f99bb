"""OmegaConf resolvers the configs use; registered once by every entry point."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

#: The repository root (the folder holding conf/), whatever the CWD.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = PROJECT_ROOT / "conf"


def register_resolvers() -> None:
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: str(PROJECT_ROOT))
