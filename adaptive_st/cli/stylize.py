"""`adaptive-st stylize CKPT CONTENT STYLE [STYLE ...]`: stylize a file or a folder with a trained model.

Style codes are computed once per style for the whole folder. Outputs are PNGs named
``<content-stem>__<style-stem>[__a<α>][__lam<λ>].png`` under ``--out`` (mirroring sub-folders of a
content folder); existing files are never replaced without ``--overwrite``. In a folder, an unreadable
image is reported and skipped, and the command exits 1 at the end with a summary.

Runs the EMA of G and S when the checkpoint has one (training with ``module.ema_decay``; ``--no-ema``:
the last weights). A checkpoint whose weights or outputs are NaN/inf is an error: nothing is written for it.

Backends. ``auto`` (the default) runs the checkpoint's exported ONNX graph in ONNX Runtime without
importing torch (a fraction of the start-up time and memory) when it is cached in
``<checkpoint folder>/.onnx_cache/`` and the options allow: whole images (no --tile
N, none over 2048 px), CPU fp32, λ given or not per image. Otherwise it runs torch, and afterwards exports
the graph once (if the model can be exported), so the next run is lean; ADAPTIVE_ST_AUTO_EXPORT=0 turns
that export off. ``torch`` always runs eager PyTorch; ``onnxruntime`` always runs the graph (exporting it
first if needed). All give the same images up to one 8-bit level. CHECKPOINT may also be a ``.onnx`` file
written by ``adaptive-st export`` (with its ``.style.onnx`` and ``.json`` beside it): it runs in ONNX Runtime, without torch.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from adaptive_st.cli.backends import cache_graph_for_next_run, check_backend_options, lean_model, make_engine
from adaptive_st.cli.files import OutputPathError as OutputPathError
from adaptive_st.cli.files import check_out_dir, collect_images
from adaptive_st.cli.files import os_error_line as os_error_line
from adaptive_st.cli.helptext import plain
from adaptive_st.inference import (
    AUTO_TILE_ABOVE,
    BACKENDS,
    DEFAULT_STATS_SIZE,
    DEFAULT_TILE,
    PRECISION_NAMES,
    PRESERVE_COLOR,
)

if TYPE_CHECKING:
    from adaptive_st.inference import Style, StyleTransfer
    from adaptive_st.inference.lean import LeanStyleTransfer

# Nothing above imports torch: `--help` and argument errors answer at once; the work imports it on use.
log = logging.getLogger("adaptive_st.stylize")


def user_errors() -> tuple[type[Exception], ...]:
    """Errors whose message is the whole story: printed as one line, no traceback.

    ValueError covers CheckpointError, NonFiniteError, ConditionError, ImageLoadError, DataConfigError and
    the torch-free path's GraphError; naming them would import torch (and a failing lean run must not).
    """
    from adaptive_st.pretrained.errors import MissingWeightsError

    return (ValueError, MissingWeightsError)


def __getattr__(name: str) -> Any:
    if name == "USER_ERRORS":  # the former module-level tuple, now built on use
        return user_errors()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptive-st stylize", description=plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path,
                   help="a .ckpt written by training (e.g. <run>/checkpoints/last.ckpt), or a .onnx of adaptive-st export")
    p.add_argument("content", type=Path, help="content image file, or a folder (searched recursively)")
    p.add_argument("styles", type=Path, nargs="*", help="style image file(s) or folder(s); one output per style")
    p.add_argument("--style-id", type=int, nargs="+", help="learned style ids instead of images (embedding models)")
    p.add_argument("--style-weights", type=float, nargs="+",
                   help="mix all styles into one with these weights (one per style) instead of one output each")
    p.add_argument("--alpha", type=float, default=1.0, help="style strength in [0, 1] (default 1)")
    p.add_argument("--lam", type=float, help="λ_style for models trained with a λ-conditioned policy")
    p.add_argument("--preserve-color", choices=PRESERVE_COLOR, default="none",
                   help="keep the content's colours: luminance-only transfer, or match the style's colours first")
    p.add_argument("--size", type=int, help="resize so the longer side is SIZE px (default: keep input size)")
    p.add_argument("--tile", default="auto",
                   help=f"tile side in px, 0 = never, auto = {DEFAULT_TILE} for images over {AUTO_TILE_ABOVE} px")
    p.add_argument("--tile-overlap", type=int,
                   help="overlap blended between tiles, px (default: twice G's receptive-field radius)")
    p.add_argument("--stats-size", type=int, default=DEFAULT_STATS_SIZE,
                   help="longer side of the thumbnail whose AdaIN statistics all tiles share (exact up to it)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=list(PRECISION_NAMES), default="fp32", help="autocast precision of G")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: on for CPU, where it is faster)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile G (~2x faster per image on CPU after ~1 min of compilation; for folders)")
    p.add_argument("--threads", type=int,
                   help="CPU threads for G (torch.set_num_threads, or ONNX Runtime's intra-op threads); default: all")
    p.add_argument("--no-ema", action="store_true",
                   help="use the last (live) G and S instead of the EMA the checkpoint holds when trained with it")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="what runs G∘S: auto (the cached ONNX graph without torch when the options allow, else "
                        "torch), eager PyTorch, or ONNX Runtime (CPU, fp32, no tiling)")
    p.add_argument("--onnx-cache", type=Path,
                   help="folder of the exported graphs (default: <ckpt folder>/.onnx_cache, else ~/.cache/adaptive_st)")
    p.add_argument("--vgg-path", type=Path, help="VGG weights for per-image λ, replacing the checkpoint's saved path")
    p.add_argument("--out", type=Path, default=Path("stylized"), help="output folder (default: ./stylized)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def parse_tile(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"--tile {value!r}: expected 'auto' or a number of pixels (0 = no tiling)") from None


@dataclass
class Job:
    content: Path
    style: Style
    target: Path


def content_stems(contents: Sequence[Path], root: Path) -> dict[Path, Path]:
    """Relative output stem per content; files differing only by extension keep it (a.jpg → a_jpg)."""
    rel = {c: (c.relative_to(root) if root.is_dir() else Path(c.name)) for c in contents}
    stems = {c: r.with_suffix("") for c, r in rel.items()}
    seen: dict[Path, int] = {}
    for s in stems.values():
        seen[s] = seen.get(s, 0) + 1
    return {c: (s if seen[s] == 1 else s.with_name(rel[c].name.replace(".", "_"))) for c, s in stems.items()}


def prepare_styles(engine: StyleTransfer | LeanStyleTransfer, args: argparse.Namespace,
                   read_image: Callable[[Path], Any]) -> list[Any]:
    from adaptive_st.inference import mix_name

    if args.style_id:
        if args.styles:
            raise ValueError("give style images or --style-id, not both")
        names = [f"style{i}" for i in args.style_id]
        check_style_weights_option(args.style_weights, len(names))
        if args.style_weights:
            return [engine.style_from_ids(args.style_id, mix_name(names, args.style_weights), args.style_weights)]
        return [engine.style_from_ids([i], n) for i, n in zip(args.style_id, names)]
    paths = collect_images(args.styles, "style")
    if not paths:
        raise ValueError("no style given: pass one or more style images (or --style-id for embedding models)")
    check_style_weights_option(args.style_weights, len(paths))
    images = [read_image(p) for p in paths]
    stems = [p.stem for p in paths]
    if args.style_weights:
        return [engine.style_from_images(images, mix_name(stems, args.style_weights), args.style_weights)]
    return [engine.style_from_images([im], stem) for im, stem in zip(images, stems)]


def check_style_weights_option(weights: Sequence[float] | None, n: int) -> None:
    """``--style-weights`` must give one weight per style (after folders are expanded), >= 0, positive sum."""
    import math

    if weights is None:
        return
    if len(weights) != n:
        raise ValueError(f"--style-weights: {len(weights)} weight(s) for {n} style(s); give one weight per style "
                         "(a style folder counts each image in it)")
    if any(not (math.isfinite(w) and w >= 0) for w in weights) or sum(weights) <= 0:
        raise ValueError(f"--style-weights {' '.join(f'{w:g}' for w in weights)}: weights must be finite, >= 0 "
                         "and not all 0")


def plan(args: argparse.Namespace, styles: Sequence[Style]) -> list[Job]:
    from adaptive_st.inference import output_name

    contents = collect_images([args.content], "content")
    stems = content_stems(contents, args.content)
    jobs = []
    for content in contents:
        for style in styles:
            stem = stems[content]
            name = output_name(stem.name, style.name, args.alpha, args.lam, args.preserve_color)
            jobs.append(Job(content, style, args.out / stem.parent / name))
    return jobs


def refuse_overwrite(jobs: Sequence[Job]) -> None:
    existing = [j.target for j in jobs if j.target.exists()]
    if existing:
        shown = ", ".join(str(p) for p in existing[:5]) + (" …" if len(existing) > 5 else "")
        raise FileExistsError(f"refusing to overwrite {len(existing)} existing output file(s): {shown}. "
                              "Pass --overwrite to replace them, or choose another --out.")


def run(args: argparse.Namespace) -> int:
    from adaptive_st.inference import StylizeOptions

    check_out_dir(args.out)
    check_backend_options(args)
    options = StylizeOptions(alpha=args.alpha, lam=args.lam, preserve_color=args.preserve_color, size=args.size,
                             tile=parse_tile(args.tile), tile_overlap=args.tile_overlap,
                             stats_size=args.stats_size)
    lean = lean_model(args)
    if lean is not None:  # nothing below imports torch
        from adaptive_st.inference import lean as torch_free

        engine: Any = torch_free.LeanStyleTransfer(lean, args.threads)
        lean.check_lambda(args.lam)  # before any file is read or written
        read, write = torch_free.read_image, torch_free.write_png
        where = f"cpu, fp32, {lean.weights_label} weights, onnxruntime without torch"
    else:
        from adaptive_st.inference import read_image, resolve_runtime, write_png
        from adaptive_st.inference.model import check_lambda, retain_freed_memory

        retain_freed_memory()  # ~6x faster megapixel convs with glibc (see inference.model)
        if args.backend == "onnxruntime":
            runtime = resolve_runtime("cpu", "fp32", False)
        else:
            runtime = resolve_runtime(args.device, args.precision, args.channels_last)
        engine = make_engine(args, runtime)
        check_lambda(engine.model, args.lam)  # before any file is read or written
        read, write = read_image, write_png
        backend = "onnxruntime" if args.backend == "onnxruntime" else "torch"
        where = f"{runtime.device.type}, {runtime.precision}, {engine.model.weights_label} weights, {backend}"
    code = stylize_all(args, engine, options, read, write, where)
    if lean is None and code == 0:
        cache_graph_for_next_run(args, engine)
    return code


def stylize_all(args: argparse.Namespace, engine: Any, options: Any, read: Callable[[Path], Any],
                write: Callable[[Any, Path], None], where: str) -> int:
    """The job loop of both paths: plan, refuse overwrites, stylize, skip unreadable contents, summarise."""
    from tqdm import tqdm

    from adaptive_st.data.images import ImageLoadError

    styles = prepare_styles(engine, args, read)
    jobs = plan(args, styles)
    if not args.overwrite:
        refuse_overwrite(jobs)
    failed: dict[Path, str] = {}
    written, pixels, started = 0, 0, time.perf_counter()
    bar = tqdm(total=len(jobs), unit="img", disable=args.quiet or len(jobs) < 2, file=sys.stderr)
    current, image = None, None
    for job in jobs:
        bar.update(1)
        if job.content in failed:
            continue
        if job.content != current:
            current = job.content
            try:
                image = read(job.content)
            except ImageLoadError as err:
                failed[job.content] = str(err)
                bar.write(f"adaptive-st stylize: skipped: {err}", file=sys.stderr)
                continue
        out = engine.stylize(image, job.style, options)
        write(out, job.target)
        written += 1
        pixels += out.shape[-1] * out.shape[-2]
    bar.close()
    seconds = time.perf_counter() - started
    print(f"wrote {written} image(s) to {args.out} in {seconds:.1f} s "
          f"({pixels / 1e6 / max(seconds, 1e-9):.2f} Mpx/s, {where})", file=sys.stderr)
    if failed:
        print(f"adaptive-st stylize: {len(failed)} content image(s) could not be read and were skipped:",
              file=sys.stderr)
        for path in failed:
            print(f"  {path}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    logging.basicConfig(level=logging.WARNING, format="adaptive-st stylize: %(message)s")
    try:
        return run(args)
    except (*user_errors(), FileExistsError) as err:
        print(f"adaptive-st stylize: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # writing outputs (a full disk): a fault of the machine, not of the code
        print(f"adaptive-st stylize: error: {os_error_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
