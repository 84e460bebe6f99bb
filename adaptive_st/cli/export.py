"""`adaptive-st export CKPT --out DIR`: TorchScript and ONNX files of the stylizer, checked against eager.

Writes ``stylizer.pt`` (traced TorchScript), ``stylizer.onnx`` (opset 18, symbolic H/W) and
``stylizer.json`` (the input signature). Signature: ``(content, style, alpha[, lam]) → output``; see
``adaptive_st.inference.export``. After export, each file is run on inputs of other sizes than the traced
one and compared with the eager model (``--no-verify`` skips that).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from adaptive_st.cli.stylize import USER_ERRORS
from adaptive_st.inference import load_stylizer
from adaptive_st.inference.export import OPSET, export_onnx, export_torchscript, parity, write_metadata

FORMATS = ("torchscript", "onnx")
TOLERANCE = 1e-4


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptive-st export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--out", type=Path, default=Path("exported"), help="output folder (default: ./exported)")
    p.add_argument("--format", nargs="+", choices=FORMATS, default=list(FORMATS), dest="formats")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (default {OPSET}, the minimum)")
    p.add_argument("--no-verify", action="store_true", help="skip the parity check against the eager model")
    p.add_argument("--overwrite", action="store_true", help="replace existing files in --out")
    return p


def run(args: argparse.Namespace) -> int:
    targets = {"torchscript": args.out / "stylizer.pt", "onnx": args.out / "stylizer.onnx"}
    wanted = {f: targets[f] for f in args.formats}
    existing = [str(p) for p in [*wanted.values(), args.out / "stylizer.json"] if p.exists()]
    if existing and not args.overwrite:
        raise FileExistsError(f"refusing to overwrite {', '.join(existing)}; pass --overwrite or another --out")
    model = load_stylizer(args.checkpoint)
    if model.per_image:
        print("note: per-image λ is computed from VGG features, which are not exported; "
              "the exported model takes λ as an input", file=sys.stderr)
    if "torchscript" in wanted:
        export_torchscript(model, wanted["torchscript"])
    if "onnx" in wanted:
        export_onnx(model, wanted["onnx"], args.opset)
    write_metadata(model, args.out / "stylizer.json")
    for path in [*wanted.values(), args.out / "stylizer.json"]:
        print(f"wrote {path}")
    if args.no_verify:
        return 0
    diffs = parity(model, wanted.get("torchscript"), wanted.get("onnx"))
    worst = max(diffs.values(), default=0.0)
    for name, diff in diffs.items():
        print(f"parity {name}: max |exported - eager| = {diff:.2e} (tolerance {TOLERANCE:g})")
    if worst > TOLERANCE:
        print("adaptive-st export: error: exported model does not match the eager model", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        return run(args)
    except (*USER_ERRORS, FileExistsError) as err:
        print(f"adaptive-st export: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
