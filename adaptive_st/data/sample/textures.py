"""Procedural *style* images: painterly textures, each kind with a characteristic palette.

Styles must differ in the statistics a style-transfer model learns from (stroke shape and direction, colour
palette, edge density, repetition), so each kind mimics a recognisable painting technique: impasto brush
strokes, woodcut waves, mosaic, Van-Gogh-like swirls, pointillism, Mondrian blocks, Kandinsky circles, ink
hatching and cubist shards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from adaptive_st.data.sample.procedural import (
    PALETTES,
    finish,
    jitter,
    palette,
    smooth_noise,
    to_image,
    to_u8,
)

#: Style kinds in generation order, with their signature palette.
STYLE_KINDS: tuple[tuple[str, str], ...] = (
    ("brush_strokes", "sunflower"),
    ("waves", "hokusai"),
    ("mosaic", "byzantine"),
    ("swirls", "starry"),
    ("pointillism", "seurat"),
    ("mondrian", "primary"),
    ("circles", "bauhaus"),
    ("hatching", "ink"),
    ("shards", "autumn"),
)


def paint_texture(rng: np.random.Generator, size: int, kind: str, palette_name: str) -> Image.Image:
    """One ``size`` x ``size`` RGB style image of the given kind and palette (see :data:`STYLE_KINDS`)."""
    return finish(_PAINTERS[kind](rng, 2 * size, palette(palette_name)), size, rng, grain=0.008)


def other_palette(rng: np.random.Generator) -> str:
    return str(rng.choice(sorted(PALETTES)))


def _colour_field(rng: np.random.Generator, w: int, pal: np.ndarray, cells: int = 3) -> np.ndarray:
    """Large soft regions of palette colours (the underpainting)."""
    weights = np.stack([smooth_noise(rng, w, w, cells, 2) for _ in range(len(pal))], axis=-1) ** 4
    weights /= weights.sum(axis=-1, keepdims=True)
    return (weights @ pal).astype(np.float32)


def _flow_strokes(
    rng: np.random.Generator,
    img: Image.Image,
    base: np.ndarray,
    pal: np.ndarray,
    angle: Callable[[float, float], float],
    count: int,
    length: tuple[float, float],
    width: tuple[float, float],
    segments: int = 1,
) -> None:
    """Round-capped strokes following ``angle(x, y)``, coloured from the underpainting mixed with the palette."""
    w = img.size[0]
    draw = ImageDraw.Draw(img)
    for _ in range(count):
        x, y = rng.uniform(0, w), rng.uniform(0, w)
        stroke_w = rng.uniform(*width)
        step = rng.uniform(*length) / segments
        colour = base[min(int(y), w - 1), min(int(x), w - 1)] * 0.55 + pal[rng.integers(len(pal))] * 0.45
        fill = to_u8(jitter(rng, colour, 0.05))
        points = [(x, y)]
        for _ in range(segments):
            a = angle(x, y)
            x, y = x + step * np.cos(a), y + step * np.sin(a)
            points.append((x, y))
        draw.line(points, fill=fill, width=int(stroke_w), joint="curve")
        for px, py in (points[0], points[-1]):
            r = stroke_w / 2
            draw.ellipse([px - r, py - r, px + r, py + r], fill=fill)


def _brush_strokes(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    base = _colour_field(rng, w, pal)
    theta = smooth_noise(rng, w, w, 3, 2) * 2 * np.pi
    img = to_image(base)
    _flow_strokes(
        rng,
        img,
        base,
        pal,
        lambda x, y: float(theta[int(y) % w, int(x) % w]),
        1700,
        (w * 0.04, w * 0.09),
        (w * 0.012, w * 0.026),
    )
    return img


def _waves(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    """Woodcut-like bands: warped sine waves quantised to palette colours with dark contours."""
    yy, xx = np.mgrid[:w, :w].astype(np.float32) / w
    a = rng.uniform(-0.5, 0.5)
    u, v = xx * np.cos(a) - yy * np.sin(a), xx * np.sin(a) + yy * np.cos(a)
    wave = (
        v
        + 0.06 * np.sin(2 * np.pi * u * rng.uniform(2, 5) + 3 * smooth_noise(rng, w, w, 3))
        + 0.03 * np.sin(2 * np.pi * u * rng.uniform(8, 14))
    )
    bands = wave * rng.uniform(10, 18)
    index = np.floor(bands).astype(int) % len(pal)
    frac = bands - np.floor(bands)
    canvas = pal[index] * (0.85 + 0.3 * np.sin(np.pi * frac))[..., None]
    edge = np.clip(1.0 - np.minimum(frac, 1 - frac) / 0.06, 0, 1)
    canvas = canvas * (1 - 0.8 * edge[..., None])
    return to_image(canvas)


def _mosaic(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    """Voronoi tiles (jittered grid seeds, nearest of the 3x3 neighbouring cells) with dark grout."""
    n = int(rng.integers(12, 20))
    cell = w / n
    # Seeds on an (n + 2)^2 grid starting one cell outside the canvas, so border pixels have real neighbours.
    seeds = (np.stack(np.mgrid[: n + 2, : n + 2], -1) - 1 + rng.uniform(0.1, 0.9, (n + 2, n + 2, 2))) * cell
    colours = np.clip(
        pal[rng.integers(len(pal), size=(n + 2, n + 2))] + rng.normal(0, 0.06, (n + 2, n + 2, 3)), 0, 1
    )
    yy, xx = np.mgrid[:w, :w].astype(np.float32)
    ci, cj = (yy // cell).astype(int) + 1, (xx // cell).astype(int) + 1
    best = np.full((w, w), np.inf, dtype=np.float32)
    second = best.copy()
    owner = np.zeros((w, w, 2), dtype=int)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            i, j = np.clip(ci + di, 0, n + 1), np.clip(cj + dj, 0, n + 1)
            d = np.sqrt((seeds[i, j, 0] - yy) ** 2 + (seeds[i, j, 1] - xx) ** 2)
            closer = d < best
            second = np.where(closer, best, np.minimum(second, d))
            owner = np.where(closer[..., None], np.stack([i, j], -1), owner)
            best = np.where(closer, d, best)
    canvas = colours[owner[..., 0], owner[..., 1]] * (1.05 - 0.3 * (best / cell))[..., None]
    grout = np.clip(1.0 - (second - best - cell * 0.05) / 2.0, 0, 1)
    canvas = canvas * (1 - grout[..., None]) + pal.min(axis=0) * 0.4 * grout[..., None]
    return to_image(canvas)


def _swirls(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    """Starry-night-like: vortices of curved strokes over a banded sky, with glowing haloed orbs."""
    centres = [
        (rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.7) * w, rng.uniform(0.12, 0.25) * w)
        for _ in range(3)
    ]
    yy, xx = np.mgrid[:w, :w].astype(np.float32)
    phase = yy / w * 6
    for cx, cy, r in centres:
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        phase += np.exp(-((d / r) ** 2)) * (d / r * 8)
    dark = pal[np.argsort(pal.sum(axis=1))]
    band = (np.sin(phase) * 0.5 + 0.5) * (len(dark) - 3)
    lo = np.floor(band).astype(int)
    canvas = dark[lo] * (1 - (band - lo))[..., None] + dark[lo + 1] * (band - lo)[..., None]

    def angle(x: float, y: float) -> float:
        vx, vy = 1.0, 0.15 * np.sin(x / w * 8)
        for cx, cy, r in centres:
            dx, dy = x - cx, y - cy
            k = np.exp(-((dx * dx + dy * dy) / (r * r * 1.5))) * 4
            vx, vy = vx - dy / r * k, vy + dx / r * k
        return float(np.arctan2(vy, vx))

    img = to_image(canvas)
    _flow_strokes(
        rng, img, canvas, pal, angle, 1400, (w * 0.04, w * 0.08), (w * 0.008, w * 0.016), segments=3
    )
    draw = ImageDraw.Draw(img, "RGBA")
    bright = pal[np.argsort(pal.sum(axis=1))][-2:]
    for _ in range(int(rng.integers(4, 9))):
        ox, oy, r = rng.uniform(0, w), rng.uniform(0, w * 0.6), w * rng.uniform(0.015, 0.04)
        for k in range(5, 0, -1):
            rr = r * (1 + k * 0.6)
            draw.ellipse([ox - rr, oy - rr, ox + rr, oy + rr], fill=to_u8(bright[k % 2], alpha=0.18))
        draw.ellipse([ox - r, oy - r, ox + r, oy + r], fill=to_u8(bright[-1]))
    return img


def _pointillism(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    base = _colour_field(rng, w, pal, cells=2)
    img = to_image(base * 0.7 + 0.3)
    draw = ImageDraw.Draw(img)
    n = 9000
    xs, ys = rng.uniform(0, w, n), rng.uniform(0, w, n)
    radii = rng.uniform(w * 0.005, w * 0.01, n)
    pick = rng.integers(len(pal), size=n)
    mix = rng.random(n) < 0.35
    for x, y, r, p, m in zip(xs, ys, radii, pick, mix):
        colour = pal[p] if m else base[int(y), int(x)]
        draw.ellipse([x - r, y - r, x + r, y + r], fill=to_u8(jitter(rng, colour, 0.04)))
    return img


def _mondrian(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    img = Image.new("RGB", (w, w))
    draw = ImageDraw.Draw(img)
    light = pal[np.argmax(pal.sum(axis=1))]
    ink = pal[np.argmin(pal.sum(axis=1))]
    accents = [c for c in pal if not (np.allclose(c, light) or np.allclose(c, ink))]
    line = w * rng.uniform(0.012, 0.022)

    def split(x0: float, y0: float, x1: float, y1: float, depth: int) -> None:
        big = max(x1 - x0, y1 - y0) > w * 0.12
        if depth > 0 and big and rng.random() < 0.92:
            if (x1 - x0) > (y1 - y0) * rng.uniform(0.7, 1.4):
                xm = x0 + (x1 - x0) * rng.uniform(0.3, 0.7)
                split(x0, y0, xm, y1, depth - 1)
                split(xm, y0, x1, y1, depth - 1)
            else:
                ym = y0 + (y1 - y0) * rng.uniform(0.3, 0.7)
                split(x0, y0, x1, ym, depth - 1)
                split(x0, ym, x1, y1, depth - 1)
            return
        colour = accents[rng.integers(len(accents))] if rng.random() < 0.35 else light
        draw.rectangle(
            [x0, y0, x1, y1], fill=to_u8(jitter(rng, colour, 0.02)), outline=to_u8(ink), width=int(line)
        )

    split(0, 0, w - 1, w - 1, 6)
    canvas = np.asarray(img, dtype=np.float32) / 255.0
    return to_image(canvas * (0.94 + 0.08 * smooth_noise(rng, w, w, 40))[..., None])


def _circles(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    """Kandinsky-like grid of squares, each holding off-centre concentric rings."""
    n = int(rng.integers(3, 5))
    cell = w / n
    img = Image.new("RGB", (w, w))
    draw = ImageDraw.Draw(img)
    for i in range(n):
        for j in range(n):
            x0, y0 = j * cell, i * cell
            draw.rectangle(
                [x0, y0, x0 + cell, y0 + cell], fill=to_u8(jitter(rng, pal[rng.integers(len(pal))], 0.03))
            )
            cx, cy = x0 + cell * rng.uniform(0.4, 0.6), y0 + cell * rng.uniform(0.4, 0.6)
            rings = int(rng.integers(3, 6))
            for k in range(rings):
                r = cell * 0.42 * (1 - k / rings) * rng.uniform(0.9, 1.0)
                draw.ellipse(
                    [cx - r, cy - r, cx + r, cy + r],
                    fill=to_u8(jitter(rng, pal[rng.integers(len(pal))], 0.04)),
                )
    canvas = np.asarray(img, dtype=np.float32) / 255.0
    wash = 0.88 + 0.2 * smooth_noise(rng, w, w, 12, 3)
    return to_image(canvas * wash[..., None])


def _hatching(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    """Ink drawing: cross-hatching whose density follows a tonal sketch of blobs, plus contour lines."""
    order = np.argsort(pal.sum(axis=1))
    paper, ink = pal[order[-1]], pal[order[0]]
    yy, xx = np.mgrid[:w, :w].astype(np.float32)
    tone = smooth_noise(rng, w, w, 3, 3)
    for _ in range(int(rng.integers(2, 5))):
        cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * w, rng.uniform(0.1, 0.22) * w
        d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2) / r
        tone = np.where(d < 1, np.clip(0.35 + 0.6 * (xx - cx + yy - cy) / (2 * r), 0, 1), tone)
    wobble = smooth_noise(rng, w, w, 16) * 0.8
    ink_amount = np.zeros((w, w), dtype=np.float32)
    spacing = w * rng.uniform(0.012, 0.018)
    for k, a in enumerate(rng.uniform(0, np.pi) + np.array([0, np.pi / 2, np.pi / 4, -np.pi / 4])):
        coord = (xx * np.cos(a) + yy * np.sin(a)) / spacing + wobble
        lines = np.clip(1.0 - np.abs(coord - np.round(coord)) / 0.18, 0, 1)
        ink_amount = np.maximum(ink_amount, lines * (tone > 0.3 + 0.17 * k))
    contour = np.clip(1.0 - np.abs(np.sin(tone * np.pi * 6)) / 0.08, 0, 1)
    ink_amount = np.maximum(ink_amount, contour * 0.8)
    paper_field = paper * (0.95 + 0.06 * smooth_noise(rng, w, w, 60))[..., None]
    return to_image(paper_field * (1 - ink_amount[..., None]) + ink * ink_amount[..., None])


def _shards(rng: np.random.Generator, w: int, pal: np.ndarray) -> Image.Image:
    """Cubist-like overlapping translucent facets with dark outlines."""
    img = to_image(_colour_field(rng, w, pal, cells=2))
    draw = ImageDraw.Draw(img, "RGBA")
    ink = pal[np.argmin(pal.sum(axis=1))]
    for _ in range(70):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, w), w * rng.uniform(0.05, 0.2)
        k = int(rng.integers(3, 6))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        points = [
            (cx + r * rng.uniform(0.5, 1) * np.cos(t), cy + r * rng.uniform(0.5, 1) * np.sin(t))
            for t in angles
        ]
        draw.polygon(points, fill=to_u8(pal[rng.integers(len(pal))], alpha=rng.uniform(0.45, 0.85)))
        draw.line([*points, points[0]], fill=to_u8(ink, alpha=0.8), width=max(1, int(w * 0.004)))
    return img


_PAINTERS: dict[str, Callable[[np.random.Generator, int, np.ndarray], Image.Image]] = {
    "brush_strokes": _brush_strokes,
    "waves": _waves,
    "mosaic": _mosaic,
    "swirls": _swirls,
    "pointillism": _pointillism,
    "mondrian": _mondrian,
    "circles": _circles,
    "hatching": _hatching,
    "shards": _shards,
}
