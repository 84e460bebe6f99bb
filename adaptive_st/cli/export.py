"""`adaptive-st export CKPT --out DIR`: TorchScript and ONNX files of the stylizer, checked against eager.

Writes ``stylizer.pt`` (traced TorchScript: ``(content, style, alpha[, lam]) → output``), two ONNX graphs
(opset 18, or ``--opset`` 19..23; symbolic H/W): ``stylizer.style.onnx`` (``style → code``, run once per
style) and ``stylizer.onnx`` (``(content, code, alpha[, lam]) → output``), and ``stylizer.json`` (the
signatures); see ``adaptive_st.inference.export``. After export, each file is run on inputs of other sizes than the traced
one and compared with the eager model (``--no-verify`` skips that).

Exports the EMA of G and S when the checkpoint has one (``--no-ema``: the last weights). A checkpoint
whose weights, or whose eager outputs, are NaN/inf is refused before any file is written, and an
exported file with non-finite outputs fails the parity check.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from adaptive_st.cli.files import check_out_dir, os_error_line
from adaptive_st.cli.helptext import plain
from adaptive_st.cli.stylize import user_errors
from adaptive_st.inference import MAX_OPSET, OPSET

FORMATS = ("torchscript", "onnx")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptive-st export", description=plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("exported"), help="output folder (default: ./exported)")
    p.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS), dest="formats")
    p.add_argument("--opset", type=int, default=OPSET,
                   help=f"ONNX opset, {OPSET}..{MAX_OPSET} (default {OPSET}, the minimum: antialiased Resize)")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check against the eager model")
    p.add_argument("--no-ema", action="store_true",
                   help="export the last (live) G and S instead of the EMA saved by training with it")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in --out")
    return p


def run(args: argparse.Namespace) -> int:
    from adaptive_st.inference import load_stylizer
    from adaptive_st.inference.export import (
        PARITY_TOLERANCE,
        check_eager_finite,
        export_onnx,
        export_torchscript,
        parity,
        write_metadata,
    )
    from adaptive_st.inference.onnx_cache import style_graph_of

    check_out_dir(args.out)
    if "onnx" in args.formats and not OPSET <= args.opset <= MAX_OPSET:
        raise ValueError(f"--opset {args.opset}: supported opsets are {OPSET}..{MAX_OPSET} ({OPSET} is the first "
                         f"with antialiased Resize, {MAX_OPSET} the newest this torch writes)")
    targets = {"torchscript": args.out / "stylizer.pt", "onnx": args.out / "stylizer.onnx"}
    wanted = {f: targets[f] for f in args.formats}
    written = [*wanted.values(), *([style_graph_of(wanted["onnx"])] if "onnx" in wanted else []),
               args.out / "stylizer.json"]
    existing = [str(p) for p in written if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"refusing to overwrite {', '.join(existing)}; pass --overwrite or another --out")
    model = load_stylizer(args.checkpoint, use_ema=not args.no_ema)
    check_eager_finite(model)
    if model.per_image:
        print("note: per-image λ is computed from VGG features, which are not exported; "
              "the exported model takes λ as an input", file=sys.stderr)
    if "torchscript" in wanted:
        export_torchscript(model, wanted["torchscript"])
    if "onnx" in wanted:
        export_onnx(model, wanted["onnx"], args.opset)
        for graph in (wanted["onnx"], style_graph_of(wanted["onnx"])):
            check_opset(graph, args.opset)
    write_metadata(model, args.out / "stylizer.json")
    for path in written:
        print(f"wrote {path}")
    if args.no_verify:
        return 0
    diffs = parity(model, wanted.get("torchscript"), wanted.get("onnx"))
    for name, diff in diffs.items():
        shown = f"{diff:.2e}" if math.isfinite(diff) else "inf (its outputs are not finite)"
        print(f"parity {name}: max |exported - eager| = {shown} (tolerance {PARITY_TOLERANCE:g})")
    failed = [name for name, diff in diffs.items() if not diff <= PARITY_TOLERANCE]
    if failed:
        print(f"adaptive-st export: error: {args.checkpoint}: the exported {' and '.join(failed)} model does not "
              "match the eager model; do not use these files", file=sys.stderr)
        return 1
    return 0


def check_opset(path: Path, opset: int) -> None:
    """torch falls back to another opset when it cannot convert (logging a traceback, exiting 0): refuse a
    file whose default-domain opset is not the one asked for."""
    import onnx

    written = {o.domain: o.version for o in onnx.load(str(path), load_external_data=False).opset_import}
    found = written.get("", written.get("ai.onnx"))
    if found != opset:
        raise ValueError(f"--opset {opset}: the exporter wrote opset {found} to {path} instead; "
                         f"use --opset {found} (or another in {OPSET}..{MAX_OPSET})")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return run(args)
    except (*user_errors(), FileExistsError) as err:
        print(f"adaptive-st export: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # writing the files (a full disk): a fault of the machine, not of the code
        print(f"adaptive-st export: error: {os_error_line(err)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
