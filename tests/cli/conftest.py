"""Session-wide trained checkpoints for the inference / evaluation / CLI tests.

Each is a real (tiny, few-step) training run through ``adaptive_st.cli.train.train``, composed like
``tests/conftest.py`` does. A higher learning rate makes G and S move away from their identity
initialisation in 3 batches, so α, λ and the style visibly change the output. The runs are cached under
the session's base temp dir, so the fixtures can be imported by several conftests and still train once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers
from tests.conftest import FAST, IMAGES

QUICK = (*FAST, "trainer.max_steps=6", "trainer.val_check_interval=1000", "module.optimizer_g.lr=5e-3",
         "callbacks.image_grid=null", "logger=csv")


def train_checkpoint(base: Path, name: str, overrides: tuple[str, ...], sample_root: Path, shared_dir: Path) -> Path:
    """``<base>/<name>/checkpoints/last.ckpt``, training it on first use."""
    ckpt = base / name / "checkpoints" / "last.ckpt"
    if ckpt.is_file():
        return ckpt
    from adaptive_st.cli.train import train

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", return_hydra_config=True,
                      overrides=[*QUICK, f"paths.shared_dir={shared_dir}", f"paths.data_dir={sample_root}",
                                 *overrides])
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        cfg.paths.output_dir = str(base / name)
        cfg.paths.log_dir = str(base / name / "logs")
    try:
        train(cfg)
    finally:
        GlobalHydra.instance().clear()
    assert ckpt.is_file(), f"training did not write {ckpt}"
    return ckpt


def edited_checkpoint(ckpt: Path, out: Path, **values: float) -> Path:
    """A copy of ``ckpt`` whose state-dict tensors named by ``values`` (``.`` spelled ``__``) are filled."""
    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    state = checkpoint["state_dict"]
    for key, value in values.items():
        name = key.replace("__", ".")
        state[name] = torch.full_like(state[name], value)
    torch.save(checkpoint, out)
    return out


@pytest.fixture(scope="session")
def checkpoint_factory(tmp_path_factory: pytest.TempPathFactory, sample_root: Path,
                       shared_dir: Path) -> Callable[[str], Path]:
    base = tmp_path_factory.getbasetemp() / "adaptive_st_checkpoints"
    presets = {"constant": ("policy=constant",), "conditional": ("policy=conditional",),
               "per_image": ("policy=per_image",), "ema": ("policy=conditional", "module.ema_decay=0.5")}

    def get(name: str) -> Path:
        return train_checkpoint(base, name, presets[name], sample_root, shared_dir)

    return get


@pytest.fixture(scope="session")
def constant_ckpt(checkpoint_factory: Callable[[str], Path]) -> Path:
    return checkpoint_factory("constant")


@pytest.fixture(scope="session")
def conditional_ckpt(checkpoint_factory: Callable[[str], Path]) -> Path:
    return checkpoint_factory("conditional")


@pytest.fixture(scope="session")
def ema_ckpt(checkpoint_factory: Callable[[str], Path]) -> Path:
    """λ-conditioned, with an EMA of G and S (β=0.5 over 3 G steps: clearly unlike the live weights)."""
    return checkpoint_factory("ema")


@pytest.fixture(scope="session")
def per_image_ckpt(checkpoint_factory: Callable[[str], Path]) -> Path:
    return checkpoint_factory("per_image")


@pytest.fixture(scope="session", autouse=True)
def _retain_freed_memory() -> None:
    """What the CLIs do at start-up (see ``inference.model``): megapixel tests run ~6× faster."""
    from adaptive_st.inference.model import retain_freed_memory

    retain_freed_memory()


@pytest.fixture(scope="session")
def images(shared_dir: Path) -> Path:
    """The shared test photos (content/) and paintings (style/), never copied into the repo."""
    if not (IMAGES / "content").is_dir():
        pytest.skip(f"shared test images not found under {IMAGES}")
    return IMAGES
