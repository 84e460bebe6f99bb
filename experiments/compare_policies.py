"""Compare λ-adaptation policies: same model / data / budget, several seeds, one held-out evaluation.

    python experiments/compare_policies.py --preset small                       # 11 policies × 2 seeds, CPU
    python experiments/compare_policies.py --preset small --policies constant,grad_ratio --seeds 0
    python experiments/compare_policies.py --preset full --wandb data=folder data.content_dir=... ...

Each (policy, seed) is composed from ``conf/train.yaml`` + ``experiment=compare_<preset>`` (+ the
preset's ``compare.policy_overrides`` for that policy, + your Hydra overrides), trained with
``adaptive_st.cli.train.train`` into ``OUT/runs/<policy>_s<seed>/`` (in this process, or ``--jobs N``
spawned worker processes running one run each) and its ``last.ckpt`` evaluated on
the held-out pairs (validation content × all styles, the same for every run). Written to OUT:
``results.csv`` (one row per run and evaluated λ), ``summary.csv`` / ``summary.md`` (mean ± std over
seeds + an automatic reading), ``pareto.png``; with W&B on (``--wandb``, or a preset whose logger has
it, like ``full``) the runs are grouped in W&B under the OUT folder's name and a summary run logs the
tables and the plot (offline unless ``logger.wandb.offline=false``). A finished run (``eval.json`` for the
same resolved config) is reused, so an interrupted comparison resumes where it stopped and a changed
policy default retrains only that policy.
"""

from __future__ import annotations

import argparse
import csv
import functools
import hashlib
import json
import logging
import math
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `experiments.compare` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers
from adaptive_st.cli.train import train
from adaptive_st.evaluation import write_csv
from adaptive_st.metrics import LPIPSMetric, build_lpips
from experiments.compare.evaluate import (
    METRICS,
    PairImages,
    evaluate,
    held_out_pairs,
    identity_reference,
    load_run_module,
    make_batches,
)
from experiments.compare.per_image import per_image_section
from experiments.compare.report import AT, aggregate, front_section, markdown_table, plot_pareto, reading

log = logging.getLogger("compare_policies")

PRESETS = {"small": "compare_small", "quality": "compare_quality", "full": "compare_full"}
TERMS = ("content", "style", "adv")
#: Numeric results.csv columns that are averaged over seeds.
NUMERIC = (*METRICS, "style_gain_pct", *(f"lambda_{t}" for t in TERMS), *(f"lambda_{t}_max" for t in TERMS),
           *(f"train_loss_{t}" for t in TERMS), "skipped_steps", "train_time_s", "train_cpu_s", "eval_time_s")
COLUMNS = ("policy", "base_policy", "seed", "lambda_eval", "status", *NUMERIC, "eval_pairs", "started_at",
           "finished_at", "run_dir")


# --------------------------------------------------------------------------------------------- config
def compose_cfg(preset: str, overrides: Sequence[str], output_dir: Path | None = None) -> DictConfig:
    """Compose ``train.yaml`` as ``@hydra.main`` would (``hydra:`` resolvers work), outputs in output_dir."""
    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={PRESETS[preset]}", *overrides],
                      return_hydra_config=True)
    GlobalHydra.instance().clear()
    HydraConfig().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
        if output_dir is not None:
            cfg.paths.output_dir = str(output_dir)
    return cfg


def override_value(v: Any) -> str:
    """A YAML value as Hydra override syntax (lists, bools, null)."""
    if isinstance(v, bool):
        return str(v).lower()
    if v is None:
        return "null"
    if isinstance(v, list | tuple):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    return str(v)


#: Config groups a contender's ``compare.policy_overrides`` entry may also set (e.g. the λ-conditioned model's
#: ``model.style_generator.strength_at``), as nested mappings; every other key is a ``policy.<key>``.
RUN_GROUPS = ("model", "loss", "module", "data")


def policy_overrides(compare: DictConfig, policy: str) -> list[str]:
    """``policy.<key>=<value>`` for the preset's budget-scaled settings of this policy, and ``<group>.<path>=<value>``
    for its nested ``model`` / ``loss`` / ``module`` / ``data`` settings (they apply to that contender only)."""
    extra = OmegaConf.select(compare, f"policy_overrides.{policy}")
    if not extra:
        return []

    def flat(prefix: str, value: Any) -> list[str]:
        if isinstance(value, dict):
            return [o for k, v in value.items() for o in flat(f"{prefix}.{k}", v)]
        return [f"{prefix}={override_value(value)}"]

    out: list[str] = []
    for k, v in OmegaConf.to_container(extra).items():
        out += flat(k, v) if k in RUN_GROUPS else [f"policy.{k}={override_value(v)}"]
    return out


def conditional_lambdas(cfg: DictConfig) -> list[float]:
    """The λ sweep of the conditional (YOTO) generator: the configured values, or the ends and the
    geometric centre of its training range (the centre is its default inference λ)."""
    configured = cfg.compare.eval.get("conditional_lambdas")
    if configured:
        return [float(x) for x in configured]
    lo, hi = float(cfg.policy.lambda_min), float(cfg.policy.lambda_max)
    return [float(x) for x in np.geomspace(lo, hi, 3)]


# --------------------------------------------------------------------------------------------- logs
def logged_lambdas(run_dir: Path, tail: float = 0.1) -> dict[str, float]:
    """Final λ / losses from the run's CSV log: mean over the last ``tail`` of logged steps (one
    batch's λ is noisy for gradient-based policies), plus each λ's maximum over the run.

    Falls back to ``metrics.json`` (the last logged step) without a CSV log.
    """
    out: dict[str, float] = {}
    path = run_dir / "csv" / "metrics.csv"
    if path.is_file():
        with open(path) as f:
            rows = list(csv.DictReader(f))
        for t in TERMS:
            for key, name in ((f"train/lambda_{t}", f"lambda_{t}"), (f"train/loss_{t}", f"train_loss_{t}")):
                values = [float(r[key]) for r in rows if r.get(key) not in (None, "")]
                if values:
                    n = max(1, math.ceil(tail * len(values)))
                    out[name] = float(np.mean(values[-n:]))
                    if name.startswith("lambda"):
                        out[f"{name}_max"] = float(np.max(values))
        return out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for t in TERMS:
        out[f"lambda_{t}"] = metrics.get(f"train/lambda_{t}", math.nan)
        out[f"train_loss_{t}"] = metrics.get(f"train/loss_{t}", math.nan)
    return out


# --------------------------------------------------------------------------------------------- one run
@functools.cache
def _pair_images(crop_size: int) -> PairImages:
    """One decoded-image cache per process, shared by its runs (the held-out images never change)."""
    return PairImages(crop_size)


@functools.cache
def _lpips(net: str | None, backbone_path: str | None, hub_dir: str | None) -> LPIPSMetric | None:
    return build_lpips(net, backbone_path, hub_dir) if net else None


def held_out_batches(cfg: DictConfig) -> list[dict[str, torch.Tensor]]:
    """The evaluation pairs: the datamodule's validation content (split by a stable path hash, the same for
    every seed) × its styles, subsampled to ``compare.eval.max_pairs``."""
    ev = cfg.compare.eval
    datamodule = instantiate(cfg.data)
    styles = datamodule.style_val_paths  # the held-out paintings (data.holdout_styles), else all of them
    pairs = held_out_pairs(len(datamodule.content_val_paths), len(styles), ev.max_pairs)
    images = _pair_images(int(ev.crop_size or cfg.data.crop_size))
    return make_batches(images, datamodule.content_val_paths, styles, pairs, int(ev.batch_size))


def run_one(cfg: DictConfig, contender: str, seed: int, run_dir: Path) -> list[dict[str, Any]]:
    """Train, then evaluate ``last.ckpt`` on the held-out pairs: one row (+ λ-sweep rows for conditional)."""
    policy = contender.partition(AT)[0]
    started_at = time.time()
    t0, c0 = time.perf_counter(), time.process_time()
    metrics = train(cfg)
    train_time, train_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0 = time.perf_counter()
    module = load_run_module(cfg, run_dir / "checkpoints" / "last.ckpt")
    batches = held_out_batches(cfg)
    ev = cfg.compare.eval
    lpips = _lpips(ev.get("lpips_net"), OmegaConf.select(cfg, "module.val_metrics.lpips_backbone_path"),
                   cfg.paths.hub_dir)
    # Conditional: its default inference λ (the main row) + the other sweep values as extra Pareto points.
    default = getattr(module.policy, "inference_lambda", None) if policy == "conditional" else None
    lambdas: list[float | None] = [None]
    if default is not None:
        lambdas += [lam for lam in conditional_lambdas(cfg) if not math.isclose(lam, default)]
    logged = logged_lambdas(run_dir)
    rows = []
    for lam in lambdas:
        result = evaluate(module, batches, lam=lam, lpips=lpips)
        lam_eval = result.pop("lambda_style_eval", None)
        row: dict[str, Any] = {
            "policy": contender if lam is None else f"{policy}{AT}{lam:g}", "base_policy": policy, "seed": seed,
            "lambda_eval": lam if lam is not None else (default if default is not None else ""),
            "status": "ok", **result, **logged,
            "skipped_steps": metrics.get("train/skipped_steps", 0.0), "train_time_s": train_time,
            "train_cpu_s": train_cpu, "eval_pairs": sum(len(b["content"]) for b in batches),
            "run_dir": str(run_dir),
        }
        if lam_eval is not None:  # λ-conditioned: the λ the generator runs at, not a random training draw
            row["lambda_style"] = lam_eval
        rows.append(row)
    for row in rows:
        row.update(eval_time_s=time.perf_counter() - t0, started_at=started_at, finished_at=time.time())
    return rows


def run_job(job: dict[str, Any]) -> list[dict[str, Any]]:
    """One (policy, seed), in this process or a pool worker: fresh run folder, train + evaluate, cache the
    rows in ``eval.json``. Errors become a ``failed`` row: one broken policy must not cost the comparison."""
    if job.get("threads"):
        torch.set_num_threads(job["threads"])
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    run_dir = Path(job["run_dir"])
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    handler = _attach_log_file(run_dir / "run.log")
    try:
        cfg = compose_cfg(job["preset"], job["overrides"], output_dir=run_dir)
        rows = run_one(cfg, job["policy"], job["seed"], run_dir)
    except Exception as err:
        log.exception("%s failed", run_dir.name)
        return [failed_row(job["policy"], job["seed"], run_dir, err)]
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    saved = {"fingerprint": job.get("fingerprint"), "overrides": job["overrides"], "rows": rows}
    (run_dir / "eval.json").write_text(json.dumps(saved, indent=1))
    return rows


def failed_row(policy: str, seed: int, run_dir: Path, err: BaseException) -> dict[str, Any]:
    row: dict[str, Any] = {"policy": policy, "base_policy": policy, "seed": seed, "lambda_eval": "",
                           "run_dir": str(run_dir), "status": f"failed: {type(err).__name__}: {err}"[:300]}
    row.update({k: math.nan for k in NUMERIC})
    return row


# --------------------------------------------------------------------------------------------- report
def reference_scores(cfg: DictConfig) -> dict[str, float]:
    """Metrics of the unstylized input on the same held-out pairs (output = content): the scale bar."""
    return identity_reference(instantiate(cfg.loss.perceptual), held_out_batches(cfg))


def write_report(out: Path, rows: list[dict[str, Any]], header: dict[str, Any],
                 identity: dict[str, float]) -> list[dict[str, Any]]:
    """results.csv, summary.csv, summary.md, pareto.png; returns the summary rows."""
    d0 = identity["style_meanstd"]
    for r in rows:  # share of the input's distance to the style that the policy closed
        r["style_gain_pct"] = 100 * (d0 - float(r["style_meanstd"])) / d0
    write_csv(out / "results.csv", rows, COLUMNS, nan="n/a")
    summary = aggregate(rows, NUMERIC, by="policy")
    keys = ["policy", "base_policy", "lambda_eval", "n", "runs"]
    write_csv(out / "summary.csv", summary, keys + [f"{k}_{s}" for k in NUMERIC for s in ("mean", "std")],
              nan="n/a")
    plot_pareto(summary, out / "pareto.png", identity=identity,
                title=f"{out.name}: content fidelity vs stylization (mean ± std over "
                      f"{len(header['seeds'])} seed(s))")
    lpips_ok = any(math.isfinite(float(r.get("lpips", math.nan))) for r in rows if r.get("status") == "ok")
    failed = [f"- `{r['policy']}` seed {r['seed']}: {r['status']}" for r in rows if r.get("status") != "ok"]
    md = [
        f"# Policy comparison `{out.name}`",
        "",
        f"Preset `{header['preset']}`; policies {', '.join(header['policies'])}; seeds {header['seeds']}; "
        f"held-out pairs per run: {header.get('eval_pairs', '?')} (validation content × styles, fixed).",
        f"Overrides: `{' '.join(header['overrides']) or '—'}`; per-policy: "
        f"`{json.dumps(header['policy_overrides'], ensure_ascii=False)}`.",
        "",
        "Metrics: SSIM / PSNR (RGB) and LPIPS of the output to its content image; style distances "
        "(VGG mean/std and Gram statistics) to the style image; VGG content loss to the content image. "
        "λ: mean over the last 10% of logged training steps (λ-conditioned policies: the λ used at "
        "evaluation). Stylized %: share of the unstylized input's style distance the output closed. "
        "Mean ± sample std over seeds (this spread includes what a seed does to every policy alike; the "
        "reading below uses paired per-seed differences).",
        "",
        f"Unstylized input (output = content) on the same pairs: style mean/std {d0:.4g}, style Gram "
        f"{identity['style_gram']:.4g}, SSIM {identity['ssim']:.4f}, content loss "
        f"{identity['content_loss']:.4g}.",
        "",
        markdown_table(summary, unavailable={"lpips": "n/a (unavailable)"}),
        "",
        "![Pareto plot](pareto.png)",
        "",
        *(["## Against the constant λ front", "", section, ""] if (section := front_section(summary, rows, identity))
          else []),
        *(["## Per-image λ", "", pi, ""] if (pi := per_image_section(
            out, rows, lambda o, d: compose_cfg(header["preset"], o, output_dir=d),
            baseline_name(header["policies"], header["base_style"]))) else []),
        "## Reading",
        "",
        reading(summary, rows, baseline=baseline_name(header["policies"], header["base_style"]), identity=identity,
                lpips_available=lpips_ok),
        "",
        f"Wall time: {header['span_s'] / 60:.1f} min from the first run's start to the last run's end "
        f"({header['runs']} runs, {header['jobs']} at a time; this invocation took "
        f"{header['wall_s'] / 60:.1f} min with {header['reused']} runs reused). Training CPU time summed "
        f"over runs: {header['cpu_s'] / 60:.1f} min (load average {header['load_start']:.1f} at start, "
        f"{header['load_end']:.1f} at end on {os.cpu_count()} cores: wall times are inflated when the "
        "machine is shared).",
    ]
    if failed:
        md += ["", "## Failed runs", "", *failed]
    (out / "summary.md").write_text("\n".join(md) + "\n")
    return summary


def baseline_name(contenders: Sequence[str], base_style: float | None) -> str:
    """The paired-difference baseline: ``constant``, or with a λ front its run at the base λ_style."""
    at_base = f"constant{AT}{base_style:g}" if base_style is not None else None
    return at_base if at_base in contenders else "constant"


def log_wandb_summary(cfg: DictConfig, out: Path, rows: list[dict[str, Any]],
                      summary: list[dict[str, Any]]) -> None:
    """One extra W&B run in the comparison's group: the results/summary tables and the Pareto plot."""
    import wandb

    wcfg = cfg.logger.wandb
    run = wandb.init(project=wcfg.project, group=out.name, job_type="summary", name=f"{out.name}_summary",
                     dir=str(out), mode="offline" if wcfg.get("offline", True) else "online",
                     config={"policies": list(cfg.compare.policies), "seeds": list(cfg.compare.seeds)})

    def table(data: list[dict[str, Any]]) -> wandb.Table:
        cols = list(dict.fromkeys(k for r in data for k in r))
        return wandb.Table(columns=cols, data=[[_plain(r.get(c)) for c in cols] for r in data])

    run.log({"summary": table(summary), "results": table(rows),
             "pareto": wandb.Image(str(out / "pareto.png"))})
    run.finish()


def _plain(v: Any) -> Any:
    """W&B tables want one type per column: numbers stay numbers (NaN included), the rest text."""
    return v if isinstance(v, int | float) and not isinstance(v, bool) else str(v)


# --------------------------------------------------------------------------------------------- main
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", choices=sorted(PRESETS), default="small")
    p.add_argument("--policies", help="comma-separated conf/policy names (default: the preset's list)")
    p.add_argument("--seeds", help="comma-separated seeds (default: the preset's list)")
    p.add_argument("--out", type=Path, help="output folder (default: <paths.log_dir>/compare_<preset>)")
    p.add_argument("--wandb", action="store_true",
                   help="log every run + a summary run to W&B (offline by default)")
    p.add_argument("--jobs", type=int, help="runs trained in parallel processes (default: compare.jobs)")
    p.add_argument("--overwrite", action="store_true", help="retrain runs that already have results")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.max_steps=40")
    return p.parse_args(argv)


def contenders(policies: Sequence[str], front: Sequence[float] | None) -> list[str]:
    """The policies, with ``constant`` replaced by one ``constant@λ=<v>`` contender per front value."""
    out: list[str] = []
    for name in policies:
        out += [f"constant{AT}{float(v):g}" for v in front] if name == "constant" and front else [name]
    return out


def warm_checkpoint(args: argparse.Namespace, base: DictConfig, user: list[str],
                    out: Path) -> tuple[Path, str | None] | None:
    """The preset's common warm start (``compare.warm_start``), trained once into OUT/warm and reused while
    its resolved config is unchanged: (checkpoint, its config's fingerprint); None without one."""
    spec = base.compare.get("warm_start")
    if not spec:
        return None
    run_dir = out / "warm"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    overrides = [*spec.get("overrides", []), f"batches={int(spec.batches)}", "seed=0", *user]
    key = fingerprint(args.preset, overrides)
    stamp = run_dir / "warm.json"
    # Kept across --overwrite (which retrains the contenders): delete OUT/warm to retrain it.
    if key and ckpt.is_file() and stamp.is_file() and json.loads(stamp.read_text()).get("fingerprint") == key:
        log.info("warm start: reusing %s", ckpt)
        return ckpt, key
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    log.info("warm start: training %d batches into %s", int(spec.batches), run_dir)
    t0 = time.perf_counter()
    train(compose_cfg(args.preset, overrides, output_dir=run_dir))
    stamp.write_text(json.dumps({"fingerprint": key, "overrides": overrides,
                                 "train_time_s": time.perf_counter() - t0}, indent=1))
    return ckpt, key


def plan_jobs(args: argparse.Namespace, base: DictConfig, user: list[str], out: Path,
              threads: int | None, warm_start: tuple[Path, str | None] | None = None,
              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(jobs to run, rows reused from runs already evaluated with the same overrides)."""
    jobs, reused = [], []
    # The warm start enters a run's cache key as its own fingerprint, not as its path inside OUT.
    warm_ckpt, warm_key = warm_start or (None, None)
    warm = [f"init_from={warm_ckpt}"] if warm_ckpt else []
    for contender in args.policies:
        policy, _, lam = contender.partition(AT)
        for seed in args.seeds:
            name = f"{policy}_l{lam}_s{seed}" if lam else f"{policy}_s{seed}"
            overrides = [f"policy={policy}", f"seed={seed}", *policy_overrides(base.compare, policy), *user,
                         *([f"loss.weights.style={lam}"] if lam else []), *warm]
            if args.use_wandb:
                overrides += [f"logger.wandb.group={out.name}", "logger.wandb.job_type=policy",
                              f"logger.wandb.name={name}"]
            run_dir = out / "runs" / name
            key = fingerprint(args.preset, [o for o in overrides if o not in warm])
            if key and warm:
                key = hashlib.sha1(f"{key}+warm:{warm_key}".encode()).hexdigest()
            cached = run_dir / "eval.json"
            if key and cached.is_file() and not args.overwrite:
                saved = json.loads(cached.read_text())
                if saved.get("fingerprint") == key:
                    log.info("%s: reusing %s", name, cached)
                    reused += [{**r, "run_dir": str(run_dir)} for r in saved["rows"]]  # where it is now (OUT may move)
                    continue
            jobs.append({"preset": args.preset, "policy": contender, "seed": seed, "overrides": overrides,
                         "run_dir": str(run_dir), "threads": threads, "fingerprint": key})
    return jobs, reused


#: ``compare.*`` keys that only choose *which* runs exist (each run's own overrides carry its policy settings):
#: left out of a run's fingerprint, so adding a contender or a seed, or changing another contender's settings,
#: reuses the runs already trained. ``compare.eval`` and ``compare.warm_start`` stay in: they change a result.
PLAN_KEYS = ("policies", "seeds", "jobs", "front", "policy_overrides")


def fingerprint(preset: str, overrides: Sequence[str]) -> str | None:
    """Hash of the run's fully resolved config: a cached result is reused only if nothing in it changed
    (conf/ defaults included; code changes are not seen: use --overwrite). Output paths and the comparison's
    plan (:data:`PLAN_KEYS`) are left out, so a moved OUT folder stays reusable. None if the config does not
    compose."""
    try:
        cfg = OmegaConf.to_container(compose_cfg(preset, overrides, output_dir=Path("/RUN")), resolve=True)
    except Exception:
        return None
    for key in PLAN_KEYS:
        (cfg.get("compare") or {}).pop(key, None)
    return hashlib.sha1(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def run_jobs(jobs: list[dict[str, Any]], n_jobs: int) -> list[dict[str, Any]]:
    """Run the jobs in this process (n_jobs = 1, e.g. one GPU) or in n_jobs spawned worker processes."""
    rows: list[dict[str, Any]] = []
    if n_jobs == 1:
        for job in jobs:
            rows += _report_run(job, run_job(job))
        return rows
    with ProcessPoolExecutor(n_jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_job, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as err:  # the worker process itself died (e.g. out of memory)
                result = [failed_row(job["policy"], job["seed"], Path(job["run_dir"]), err)]
            rows += _report_run(job, result)
    return rows


def _report_run(job: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    r = rows[0]
    if r["status"] != "ok":
        log.error("%s_s%s: %s", job["policy"], job["seed"], r["status"])
    else:
        log.info("%s_s%s: ssim %.4f psnr %.2f style %.4f content %.4f λ_style %.3g (train %.0f s, "
                 "%.0f cpu s)", job["policy"], job["seed"], r["ssim"], r["psnr"], r["style_meanstd"],
                 r["content_loss"], r.get("lambda_style", math.nan), r["train_time_s"], r["train_cpu_s"])
    return rows


def main(argv: Sequence[str] | None = None) -> Path:
    """Run the comparison; returns the output folder."""
    args = parse_args(argv)
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    t_start, load_start = time.perf_counter(), os.getloadavg()[0]
    user = list(args.overrides) + (["logger=wandb_csv"] if args.wandb else [])
    # The comparison's own settings; policy.* overrides only fit some policies, so they go to the runs.
    base = compose_cfg(args.preset, [o for o in user if not o.lstrip("+~").startswith("policy.")])
    # W&B on (--wandb, or a preset whose logger has it, like `full`): group the runs, add a summary run.
    args.use_wandb = OmegaConf.select(base, "logger.wandb") is not None
    args.policies = contenders(args.policies.split(",") if args.policies else list(base.compare.policies),
                               base.compare.get("front"))
    args.seeds = [int(s) for s in (args.seeds.split(",") if args.seeds else base.compare.seeds)]
    out = (args.out or Path(base.paths.log_dir) / PRESETS[args.preset]).resolve()
    (out / "runs").mkdir(parents=True, exist_ok=True)
    n_jobs = max(1, int(args.jobs if args.jobs is not None else base.compare.get("jobs", 1)))
    # Parallel runs share the cores out: one thread per run beats intra-op threads on these small
    # convolutions, and does not collapse when other processes compete for the CPU.
    threads = max(1, (os.cpu_count() or 1) // n_jobs) if n_jobs > 1 else None

    handler = _attach_log_file(out / "compare.log")
    try:
        log.info("comparison %s: policies %s, seeds %s -> %s", out.name, args.policies, args.seeds, out)
        jobs, rows = plan_jobs(args, base, user, out, threads, warm_checkpoint(args, base, user, out))
        log.info("%d runs to train (%d reused), %d at a time", len(jobs),
                 len(args.policies) * len(args.seeds) - len(jobs), n_jobs)
        rows += run_jobs(jobs, n_jobs)
        order = {p: i for i, p in enumerate(args.policies)}
        rows.sort(key=lambda r: (order.get(r["policy"], order.get(r["base_policy"], len(order))), int(r["seed"]),
                                 r["policy"] != r["base_policy"], float(r.get("lambda_eval") or 0)))
        header = {"preset": args.preset, "policies": args.policies, "seeds": args.seeds, "overrides": user,
                  "policy_overrides": OmegaConf.to_container(base.compare.get("policy_overrides") or {}),
                  "base_style": float(base.loss.weights.style),
                  "runs": len(args.policies) * len(args.seeds), "jobs": n_jobs,
                  "reused": len(args.policies) * len(args.seeds) - len(jobs),
                  "wall_s": time.perf_counter() - t_start, "load_start": load_start,
                  "load_end": os.getloadavg()[0],
                  "eval_pairs": next((r["eval_pairs"] for r in rows if r.get("status") == "ok"), "?")}
        ok = [r for r in rows if r["policy"] == r["base_policy"] and r.get("status") == "ok"]
        header["cpu_s"] = sum(float(r["train_cpu_s"]) for r in ok)
        # Wall span from the first run's start to the last run's end, also for runs reused from earlier.
        stamps = [(r["started_at"], r["finished_at"]) for r in ok if "started_at" in r]
        header["span_s"] = max(b for _, b in stamps) - min(a for a, _ in stamps) if stamps else math.nan
        summary = write_report(out, rows, header, reference_scores(base))
        (out / "comparison.json").write_text(json.dumps(header, indent=1))
        if args.use_wandb:
            log_wandb_summary(base, out, rows, summary)
        log.info("done in %.1f min: %s", header["wall_s"] / 60, out / "summary.md")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    return out


def _attach_log_file(path: Path) -> logging.Handler:
    """Mirror INFO logs (ours and Lightning's) into OUT/compare.log for the duration of ``main``."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    log.setLevel(logging.INFO)
    logging.getLogger("adaptive_st").setLevel(logging.INFO)
    return handler


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    main()
