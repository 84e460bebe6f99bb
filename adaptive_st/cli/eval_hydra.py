"""`python -m adaptive_st.eval ckpt_path=CKPT [data=...] [eval.pairs=8 ...]`: evaluate with Hydra overrides.

The lightning-hydra-template convention: one ``eval`` entry composed from ``conf/eval.yaml`` with the same
``data=`` options as training. It resolves the data config's validation images and runs exactly
``adaptive-st evaluate CKPT --content <val content> --style <styles> --out <run folder>`` (same metrics,
same reports), so both stay one implementation.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, ListConfig, OmegaConf

from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers

register_resolvers()
if not OmegaConf.has_resolver("ckpt_run_name"):
    # outputs/train/runs/<run>/checkpoints/last.ckpt -> "<run>_last"
    OmegaConf.register_new_resolver(
        "ckpt_run_name",
        lambda ckpt: "_".join(Path(str(ckpt[0] if isinstance(ckpt, (list, ListConfig)) else ckpt))
                              .with_suffix("").parts[-3::2]).replace("/", "_") or "eval")


def evaluate_argv(cfg: DictConfig) -> list[str]:
    """The `adaptive-st evaluate` command line this config stands for."""
    from hydra.utils import instantiate

    ckpts = cfg.ckpt_path if isinstance(cfg.ckpt_path, (list, ListConfig)) else [cfg.ckpt_path]
    data = instantiate(cfg.data)  # lists (and for data=sample generates) the images, validating the folders
    content = data.content_val_paths or data.content_paths
    style = data.style_val_paths or data.style_paths
    e = cfg.eval
    argv = [*map(str, ckpts), "--content", *map(str, content), "--style", *map(str, style),
            "--pairs", str(e.pairs), "--seed", str(cfg.seed), "--size", str(e.size), "--alpha", str(e.alpha),
            "--device", str(e.device), "--precision", str(e.precision), "--out", str(cfg.paths.output_dir),
            "--overwrite"]
    if e.lam is not None:
        argv += ["--lam", str(e.lam)]
    if e.no_ema:
        argv.append("--no-ema")
    if e.vgg_path:
        argv += ["--vgg-path", str(e.vgg_path)]
    if e.save_images:
        argv.append("--save-images")
    if e.wandb:
        argv += ["--wandb", "--wandb-project", str(e.wandb_project)]
    return argv


@hydra.main(version_base="1.3", config_path=str(CONFIG_DIR), config_name="eval")
def main(cfg: DictConfig) -> int:
    from adaptive_st.cli import evaluate
    from adaptive_st.cli.train import apply_extras

    apply_extras(cfg)
    code = evaluate.main(evaluate_argv(cfg))
    if code:
        raise SystemExit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
