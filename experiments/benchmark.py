"""Speed and memory of training and stylizing: ``python experiments/benchmark.py --preset cpu|gpu``.

Prints Markdown tables and writes ``bench.json`` (``--out``): training-step throughput of the Lightning
module vs a bare-PyTorch loop of the same networks and losses (the framework overhead), where a step's
time goes, each policy's cost over ``constant``, and stylize latency in Mpx/s. Presets are in
``bench_presets.py``; ``make bench`` runs ``cpu``. No timing is asserted anywhere: numbers on a shared
machine vary, so the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_* helpers beside this file

import lightning as L
import torch
from bench_common import build_module
from bench_presets import PRESETS, Preset, StylizeCase, TrainCase
from bench_report import render
from bench_stylize import stylize_bench
from bench_train import bare_loop, lightning_loop


def _extra(case: TrainCase | StylizeCase) -> list[str]:
    extra = [f"module.channels_last={str(case.channels_last).lower()}", *case.overrides]
    if case.compile:
        extra.append("module.compile=true")
    return extra


def run_train(preset: Preset, case: TrainCase, device: torch.device) -> dict[str, Any]:
    """Bare and Lightning runs of one case, interleaved ``repeats`` times; the fastest of each is kept."""
    bare, light = [], []
    for _ in range(preset.repeats):
        if case.bare:
            bare.append(bare_loop(build_module(case.model, extra=_extra(case)), device, case.precision, case.batch,
                                  case.size, preset.warmup, preset.steps, preset.split_steps))
        light.append(lightning_loop(build_module(case.model, extra=_extra(case)), device, case.precision,
                                    case.batch, case.size, preset.warmup, preset.steps, preset.log_every_n_steps))
    best = min(light, key=lambda r: r.ms_per_step)
    out: dict[str, Any] = {"case": dataclasses.asdict(case), "lightning": best.to_dict()}
    if bare:
        out["bare"] = min(bare, key=lambda r: r.ms_per_step).to_dict()
    return out


def run_policies(preset: Preset, device: torch.device) -> dict[str, Any]:
    """Every policy once; ``constant`` (the baseline) also last, keeping its faster run, so drift over
    the series (warm caches, other processes) does not land on the baseline alone."""
    case = preset.policy_case
    results: dict[str, dict[str, Any]] = {}
    for policy in [*preset.policies, "constant"]:
        r = lightning_loop(build_module(case.model, policy, _extra(case)), device, case.precision, case.batch,
                           case.size, preset.warmup, preset.policy_steps, preset.log_every_n_steps)
        log(f"  policy {policy}: {r.ms_per_step:.1f} ms/step")
        if policy not in results or r.cpu_ms_per_step < results[policy]["cpu_ms_per_step"]:
            results[policy] = {"policy": policy, **r.to_dict()}
    return {"case": dataclasses.asdict(case), "results": list(results.values())}


def run_stylize(preset: Preset, case: StylizeCase, device: torch.device) -> dict[str, Any]:
    module = build_module(case.model, extra=_extra(case))
    r = stylize_bench(module, device, case.precision, case.size, case.batch, warmup=1 if device.type == "cpu" else 5,
                      iters=preset.stylize_iters, min_seconds=preset.stylize_min_seconds,
                      shared_style=case.shared_style)
    log(f"  {r.images_per_s:.1f} images/s, {r.ms_per_batch:.1f} ms/batch, peak {r.peak_mib:.0f} MiB")
    return {"case": dataclasses.asdict(case), **r.to_dict()}


def warm_up(preset: Preset, device: torch.device) -> None:
    """One untimed bare step and one Lightning fit: process-wide first-use costs (lazy imports, kernel
    libraries, allocator growth) would otherwise land on the first timed case."""
    case = preset.policy_case
    bare_loop(build_module(case.model), device, case.precision, case.batch, case.size, 1, 1)
    lightning_loop(build_module(case.model), device, case.precision, case.batch, case.size, 1, 1, 1)


def env_info(device: torch.device) -> dict[str, Any]:
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or 'unknown'})"
    return {"torch": torch.__version__, "lightning": L.__version__, "python": platform.python_version(),
            "device_name": name, "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "loadavg_start": _loadavg()}


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def quiet() -> None:
    """Lightning's per-fit banners and warnings would bury the table."""
    warnings.filterwarnings("ignore")
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "adaptive_st"):
        logging.getLogger(name).setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="cpu")
    parser.add_argument("--out", default="bench.json", help="where to write the JSON result")
    parser.add_argument("--skip", nargs="*", default=[], choices=["train", "policies", "stylize"])
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: the preset's; 0 = torch's default)")
    args = parser.parse_args(argv)
    preset = PRESETS[args.preset]
    threads = preset.threads if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    if preset.device == "cuda" and not torch.cuda.is_available():
        parser.error("--preset gpu needs a CUDA device")
    device = torch.device(preset.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # as trainer=gpu (benchmark: true), for the bare loop too
    quiet()
    start = time.perf_counter()
    result: dict[str, Any] = {"preset": dataclasses.asdict(preset), "env": env_info(device),
                              "train": [], "policies": None, "stylize": []}
    warm_up(preset, device)
    if "train" not in args.skip:
        for case in preset.train:
            log(f"train {case}")
            result["train"].append(run_train(preset, case, device))
            light = result["train"][-1]["lightning"]
            log(f"  {light['ms_per_step']:.1f} ms/step, {light['images_per_s']:.1f} img/s, peak {light['peak_mib']:.0f} MiB")
    if "policies" not in args.skip:
        log(f"policies on {preset.policy_case}")
        result["policies"] = run_policies(preset, device)
    if "stylize" not in args.skip:
        for case in preset.stylize:
            log(f"stylize {case}")
            result["stylize"].append(run_stylize(preset, case, device))
    result["seconds"] = time.perf_counter() - start
    result["env"]["loadavg_end"] = _loadavg()
    Path(args.out).write_text(json.dumps(result, indent=2))
    if result["train"] or result["stylize"]:
        print(render(result), flush=True)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
