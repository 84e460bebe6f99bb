"""Stylize throughput (Mpx/s) of a model config, through the same path as ``adaptive-st stylize``.

``python experiments/bench_inference.py [--model base] [--sizes 512 1024] [--rounds 8]`` composes
``conf/train.yaml`` with ``model=<name>``, builds G and S with random weights (speed does not depend on
them) and times ``StyleTransfer.stylize`` (whole image, no tiling) for every size × precision × memory
format. Configurations are interleaved round-robin and the best round is kept: on a shared machine other
processes only ever slow a run down, so best-of-interleaved is stable where a median of back-to-back
runs is not. It is a CLI, so it composes the config and sets the allocator.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers
from adaptive_st.inference import StylizeOptions
from adaptive_st.inference.engine import StyleTransfer
from adaptive_st.inference.model import LoadedModel, resolve_runtime, retain_freed_memory
from adaptive_st.models import build_stylizer


def build_model(model: str, device: str = "cpu") -> LoadedModel:
    """G and S of ``model=<name>`` (random weights, S's head perturbed off the identity) + constant policy."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"model={model}", "policy=constant"])
    config = OmegaConf.to_container(cfg, resolve=False)
    torch.manual_seed(0)
    policy = instantiate(cfg.policy)
    stylizer = build_stylizer(instantiate(cfg.model.generator), instantiate(cfg.model.style_generator), policy)
    torch.nn.init.normal_(stylizer.style_generator.head.weight, std=0.02)
    stylizer = stylizer.eval().requires_grad_(False)
    return LoadedModel(Path(f"<model={model}>"), stylizer.to(device), policy, config, torch.device(device))  # type: ignore[arg-type]


def throughput(model: LoadedModel, sizes: Sequence[int], precisions: Sequence[str], layouts: Sequence[bool],
               rounds: int = 8, device: str = "cpu", compile: bool = False) -> dict[tuple[int, str, bool], float]:
    """Best-of-``rounds`` Mpx/s per (size, precision, channels_last), configurations interleaved."""
    images = {s: torch.rand(3, s, s, generator=torch.Generator().manual_seed(s)) for s in sizes}
    options = StylizeOptions(tile=0)
    best: dict[tuple[int, str, bool], float] = {}
    engines = {}
    for r in range(rounds + 1):  # round 0 warms up (and compiles)
        for channels_last in layouts:
            model.stylizer.to(memory_format=torch.contiguous_format)
            for precision in precisions:
                key = (precision, channels_last)
                if key not in engines:
                    engine = StyleTransfer(model, resolve_runtime(device, precision, channels_last), compile=compile)
                    engines[key] = (engine, engine.style_from_images([torch.rand(3, 256, 256)], "noise"))
                engine, style = engines[key]
                if channels_last:
                    model.stylizer.generator.to(memory_format=torch.channels_last)
                for size in sizes:
                    start = time.perf_counter()
                    engine.stylize(images[size], style, options)
                    seconds = time.perf_counter() - start
                    if r:
                        k = (size, precision, channels_last)
                        best[k] = max(best.get(k, 0.0), size * size / seconds / 1e6)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python experiments/bench_inference.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="base")
    p.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    p.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    p.add_argument("--channels-last", nargs="+", choices=["off", "on"], default=["off", "on"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--compile", action="store_true", help="torch.compile G (compilation happens in round 0)")
    p.add_argument("--keep-glibc-default", action="store_true", help="do not retain freed memory (for comparison)")
    args = p.parse_args(argv)
    retained = False if args.keep_glibc_default else retain_freed_memory()
    print(f"model={args.model} device={args.device} threads={torch.get_num_threads()} "
          f"retain_freed_memory={retained} compile={args.compile} (best of {args.rounds} interleaved rounds)")
    best = throughput(build_model(args.model, args.device), args.sizes, args.precisions,
                      [m == "on" for m in args.channels_last], args.rounds, args.device, args.compile)
    print(f"{'size':>6} {'precision':>9} {'channels_last':>13} {'Mpx/s':>7}")
    for (size, precision, channels_last), mpx in sorted(best.items(), key=lambda kv: (not kv[0][2], kv[0])):
        print(f"{size:>6} {precision:>9} {channels_last!s:>13} {mpx:>7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
