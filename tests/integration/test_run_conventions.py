"""Issue 14: one run folder, a final validation, quiet output, readable W&B sweeps, template parity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from adaptive_st.cli.resolvers import CONFIG_DIR, PROJECT_ROOT, register_resolvers
from adaptive_st.runlog.progress import describe, remaining_batches
from adaptive_st.runlog.quiet import is_noise
from tests.conftest import FAST
from tests.wandb_records import run_summary

#: A short default run: the default loggers (W&B + CSV), progress bar and summary settings, tiny sizes.
SHORT = tuple(o for o in FAST if not o.startswith(("trainer.enable_", "trainer.val_check_interval",
                                                   "trainer.log_every", "trainer.max_steps")))


def run(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    for key in ("WANDB_SILENT", "WANDB_MODE", "HYDRA_FULL_ERROR"):
        env.pop(key, None)  # as a user runs it: the entry point must be quiet and offline by itself
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=1800)  # generous: CI machines shared with training jobs


def compose_hydra(*overrides: str, config_name: str = "train"):
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name=config_name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig().set_config(cfg)
    GlobalHydra.instance().clear()
    return cfg


def test_run_dir_follows_output_dir_whichever_way_it_is_set(tmp_path):
    default = compose_hydra(f"paths.log_dir={tmp_path}")
    assert default.hydra.run.dir.startswith(f"{tmp_path}/train/runs/")
    assert compose_hydra(f"paths.output_dir={tmp_path}/mine").hydra.run.dir == f"{tmp_path}/mine"
    assert compose_hydra(f"hydra.run.dir={tmp_path}/h").hydra.run.dir == f"{tmp_path}/h"


def test_debug_configs_compose():
    for option, key, value in (("fdr", "trainer.fast_dev_run", True), ("limit", "trainer.limit_val_batches", 2),
                               ("overfit", "trainer.overfit_batches", 2), ("profiler", "trainer.profiler", "simple")):
        cfg = compose_hydra(f"debug={option}")
        node = cfg
        for part in key.split("."):
            node = node[part]
        assert node == value, option
        assert cfg.task_name == "debug" and cfg.logger is None and cfg.extras.print_config


def test_composable_callbacks_and_documented_objective():
    cfg = compose_hydra("callbacks=[model_checkpoint,image_grid]")
    assert set(cfg.callbacks) == {"model_checkpoint", "image_grid"}
    assert not compose_hydra("callbacks=none").callbacks
    default = compose_hydra()
    assert {"model_checkpoint", "image_grid", "interrupt_checkpoint"} <= set(default.callbacks)
    assert default.optimized_metric == "val/objective"
    assert "`val/objective`" in (PROJECT_ROOT / "experiments" / "CLUSTER.md").read_text()
    assert list(compose_hydra("tags=[a,b]").tags) == ["a", "b"]


def test_progress_bar_counts_batches():
    trainer = SimpleNamespace(num_training_batches=32, max_steps=20, global_step=0, max_epochs=-1, current_epoch=0,
                              optimizers=[1, 2], lightning_module=SimpleNamespace(automatic_optimization=False))
    assert remaining_batches(trainer) == 10  # 20 G+D steps = 10 batches, not "10/20"
    trainer.global_step = 12
    assert remaining_batches(trainer) == 4
    assert "-" not in describe(trainer)  # no "Epoch 0/-2"


def test_batches_sets_max_steps(compose_cfg):
    """The user sets batches: ``batches=N`` trains N batches (2·N G and D optimizer steps); null keeps
    ``trainer.max_steps``; a bad value is a config error naming ``batches``."""
    from adaptive_st.cli.train import apply_batches, build
    from adaptive_st.cli.validation import ConfigError, validate_config

    cfg = compose_cfg("trainer.max_steps=8")
    assert cfg.batches is None
    apply_batches(cfg)
    assert cfg.trainer.max_steps == 8
    cfg = compose_cfg("trainer.max_steps=8", "batches=3")
    _, _, trainer = build(cfg)  # applied before the config is logged and the Trainer built
    assert trainer.max_steps == 6 and cfg.trainer.max_steps == 6
    for bad in ("0", "abc", "1.5"):
        with pytest.raises(ConfigError, match=r"batches=.*expected an integer >= 1"):
            validate_config(compose_cfg(f"batches={bad}"))


@pytest.mark.slow
def test_ten_batch_run_ends_with_one_validation(compose_cfg):
    """max_steps=20 trains 10 batches, fewer than val_check_interval: the run still validates once, at the end."""
    from adaptive_st.cli.train import train

    cfg = compose_cfg("trainer.max_steps=20", "trainer.val_check_interval=25", "checkpoint_every=1000")
    metrics = train(cfg)
    assert {"val/loss_content", "val/loss_style", "val/objective"} <= set(metrics)
    grids = sorted(p.name for p in (Path(cfg.paths.output_dir) / "images").glob("val_step*.png"))
    assert grids == ["val_step000010.png"]


@pytest.mark.slow
def test_one_run_folder_quiet_default_run_and_resume(tmp_path, sample_root, shared_dir):
    common = (*SHORT, f"paths.data_dir={sample_root}", f"paths.shared_dir={shared_dir}", f"paths.log_dir={tmp_path / 'logs'}")
    out = tmp_path / "run"
    proc = run("adaptive_st.train", *common, "trainer.max_steps=20", f"paths.output_dir={out}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    console = (proc.stdout + proc.stderr).replace("\r", "\n").splitlines()
    noise = [line for line in console if is_noise(line)]
    assert len(noise) <= 3, "\n".join(noise)
    # One folder holds everything; nothing went to paths.log_dir.
    for name in (".hydra/config.yaml", "train.log", "checkpoints/last.ckpt", "metrics.json", "csv/metrics.csv",
                 "images/val_step000010.png"):
        assert (out / name).is_file(), name
    assert list((out / "wandb").glob("offline-run-*"))
    assert not (tmp_path / "logs").exists()
    assert "val/objective" in json.loads((out / "metrics.json").read_text())
    # Resume: the same folder again, still nothing elsewhere.
    proc = run("adaptive_st.train", *common, "trainer.max_steps=24", "ckpt_path=last", f"paths.output_dir={out}",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (tmp_path / "logs").exists()
    assert (out / "images" / "val_step000012.png").is_file()
    assert {p.name for p in tmp_path.iterdir()} == {"run"}
    # Without paths.output_dir: one timestamped folder under paths.log_dir holds it all.
    proc = run("adaptive_st.train", *common, "trainer.max_steps=4", "logger=csv", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    for name in (".hydra/config.yaml", "train.log", "checkpoints/last.ckpt", "metrics.json", "csv/metrics.csv"):
        assert (folder / name).is_file(), name


@pytest.mark.slow
def test_wandb_sweep_names_groups_and_step_axis(tmp_path, sample_root, shared_dir):
    sweep = tmp_path / "sweep"
    proc = run("adaptive_st.train", "hparams_search=optuna", "hydra.sweeper.n_trials=2", *FAST, "trainer.max_steps=4",
               "trainer.val_check_interval=1", "logger=wandb", "tags=[issue14]", f"paths.data_dir={sample_root}",
               f"paths.shared_dir={shared_dir}", f"hydra.sweep.dir={sweep}", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [run_summary(next((sweep / job).rglob("run-*.wandb"))) for job in ("0_constant", "1_constant")]
    assert runs[0]["name"] != runs[1]["name"]
    for num, r in enumerate(runs):
        assert r["name"].startswith(f"constant#{num} ") and "optimizer_g.lr=" in r["name"], r["name"]
        assert r["group"] == "optuna@sweep" and r["job_type"] == "train" and r["tags"] == ["issue14"]
        config = r["config"]
        assert "crop_size" not in config and "batch_size" not in config  # no flat duplicates of data.*
        assert config["hydra"]["choices"]["policy"] == "constant"
        assert any(o.startswith("module.optimizer_g.lr=") for o in config["hydra"]["overrides"])
        # One step axis: the image grid is logged at the same steps as the val/* scalars.
        val_steps = {h["trainer/global_step"] for h in r["history"] if "val/objective" in h}
        grid_steps = {h["trainer/global_step"] for h in r["history"] if any(k.startswith("val/grid") for k in h)}
        assert val_steps and grid_steps == val_steps
        last_val = [h for h in r["history"] if "val/objective" in h][-1]
        assert r["summary"]["val/objective"] == pytest.approx(last_val["val/objective"])


@pytest.mark.slow
def test_eval_entry_runs_evaluate_on_the_validation_images(compose_cfg, tmp_path, sample_root, shared_dir):
    from adaptive_st.cli.eval_hydra import evaluate_argv
    from adaptive_st.cli.train import train

    cfg = compose_cfg("trainer.max_steps=2")
    train(cfg)
    ckpt = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    eval_cfg = compose_hydra(f"ckpt_path={ckpt}", f"paths.data_dir={sample_root}", f"paths.shared_dir={shared_dir}",
                             f"paths.output_dir={tmp_path / 'eval'}", "eval.pairs=2", "eval.size=64",
                             config_name="eval")
    assert eval_cfg.hydra.run.dir == str(tmp_path / "eval")
    argv = evaluate_argv(eval_cfg)
    assert argv[0] == str(ckpt) and "--content" in argv and argv[argv.index("--out") + 1] == str(tmp_path / "eval")
    from adaptive_st.cli import evaluate

    assert evaluate.main(argv) == 0
    assert (tmp_path / "eval" / "metrics.json").is_file()


def test_colour_mode_is_in_output_names():
    from adaptive_st.inference import output_name

    names = {output_name("photo", "candy", preserve_color=mode) for mode in ("none", "luminance", "histogram")}
    assert names == {"photo__candy.png", "photo__candy__luminance.png", "photo__candy__histogram.png"}
