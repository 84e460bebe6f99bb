"""`adaptive-st judge CKPT_A CKPT_B [CKPT ...] --content DIR --style DIR --out DIR`: rank checkpoints by a human pairwise preference study.

Stylizes the same seeded (content, style) pairs with every checkpoint into the study folder ``--out``
(``study.json``, ``inputs/``, ``outputs/``), then serves a page on http://127.0.0.1:PORT/ that shows the
content, the style and two anonymised outputs in random order: key 1 or 2 picks one, 0 or space says
"can't tell". Each answer is appended at once to ``answers/<rater>.csv``. ``adaptive-st judge --out DIR``
on an existing study resumes it: nothing is stylized again and no rater is asked a comparison twice.
Raters on other machines share the folder; their CSVs are merged by putting them in the same answers/.

``adaptive-st judge --report DIR`` ranks the checkpoints from all answers: Bradley–Terry scores with 95%
bootstrap intervals, the win-rate matrix, agreement between raters (percent, Fleiss' and Cohen's κ) and
how often each automatic metric (style distance, content loss, SSIM_y, LPIPS when its weights exist)
picks the output the raters preferred. Writes report.md, report.html (self-contained) and report.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from adaptive_st.cli.helptext import plain
from adaptive_st.cli.stylize import user_errors
from adaptive_st.inference import PRECISION_NAMES
from adaptive_st.pretrained import LPIPS_BACKBONES

# Nothing above imports torch: serving a prepared study and the report never load it.


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptive-st judge", description=plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="*", help="two or more .ckpt files (omit to resume --out)")
    p.add_argument("--content", type=Path, nargs="+", help="content folder(s) or file(s)")
    p.add_argument("--style", type=Path, nargs="+", help="style folder(s) or file(s)")
    p.add_argument("--pairs", default="20", help="number N of (content, style) pairs drawn with --seed, or 'all' "
                   "(default 20; each pair gives one comparison per two checkpoints)")
    p.add_argument("--seed", type=int, default=0, help="seed of the pairs and of the comparison order (default 0)")
    p.add_argument("--size", type=int, default=512, help="longer side of the images shown; 0 = native size")
    p.add_argument("--alpha", type=float, default=1.0, help="style strength in [0, 1]")
    p.add_argument("--lam", type=float, help="λ for λ-conditioned checkpoints (others: noted and ignored)")
    p.add_argument("--labels", nargs="+", help="names of the checkpoints in the report (default: run/ckpt)")
    p.add_argument("--out", type=Path, help="study folder: created, or resumed when it holds a study")
    p.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 = any free one)")
    p.add_argument("--rater", help="rater id the page starts with (else it asks; ?rater=ID in the URL also works)")
    p.add_argument("--no-serve", action="store_true", help="only prepare the study (e.g. to copy it to raters)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=list(PRECISION_NAMES), default="fp32")
    p.add_argument("--no-ema", action="store_true", help="use the last (live) G and S instead of their EMA")
    p.add_argument("--vgg-path", type=Path, help="loss VGG weights, replacing the path saved in the checkpoints")
    p.add_argument("--lpips-net", choices=sorted(LPIPS_BACKBONES), default="alex")
    p.add_argument("--lpips-backbone", type=Path, help="torchvision backbone file for LPIPS (else the hub cache)")
    p.add_argument("--hub-dir", type=Path, help="torch hub dir holding checkpoints/ (default: torch's)")
    p.add_argument("--report", type=Path, metavar="DIR", help="write the report of the study in DIR and exit")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the intervals (default 1000)")
    p.add_argument("--wandb-project", help="also log the report to this W&B project")
    p.add_argument("--wandb-mode", choices=["offline", "online"], default="offline",
                   help="offline (default) writes a run to sync later with: wandb sync <run dir>")
    return p


def say(message: str) -> None:
    print(f"adaptive-st judge: {message}", file=sys.stderr, flush=True)


def report(args: argparse.Namespace) -> int:
    from adaptive_st.judge.report import build_report, upload, write_report
    from adaptive_st.judge.study import Study

    if args.checkpoints:
        raise ValueError("--report reads a prepared study; give no checkpoints with it")
    if args.bootstrap < 1:
        raise ValueError(f"--bootstrap {args.bootstrap}: must be >= 1")
    result = build_report(Study.load(args.report), args.bootstrap, args.seed)
    files = write_report(result, args.report)
    print(files["report.md"].read_text())
    if args.wandb_project:
        say(f"W&B run ({args.wandb_mode}): {upload(result, args.wandb_project, args.wandb_mode)}")
    say(f"wrote {', '.join(str(p) for p in files.values())}")
    return 0


def prepare(args: argparse.Namespace) -> None:
    """Stylize and score the pairs into a new study folder (the only step that loads torch)."""
    from adaptive_st.cli.evaluate import parse_pairs
    from adaptive_st.cli.files import collect_images
    from adaptive_st.evaluation import EvalSettings, MetricSources, make_pairs, unique_labels
    from adaptive_st.inference.model import resolve_runtime, retain_freed_memory
    from adaptive_st.judge.prepare import prepare_study

    if len(args.checkpoints) < 2:
        raise ValueError(f"{args.out}: no study there yet; give two or more checkpoints to prepare one")
    if not args.content or not args.style:
        raise ValueError("preparing a study needs --content and --style (folders or files)")
    labels = unique_labels(args.checkpoints, args.labels)
    pairs = make_pairs(collect_images(args.content, "content"), collect_images(args.style, "style"),
                       parse_pairs(args.pairs), args.seed)
    retain_freed_memory()
    runtime = resolve_runtime(args.device, args.precision)
    settings = EvalSettings(size=args.size or None, alpha=args.alpha, lam=args.lam, vgg_path=args.vgg_path,
                            use_ema=not args.no_ema)
    description = {"content": ", ".join(map(str, args.content)), "style": ", ".join(map(str, args.style))}
    prepare_study(args.out, args.checkpoints, labels, pairs, runtime, settings, args.seed,
                  MetricSources(args.lpips_net, args.lpips_backbone, args.hub_dir), description, progress=say)


def study(args: argparse.Namespace) -> int:
    from adaptive_st.judge.server import serve
    from adaptive_st.judge.study import AnswerLog, Study, check_rater

    if args.out is None:
        raise ValueError("give --out DIR (the study folder), or --report DIR")
    if args.rater is not None:
        check_rater(args.rater)
    if Study.exists(args.out):
        existing = Study.load(args.out)
        given = [str(p.resolve()) for p in args.checkpoints]
        if given and given != [m.checkpoint for m in existing.models]:
            raise ValueError(f"{args.out} holds a study of other checkpoints "
                             f"({', '.join(m.checkpoint for m in existing.models)}); choose another --out")
        say(f"resuming the study in {args.out}: nothing is stylized again")
    else:
        prepare(args)
    current = Study.load(args.out)
    log = AnswerLog(current)
    done = ", ".join(f"{r}: {log.answered(r)}" for r in log.raters()) or "none yet"
    say(f"{len(current.comparisons)} comparisons ({len(current.models)} checkpoints, {len(current.pairs)} pairs); "
        f"answered per rater: {done}")
    if args.no_serve:
        say(f"prepared; serve it with: adaptive-st judge --out {args.out}")
        return 0
    serve(current, args.port, args.rater, announce=say)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.WARNING, format="adaptive-st judge: %(message)s")
    try:
        return report(args) if args.report is not None else study(args)
    except (*user_errors(), FileExistsError, PermissionError) as err:  # StudyError is a ValueError
        say(f"error: {err}")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
