"""Train variants of the quality recipe side by side and score each on the held-out pairs.

    python experiments/sweep_quality.py --out DIR [--jobs 4] [--common "trainer=gpu ..."] \\
        base="" gram300="loss.perceptual.style_kind=meanstd+gram loss.perceptual.gram_weight=300"

Every variant is ``experiment=cpu_quality`` plus the common overrides plus its own (``name="k=v k=v"``),
trained as its own process (``--jobs`` at a time) into ``DIR/<name>``, then scored by
``experiments/quality.py`` (no Gatys reference: it does not depend on the variant). Prints and writes
``DIR/sweep.md`` and ``DIR/sweep.json``: held-out mean/std and Gram distance closed, SSIM_y, content
loss, D's final loss (its hinge loss is 2.0 at chance) and wall time, best Gram first.

Why a separate script: the recipe is defined by its number of batches, so a variant run on a fast
machine (a lent GPU, ``--common "trainer.accelerator=gpu"``) predicts what it gives on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_variant(text: str) -> tuple[str, list[str]]:
    name, sep, overrides = text.partition("=")
    if not sep or not name.isidentifier():
        raise SystemExit(f"sweep_quality.py: variant {text!r} must look like name=\"key=value key=value\"")
    return name, shlex.split(overrides)


def final_d_loss(run: Path) -> float | None:
    """Mean of the last 5 logged D losses, from the run's metrics.csv."""
    files = sorted(run.rglob("metrics.csv"))
    if not files:
        return None
    with files[0].open() as f:
        values = [float(r["train/loss_d"]) for r in csv.DictReader(f) if r.get("train/loss_d")]
    return sum(values[-5:]) / len(values[-5:]) if values else None


def run_variant(name: str, overrides: list[str], common: list[str], out: Path, threads: int) -> dict:
    run = out / name
    run.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "adaptive_st.train", "experiment=cpu_quality", *common, *overrides,
           f"paths.output_dir={run}", "trainer.enable_progress_bar=false"]
    start = time.perf_counter()
    with (run / "train.out").open("w") as log:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    wall = time.perf_counter() - start
    record: dict = {"name": name, "overrides": " ".join(overrides), "train_s": round(wall, 1), "rc": rc,
                    "d_loss": final_d_loss(run)}
    ckpt = run / "checkpoints" / "last.ckpt"
    if rc or not ckpt.exists():
        record["error"] = (run / "train.out").read_text()[-2000:]
        return record
    score = [sys.executable, str(ROOT / "experiments" / "quality.py"), str(ckpt), "--gatys-pairs", "0",
             "--threads", str(threads), "--out", str(run / "quality")]
    with (run / "quality.out").open("w") as log:
        rc = subprocess.run(score, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    if rc:
        record["error"] = (run / "quality.out").read_text()[-2000:]
        return record
    model = json.loads((run / "quality" / "quality.json").read_text())["summary"]["model"]
    record.update({k: model[k] for k in ("meanstd_closed", "gram_closed", "gram_closed_pooled", "ssim_y",
                                         "content_loss", "d_real", "texture")})
    return record


def table(records: list[dict]) -> str:
    lines = ["| variant | mean/std closed | Gram closed (pooled) | SSIM_y | content | D loss | D says real | "
             "texture | train s | overrides |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: -r.get("gram_closed", -1)):
        if "gram_closed" not in r:
            lines.append(f"| {r['name']} | failed (rc {r['rc']}) | | | | | | | {r['train_s']} | {r['overrides']} |")
            continue
        d = f"{r['d_loss']:.2f}" if r["d_loss"] is not None else "-"
        lines.append(f"| {r['name']} | {r['meanstd_closed']:.1%} | {r['gram_closed']:.1%} ({r['gram_closed_pooled']:.1%})"
                     f" | {r['ssim_y']:.3f} | {r['content_loss']:.2f} | {d} | {r['d_real']:.1%} | "
                     f"{r['texture']:.2f} | {r['train_s']:.0f} | `{r['overrides']}` |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("variants", nargs="+", help='name="override override ..." (empty for the recipe itself)')
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--jobs", type=int, default=1, help="variants trained at the same time")
    p.add_argument("--threads", type=int, default=2, help="CPU threads per variant")
    p.add_argument("--common", default="", help="overrides applied to every variant")
    args = p.parse_args()
    variants = dict(parse_variant(v) for v in args.variants)
    common = shlex.split(args.common)
    args.out.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = [pool.submit(run_variant, name, o, common, args.out, args.threads) for name, o in variants.items()]
        for fut in as_completed(futures):
            r = fut.result()
            records.append(r)
            print(f"{r['name']}: " + (f"Gram {r['gram_closed']:.1%} mean/std {r['meanstd_closed']:.1%} "
                                      f"SSIM_y {r['ssim_y']:.3f} D {r['d_loss']} ({r['train_s']:.0f} s)"
                                      if "gram_closed" in r else f"FAILED rc={r['rc']}\n{r.get('error', '')[-600:]}"),
                  flush=True)
            # Written after every variant: a sweep cut short keeps what finished.
            (args.out / "sweep.md").write_text(f"common: `{args.common}`\n\n{table(records)}\n")
            (args.out / "sweep.json").write_text(json.dumps(records, indent=1))
    print(table(records))
    return 0 if all("gram_closed" in r for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
