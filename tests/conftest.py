"""Shared fixtures: paths to the local test data/weights and a Hydra compose helper."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, open_dict

from adaptive_st.cli.resolvers import CONFIG_DIR, PROJECT_ROOT, register_resolvers

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
# `stylize --backend auto` would export each session checkpoint to ONNX after its first torch run (and run
# later tests on the graph); tests of that behaviour turn it back on (tests/inference/test_lean.py).
os.environ.setdefault("ADAPTIVE_ST_AUTO_EXPORT", "0")

SHARED = Path(os.environ.get("ADAPTIVE_ST_SHARED", PROJECT_ROOT.parent / "shared"))
IMAGES = SHARED / "data" / "images"
VGG_WEIGHTS = SHARED / "weights" / "vgg_normalised_conv3_1.pth"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not VGG_WEIGHTS.exists():
        pytest.skip(f"local test data not found under {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One generated sample dataset for the whole session (generation is deterministic)."""
    return tmp_path_factory.mktemp("sample_data")


#: Overrides that make a composed training run tiny and fast on CPU.
FAST = (
    "model=tiny",
    "data.crop_size=64",
    "data.batch_size=4",
    "data.train_length=32",
    "data.num_val_pairs=4",
    "model.style_generator.image_size=32",
    "trainer.max_steps=8",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "trainer.num_sanity_val_steps=0",
    "trainer.log_every_n_steps=1",
    "trainer.val_check_interval=2",
    "module.val_metrics=null",
)


@pytest.fixture
def compose_cfg(tmp_path: Path, sample_root: Path, shared_dir: Path) -> Callable[..., DictConfig]:
    """Compose ``conf/train.yaml`` as the CLI would (hydra resolvers work), outputs in tmp_path."""
    register_resolvers()

    def _compose(*overrides: str, fast: bool = True, config_name: str = "train",
                 extra: Sequence[str] = ()) -> DictConfig:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            cfg = compose(
                config_name=config_name,
                overrides=[*(FAST if fast else ()), f"paths.shared_dir={shared_dir}",
                           f"paths.data_dir={sample_root}", "logger=csv", *overrides, *extra],
                return_hydra_config=True,
            )
        HydraConfig().set_config(cfg)
        with open_dict(cfg):
            del cfg["hydra"]  # as under @hydra.main: the hydra node lives in HydraConfig only
            cfg.paths.output_dir = str(tmp_path / "run")
            cfg.paths.log_dir = str(tmp_path / "logs")
        return cfg

    yield _compose
    GlobalHydra.instance().clear()


def finished_wandb_record(run_dir: Path) -> bytes:
    """The transaction log (``run-*.wandb``) of the offline run in ``run_dir``, once W&B has closed it.

    ``run.finish()`` only informs the wandb-core service that the run is over; the service flushes and
    closes the file afterwards, so reading right after ``finish()`` can see it half written.
    ``wandb.teardown()`` waits until the service process has exited, i.e. until every file is complete
    (a later ``wandb.init`` starts a new service).
    """
    import wandb

    wandb.teardown()
    return next(run_dir.glob("run-*.wandb")).read_bytes()
