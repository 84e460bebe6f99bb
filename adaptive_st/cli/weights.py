"""`adaptive-st weights check`: which pretrained files are present, where, and how to get the others.

A report, so it exits 0 even when files are missing; ``--require NAME`` turns a missing file into exit
code 1 (for CI or a setup script). Nothing is downloaded.

``--vgg-path`` takes a file or a folder. A folder is searched for every VGG file by its usual name; a
file is matched by name, else by its contents (torchvision ``features.*`` keys, or AdaIN ``0.weight``
keys, full up to relu5_1 or truncated). Without it, the training config's ``paths.vgg_weights`` is used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from adaptive_st.cli.helptext import plain
from adaptive_st.pretrained import KNOWN_WEIGHTS, VGG_WEIGHTS_KEY, check_weights, hub_checkpoint_path

VGG_NAMES = tuple(name for name, spec in KNOWN_WEIGHTS.items() if spec.config_key == VGG_WEIGHTS_KEY)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptive-st weights", description=plain(__doc__),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="list every known pretrained file and whether it is present")
    check.add_argument("--vgg-path", type=Path, help="a VGG weights file, or a folder holding them")
    check.add_argument("--hub-dir", type=Path, help="torch hub dir (holding checkpoints/); default: torch's")
    check.add_argument("--require", action="append", default=[], metavar="NAME",
                       help=f"exit 1 if NAME is missing (repeatable); one of: {', '.join(KNOWN_WEIGHTS)}")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def configured_vgg_path() -> Path | None:
    """``paths.vgg_weights`` of the training config (resolved as training would), if it exists."""
    from omegaconf import OmegaConf

    from adaptive_st.cli.resolvers import CONFIG_DIR, register_resolvers

    register_resolvers()
    cfg = OmegaConf.create({"paths": OmegaConf.load(CONFIG_DIR / "paths" / "default.yaml")})
    path = Path(str(cfg.paths.vgg_weights))
    return path if path.exists() else None


def identify_vgg(path: Path) -> str | None:
    """Which VGG entry a file is: by file name, else by its state-dict keys (read lazily via mmap)."""
    for name in VGG_NAMES:
        if path.name in KNOWN_WEIGHTS[name].hub_filenames:
            return name
    from adaptive_st.checkpoint import load_file
    from adaptive_st.losses.vgg_layout import build_layout

    try:
        try:
            keys = set(load_file(path, mmap=True))
        except RuntimeError:  # the legacy (non-zip) torch.save format, as the AdaIN VGG files, cannot be mmapped
            keys = set(load_file(path))
    except Exception:  # not a state dict: report it as unrecognised rather than crash the report
        return None
    if "features.0.weight" in keys:
        return "vgg19"
    if "0.weight" in keys:
        conv5 = build_layout("normalised")[2]["relu5_1"]
        return "vgg_normalised" if f"{conv5}.weight" in keys else "vgg_normalised_conv3_1"
    return None


def vgg_search(vgg_path: Path | None) -> dict[str, Path]:
    if vgg_path is None:
        return {}
    if vgg_path.is_dir():
        found = {}
        for name in VGG_NAMES:
            for filename in KNOWN_WEIGHTS[name].hub_filenames:
                if (vgg_path / filename).is_file():
                    found[name] = vgg_path / filename
        return found
    if not vgg_path.exists():
        raise FileNotFoundError(f"--vgg-path {vgg_path}: no such file or folder")
    name = identify_vgg(vgg_path)
    if name is None:
        raise ValueError(f"--vgg-path {vgg_path}: not a recognised VGG weights file (expected torchvision "
                         "`features.*` or AdaIN `0.weight`, … keys)")
    return {name: vgg_path}


def report(args: argparse.Namespace) -> tuple[list[dict[str, object]], list[str]]:
    unknown = [n for n in args.require if n not in KNOWN_WEIGHTS]
    if unknown:
        raise ValueError(f"--require {unknown}: unknown; known weights: {', '.join(KNOWN_WEIGHTS)}")
    search = vgg_search(args.vgg_path if args.vgg_path is not None else configured_vgg_path())
    rows = []
    for status in check_weights(search, args.hub_dir):
        spec = KNOWN_WEIGHTS[status.name]
        hub = [str(hub_checkpoint_path(f, args.hub_dir)) for f in spec.hub_filenames]
        rows.append({"name": status.name, "present": status.present, "optional": status.optional,
                     "path": str(status.path) if status.path else None, "description": spec.description,
                     "config_key": spec.config_key, "expected_at": hub, "how_to_get": spec.how_to_get()})
    missing_required = [r["name"] for r in rows if r["name"] in args.require and not r["present"]]
    return rows, missing_required  # type: ignore[return-value]


def print_table(rows: Sequence[dict[str, object]]) -> None:
    width = max(len(str(r["name"])) for r in rows)
    for r in rows:
        state = "present" if r["present"] else ("missing*" if r["optional"] else "missing")
        print(f"{state:<9} {r['name']!s:<{width}}  {r['description']}")
        pad = " " * 10
        if r["present"]:
            print(f"{pad}path: {r['path']}")
            continue
        where = " or ".join(r["expected_at"]) + ", or " if r["expected_at"] else ""  # type: ignore[arg-type]
        print(f"{pad}expected: {where}the path in `{r['config_key']}`")
        print(f"{pad}get it: {r['how_to_get']}")
    present = sum(bool(r["present"]) for r in rows)
    print(f"{present}/{len(rows)} present (* optional)")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    try:
        rows, missing_required = report(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"adaptive-st weights: error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print_table(rows)
    if missing_required:
        print(f"adaptive-st weights: required but missing: {', '.join(missing_required)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
