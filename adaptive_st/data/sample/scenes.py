"""Procedural *content* images: structured scenes (skies, mountains, villages, cities, still lifes, coasts).

Content images must look like photographs of things (edges, objects, perspective, lighting) rather than
texture, so a style-transfer model trained on them learns to preserve structure. Everything is drawn at 2x
resolution with numpy and ``PIL.ImageDraw`` and downsampled, which anti-aliases the shapes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from adaptive_st.data.sample.procedural import (
    blend_mask,
    disc_mask,
    finish,
    hex_rgb,
    jitter,
    noise1d,
    smooth_noise,
    to_array,
    to_image,
    to_u8,
)

SCENE_KINDS: tuple[str, ...] = ("landscape", "village", "city", "still_life", "seaside")

_SKIES = {
    "day": (("#2f6fc4", "#a9d6f5"), ("#1e5fb0", "#d2e9f7"), ("#4a86d8", "#e3eff5")),
    "sunset": (("#2b2d6e", "#f59e4c"), ("#45206b", "#ff7b54"), ("#1f3a68", "#ffc371")),
    "night": (("#03061a", "#1b2a5a"), ("#050b24", "#2c3e70")),
}
_WALLS = ("#e9d8a6", "#f4f1de", "#e07a5f", "#d4a373", "#a8dadc", "#f2cc8f", "#cdb4db")
_ROOFS = ("#9b2226", "#6d4c41", "#3d405b", "#bb3e03", "#5c677d")
_LIT = np.array([1.0, 0.84, 0.45], dtype=np.float32)


def paint_scene(rng: np.random.Generator, size: int, kind: str) -> Image.Image:
    """One ``size`` x ``size`` RGB scene of the given kind (see :data:`SCENE_KINDS`)."""
    return finish(_PAINTERS[kind](rng, 2 * size), size, rng)


# --------------------------------------------------------------------------------------------------- sky


def _time_of_day(rng: np.random.Generator, night: float = 0.2) -> str:
    return str(rng.choice(["day", "sunset", "night"], p=[0.8 - night, 0.2, night]))


def _sky(rng: np.random.Generator, w: int, horizon: float, time: str) -> tuple[np.ndarray, np.ndarray]:
    """Canvas filled with a sky gradient reaching its horizon colour at ``horizon``; returns (canvas, horizon colour)."""
    options = _SKIES[time]
    top, bottom = (jitter(rng, hex_rgb(c), 0.03) for c in options[rng.integers(len(options))])
    t = np.clip(np.arange(w, dtype=np.float32) / horizon, 0.0, 1.0) ** 0.8
    column = top * (1 - t[:, None]) + bottom * t[:, None]
    return np.repeat(column[:, None, :], w, axis=1), bottom


def _sun(rng: np.random.Generator, canvas: np.ndarray, horizon: float, time: str) -> tuple[float, float]:
    """Sun or moon with a glow (plus stars at night); returns its centre for reflections."""
    h, w = canvas.shape[:2]
    r = w * rng.uniform(0.03, 0.055)
    cx = w * rng.uniform(0.15, 0.85)
    cy = horizon * (rng.uniform(0.6, 0.85) if time == "sunset" else rng.uniform(0.15, 0.5))
    glow_colour = {"day": (1.0, 1.0, 0.9), "sunset": (1.0, 0.72, 0.38), "night": (0.6, 0.7, 0.95)}[time]
    strength = {"day": 0.35, "sunset": 0.65, "night": 0.18}[time]
    yy, xx = np.ogrid[:h, :w]
    glow = strength * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (r * 5) ** 2)).astype(np.float32)
    blend_mask(canvas, glow, np.array(glow_colour, dtype=np.float32))
    disc = {"day": (1.0, 0.98, 0.86), "sunset": (1.0, 0.86, 0.5), "night": (0.93, 0.93, 0.85)}[time]
    blend_mask(canvas, disc_mask(h, w, cx, cy, r), np.array(disc, dtype=np.float32))
    if time == "night":
        for _ in range(4):  # craters
            a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.6) * r
            blend_mask(canvas, 0.18 * disc_mask(h, w, cx + d * np.cos(a), cy + d * np.sin(a), r * 0.22), 0.5)
        n = 220
        sx, sy = rng.integers(0, w - 2, n), (rng.random(n) ** 1.5 * horizon * 0.95).astype(int)
        bright = rng.uniform(0.5, 1.0, n).astype(np.float32)[:, None]
        for dy in (0, 1):
            for dx in (0, 1):
                canvas[sy + dy, sx + dx] = np.maximum(canvas[sy + dy, sx + dx], bright)
    return cx, cy


def _clouds(rng: np.random.Generator, canvas: np.ndarray, horizon: float, time: str) -> None:
    if time == "night":
        return
    h, w = canvas.shape[:2]
    body, top = Image.new("L", (w, h)), Image.new("L", (w, h))
    draw_body, draw_top = ImageDraw.Draw(body), ImageDraw.Draw(top)
    for _ in range(rng.integers(2, 6)):
        cx, cy, cw = w * rng.uniform(0, 1), horizon * rng.uniform(0.1, 0.65), w * rng.uniform(0.12, 0.3)
        for _ in range(rng.integers(6, 11)):
            ex, ey = cx + rng.normal(0, cw * 0.3), cy + rng.normal(0, cw * 0.05)
            rx = cw * rng.uniform(0.12, 0.25)
            ry = rx * rng.uniform(0.5, 0.8)
            draw_body.ellipse([ex - rx, ey - ry, ex + rx, ey + ry], fill=255)
            draw_top.ellipse([ex - rx, ey - 1.4 * ry, ex + rx, ey + 0.2 * ry], fill=255)
    blur = ImageFilter.GaussianBlur(w * 0.006)
    m = np.asarray(body.filter(blur), dtype=np.float32) / 255.0
    lit = np.asarray(top.filter(ImageFilter.GaussianBlur(w * 0.012)), dtype=np.float32)[..., None] / 255.0
    white = np.array((1.0, 0.98, 0.96) if time == "day" else (1.0, 0.78, 0.72), dtype=np.float32)
    shade = white * np.array((0.72, 0.74, 0.82) if time == "day" else (0.62, 0.5, 0.62), dtype=np.float32)
    colour = shade * (1 - lit) + white * lit
    blend_mask(canvas, m * 0.92, colour)


# ------------------------------------------------------------------------------------------- terrain


def _mountains(
    rng: np.random.Generator, canvas: np.ndarray, horizon: float, haze: np.ndarray, layers: int, light: float
) -> None:
    """Layered ridges, hazier with distance (aerial perspective), slope-lit from the sun side, snow on far peaks."""
    h, w = canvas.shape[:2]
    rock = jitter(rng, hex_rgb(str(rng.choice(["#4a5a70", "#5a4a40", "#3d5a40", "#5b5570"]))), 0.04)
    yy = np.arange(h, dtype=np.float32)[:, None]
    for layer in range(layers):
        depth = (layer + 1) / layers
        amp = h * rng.uniform(0.2, 0.32) * (1.0 - 0.55 * depth)
        # Far layers: ridged noise (sharp peaks); the nearest layer: rolling hills.
        profile = 1.0 - np.abs(2 * noise1d(rng, w, 3, 5) - 1) if depth < 1.0 else noise1d(rng, w, 2, 3)
        ridge = (horizon - amp * (0.25 + 0.75 * profile))[None, :]
        colour = (rock * (0.45 + 0.55 * (1 - depth))) * (1 - 0.6 * (1 - depth)) + haze * 0.6 * (1 - depth)
        slope = np.gradient(ridge[0]) * light
        below = np.clip((yy - ridge) / (amp * 0.6), 0, None)
        shade = 1.0 + (0.25 * np.tanh(slope * 3.0))[None, :] * np.exp(-below) - 0.1 * np.minimum(below, 1.5)
        field = colour * shade[..., None]
        if depth <= 0.5 and rng.random() < 0.75:
            snow_depth = amp * (0.12 + 0.2 * noise1d(rng, w, 8, 2))[None, :]
            snow = (yy < ridge + snow_depth) & (ridge < horizon - amp * 0.55)
            snow_colour = np.array((0.93, 0.95, 1.0), dtype=np.float32) * np.clip(shade, 0.75, 1.1)[..., None]
            field = np.where(snow[..., None], snow_colour, field)
        blend_mask(canvas, np.clip(yy - ridge + 0.5, 0.0, 1.0), field)


def _ground(
    rng: np.random.Generator, canvas: np.ndarray, top: float, near: str, far: str, fields: bool = False
) -> None:
    """Textured ground from ``top`` down, optionally as patchwork fields separated by curved furrows."""
    h, w = canvas.shape[:2]
    y0 = int(top)
    t = np.linspace(0.0, 1.0, h - y0, dtype=np.float32)[:, None, None]
    field = jitter(rng, hex_rgb(far), 0.03) * (1 - t) + jitter(rng, hex_rgb(near), 0.03) * t
    texture = smooth_noise(rng, h - y0, w, 24, 2)[..., None]
    field = field * (0.88 + 0.24 * texture)
    if fields:
        yy = np.arange(h - y0, dtype=np.float32)[:, None]
        band = (
            np.clip((yy + 25 * np.sin(np.arange(w) / w * 6.0 + rng.uniform(0, 6))) / (h - y0) * 7.0, 0, None)
            ** 1.3
        )
        tint = np.stack([jitter(rng, np.array((1.0, 1.0, 1.0), dtype=np.float32), 0.12) for _ in range(16)])
        field = field * tint[np.floor(band).astype(int) % 16]
    canvas[y0:] = field


def _water(rng: np.random.Generator, canvas: np.ndarray, top: float, tint: np.ndarray) -> None:
    """Mirror what is above ``top`` with ripples, tinted and darkening towards the viewer."""
    h, w = canvas.shape[:2]
    y0 = int(top)
    ys = np.arange(y0, h)
    t = ((ys - y0) / max(h - y0, 1)).astype(np.float32)
    noise = smooth_noise(rng, h - y0, w, 16, 2) - 0.5
    dx = (w * 0.004 + w * 0.03 * t[:, None]) * (np.sin(ys[:, None] * 0.35 + noise * 9.0))
    src_y = np.clip(2 * y0 - ys - 1, 0, h - 1)[:, None]
    src_x = np.clip(np.arange(w)[None, :] + dx, 0, w - 1).astype(int)
    mirrored = canvas[src_y, src_x]
    water = mirrored * 0.7 + tint * 0.3
    water *= (1.0 - 0.35 * t)[:, None, None]
    streak = (np.sin(ys[:, None] * 1.3 + noise * 14.0) > 0.93).astype(np.float32)
    water += 0.07 * streak[..., None]
    canvas[y0:] = water


def _pine(draw: ImageDraw.ImageDraw, x: float, base: float, height: float, colour: np.ndarray) -> None:
    trunk_w = height * 0.05
    draw.rectangle([x - trunk_w, base - height * 0.18, x + trunk_w, base], fill=to_u8(hex_rgb("#4b3621")))
    tiers = 4
    for k in range(tiers):
        tier_base = base - height * (0.12 + 0.2 * k)
        half = height * 0.28 * (1 - k / (tiers + 1))
        shade = colour * (0.8 + 0.1 * k)
        draw.polygon(
            [(x - half, tier_base), (x + half, tier_base), (x, tier_base - height * 0.38)], fill=to_u8(shade)
        )
        draw.polygon(
            [(x, tier_base), (x + half, tier_base), (x, tier_base - height * 0.38)], fill=to_u8(shade * 0.8)
        )


def _round_tree(
    draw: ImageDraw.ImageDraw,
    rng: np.random.Generator,
    x: float,
    base: float,
    height: float,
    colour: np.ndarray,
) -> None:
    trunk_w = height * 0.06
    draw.rectangle([x - trunk_w, base - height * 0.5, x + trunk_w, base], fill=to_u8(hex_rgb("#5b3a1e")))
    cy, r = base - height * 0.68, height * 0.3
    for _ in range(6):
        ox, oy, rr = rng.normal(0, r * 0.35), rng.normal(0, r * 0.25), r * rng.uniform(0.55, 0.8)
        draw.ellipse([x + ox - rr, cy + oy - rr, x + ox + rr, cy + oy + rr], fill=to_u8(colour * 0.75))
    for _ in range(3):
        ox, oy, rr = (
            rng.normal(-r * 0.25, r * 0.2),
            rng.normal(-r * 0.25, r * 0.15),
            r * rng.uniform(0.3, 0.45),
        )
        draw.ellipse([x + ox - rr, cy + oy - rr, x + ox + rr, cy + oy + rr], fill=to_u8(colour * 1.05))


def _house(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, x: float, base: float, width: float, night: bool
) -> None:
    """Gabled house in 2.5D: front wall with door and windows, darker side wall and roof slope."""
    hgt, depth = width * rng.uniform(0.55, 0.8), width * 0.35
    wall = jitter(rng, hex_rgb(str(rng.choice(_WALLS))), 0.03)
    roof = jitter(rng, hex_rgb(str(rng.choice(_ROOFS))), 0.03)
    top, ov, roof_h = base - hgt, width * 0.06, width * rng.uniform(0.3, 0.45)
    lift = depth * 0.4
    draw.polygon(
        [
            (x + width, base),
            (x + width + depth, base - lift),
            (x + width + depth, top - lift),
            (x + width, top),
        ],
        fill=to_u8(wall * 0.7),
    )
    draw.rectangle([x, top, x + width, base], fill=to_u8(wall))
    apex = (x + width / 2, top - roof_h)
    draw.polygon(
        [
            apex,
            (x + width + ov, top + 2),
            (x + width + ov + depth, top + 2 - lift),
            (apex[0] + depth, apex[1] - lift),
        ],
        fill=to_u8(roof * 0.8),
    )
    draw.polygon([(x - ov, top + 2), (x + width + ov, top + 2), apex], fill=to_u8(roof))
    draw.polygon([(x + width * 0.2, top), (x + width * 0.8, top), apex], fill=to_u8(wall * 0.92))
    door_w = width * 0.16
    draw.rectangle(
        [x + width / 2 - door_w / 2, base - hgt * 0.45, x + width / 2 + door_w / 2, base], fill=(70, 45, 30)
    )
    glass = _LIT if night else np.array((0.62, 0.75, 0.88), dtype=np.float32)
    win = width * 0.16
    for wx in (x + width * 0.12, x + width * 0.72):
        lit = glass if (not night or rng.random() < 0.7) else np.array((0.15, 0.15, 0.2), dtype=np.float32)
        wy = top + hgt * 0.25
        draw.rectangle(
            [wx, wy, wx + win, wy + win],
            fill=to_u8(lit),
            outline=(245, 240, 230),
            width=max(1, int(win * 0.1)),
        )
        draw.line(
            [(wx + win / 2, wy), (wx + win / 2, wy + win)],
            fill=(245, 240, 230),
            width=max(1, int(win * 0.07)),
        )


# -------------------------------------------------------------------------------------------- scenes


def _landscape(rng: np.random.Generator, w: int) -> Image.Image:
    time = _time_of_day(rng, night=0.15)
    horizon = w * rng.uniform(0.5, 0.65)
    canvas, haze = _sky(rng, w, horizon, time)
    sx, _ = _sun(rng, canvas, horizon, time)
    _clouds(rng, canvas, horizon, time)
    light = 1.0 if sx < w / 2 else -1.0
    _mountains(rng, canvas, horizon, haze, int(rng.integers(2, 5)), light)
    lake = rng.random() < 0.6
    if lake:
        _water(rng, canvas, horizon, np.array((0.1, 0.25, 0.4), dtype=np.float32))
    else:
        _ground(rng, canvas, horizon, "#2f5d2f", "#7a9a4a")
    if time == "night":
        canvas *= 0.75
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    green = jitter(rng, hex_rgb("#24502e"), 0.03) * (0.6 if time == "night" else 1.0)
    shore = horizon if lake else horizon + w * 0.02
    trees = sorted(rng.uniform(0, w, int(rng.integers(4, 12))))
    for x in trees:
        base = shore + (0 if lake else rng.uniform(0, w * 0.25))
        _pine(draw, x, base, w * rng.uniform(0.06, 0.14) * (1 + (base - horizon) / w * 3), green)
    return img


def _village(rng: np.random.Generator, w: int) -> Image.Image:
    time = _time_of_day(rng, night=0.25)
    horizon = w * rng.uniform(0.42, 0.52)
    canvas, haze = _sky(rng, w, horizon, time)
    _sun(rng, canvas, horizon, time)
    _clouds(rng, canvas, horizon, time)
    _mountains(rng, canvas, horizon, haze, 1, 1.0)
    _ground(rng, canvas, horizon, "#3f6b2a", "#9bb15a", fields=True)
    if time == "night":
        canvas *= 0.55
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    vx = w * rng.uniform(0.35, 0.65)
    half_bottom = w * rng.uniform(0.18, 0.3)
    road = [
        (vx - w * 0.01, horizon),
        (vx + w * 0.01, horizon),
        (w / 2 + half_bottom, w),
        (w / 2 - half_bottom, w),
    ]
    draw.polygon(road, fill=to_u8(np.array((0.35, 0.34, 0.33)) * (0.6 if time == "night" else 1.0)))
    for k in range(12):  # dashed centre line, perspective-spaced
        t0, t1 = (k / 12) ** 2, ((k + 0.5) / 12) ** 2
        p0 = (vx + (w / 2 - vx) * t0, horizon + (w - horizon) * t0)
        p1 = (vx + (w / 2 - vx) * t1, horizon + (w - horizon) * t1)
        draw.line([p0, p1], fill=(235, 225, 180), width=max(1, int(w * 0.012 * (t0 + 0.1))))
    objects = []
    for _ in range(int(rng.integers(4, 8))):
        t = rng.uniform(0.08, 0.75)
        base = horizon + (w - horizon) * t
        road_x = vx + (w / 2 - vx) * t
        road_half = w * 0.01 + (half_bottom - w * 0.01) * t
        objects.append((base, t, road_x, road_half, rng.random() < 0.5, rng.random() < 0.6))
    green = jitter(rng, hex_rgb("#3a6b35"), 0.04) * (0.6 if time == "night" else 1.0)
    for base, t, road_x, road_half, left, is_house in sorted(objects):
        width = w * 0.45 * t + w * 0.03
        gap = w * 0.04 * t
        x = (
            road_x - road_half - gap - width * (1.4 if is_house else 0.4)
            if left
            else road_x + road_half + gap
        )
        if is_house:
            _house(draw, rng, x, base, width, time == "night")
        else:
            _round_tree(draw, rng, x + width * 0.3, base, width * 1.4, green)
    return img


def _city(rng: np.random.Generator, w: int) -> Image.Image:
    time = _time_of_day(rng, night=0.4)
    horizon = w * rng.uniform(0.6, 0.72)
    canvas, haze = _sky(rng, w, horizon, time)
    _sun(rng, canvas, horizon, time)
    _clouds(rng, canvas, horizon, time)
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    night = time == "night"
    for row, (lo, hi) in enumerate(((0.25, 0.45), (0.12, 0.38))):
        x = -w * 0.02
        while x < w:
            bw = w * rng.uniform(0.06, 0.15)
            top = horizon - w * rng.uniform(lo, hi)
            grey = jitter(
                rng, hex_rgb(str(rng.choice(["#6c757d", "#8d6e63", "#4f6d7a", "#a3a3a3", "#5e548e"]))), 0.04
            )
            colour = grey * (0.45 if night else 1.0)
            colour = colour * (1 - 0.5 * (1 - row)) + haze * 0.5 * (1 - row)
            draw.rectangle([x, top, x + bw, horizon], fill=to_u8(colour))
            draw.rectangle([x + bw * 0.82, top, x + bw, horizon], fill=to_u8(colour * 0.75))
            if rng.random() < 0.35:  # setback tower or antenna
                tw = bw * 0.5
                draw.rectangle(
                    [x + bw * 0.2, top - tw * 0.8, x + bw * 0.2 + tw, top], fill=to_u8(colour * 0.95)
                )
                draw.line(
                    [(x + bw * 0.45, top - tw * 0.8), (x + bw * 0.45, top - tw * 1.8)],
                    fill=to_u8(colour * 0.6),
                    width=2,
                )
            if row == 1:
                cell = w * rng.uniform(0.018, 0.026)
                p_lit = 0.45 if night else 1.0
                for wy in np.arange(top + cell, horizon - cell, cell * 1.5):
                    for wx in np.arange(x + cell * 0.5, x + bw * 0.78 - cell * 0.6, cell * 1.2):
                        if rng.random() < p_lit:
                            glass = (
                                _LIT * rng.uniform(0.8, 1.0)
                                if night
                                else jitter(rng, np.array((0.55, 0.68, 0.8)), 0.05)
                            )
                            draw.rectangle([wx, wy, wx + cell * 0.6, wy + cell * 0.8], fill=to_u8(glass))
            x += bw + w * rng.uniform(0.0, 0.02)
    canvas = to_array(img)
    if rng.random() < 0.6:
        _water(rng, canvas, horizon, np.array((0.05, 0.12, 0.25), dtype=np.float32))
        return to_image(canvas)
    canvas[int(horizon) :] = np.array((0.22, 0.22, 0.24), dtype=np.float32) * (0.6 if night else 1.0)
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, horizon, w, horizon + w * 0.03], fill=(150, 150, 145))  # sidewalk
    for lx in np.arange(rng.uniform(0, w * 0.2), w, w * 0.25):  # street lamps
        draw.line(
            [(lx, horizon + w * 0.03), (lx, horizon - w * 0.12)], fill=(40, 40, 45), width=max(2, w // 180)
        )
        lamp = (255, 220, 140) if night else (220, 220, 210)
        draw.ellipse([lx - w * 0.012, horizon - w * 0.135, lx + w * 0.012, horizon - w * 0.11], fill=lamp)
    for k in range(6):
        y = horizon + w * 0.06 + (w - horizon) * k / 6
        draw.line(
            [(w * 0.5 - w * 0.03, y), (w * 0.5 + w * 0.03, y)], fill=(230, 230, 230), width=max(2, w // 120)
        )
    return img


def _still_life(rng: np.random.Generator, w: int) -> Image.Image:
    """Lambert/Phong-shaded spheres, cubes and cylinders on a wooden table with cast shadows."""
    table_y = w * rng.uniform(0.55, 0.68)
    wall = jitter(
        rng, hex_rgb(str(rng.choice(["#7a6a53", "#2f4858", "#6d2e46", "#4a5e4a", "#8c7b6b"]))), 0.03
    )
    yy, xx = np.mgrid[:w, :w].astype(np.float32)
    vignette = 1.0 - 0.45 * (((xx - w / 2) ** 2 + (yy - w * 0.3) ** 2) / (w * 0.8) ** 2)
    plaster = 0.92 + 0.12 * smooth_noise(rng, w, w, 30, 2)
    canvas = wall * (vignette * plaster)[..., None]
    # A framed picture or a window on the wall gives the background straight edges and a second depth cue.
    fx0, fy0 = w * rng.uniform(0.1, 0.55), w * rng.uniform(0.08, 0.2)
    fx1, fy1 = fx0 + w * rng.uniform(0.2, 0.35), min(fy0 + w * rng.uniform(0.2, 0.3), table_y - w * 0.05)
    frame = int(w * 0.015)
    inner = jitter(rng, hex_rgb(str(rng.choice(["#a9d6f5", "#e9c46a", "#8ab17d", "#f4a261"]))), 0.05)
    fy, fx = slice(int(fy0), int(fy1)), slice(int(fx0), int(fx1))
    canvas[fy, fx] = np.array((0.25, 0.18, 0.12), dtype=np.float32)
    canvas[int(fy0) + frame : int(fy1) - frame, int(fx0) + frame : int(fx1) - frame] = (
        inner
        * (
            0.8 + 0.3 * smooth_noise(rng, int(fy1) - int(fy0) - 2 * frame, int(fx1) - int(fx0) - 2 * frame, 3)
        )[..., None]
    )
    wood = jitter(rng, hex_rgb(str(rng.choice(["#8b5a2b", "#a0522d", "#6f4e37", "#c19a6b"]))), 0.03)
    grain = 0.85 + 0.15 * np.sin(xx / w * 40 + 6 * smooth_noise(rng, w, w, 6, 2) + yy / w * 3)
    depth = np.clip((yy - table_y) / (w - table_y), 0, 1)
    table = wood[None, None, :] * (grain * (0.75 + 0.35 * depth))[..., None]
    canvas = np.where((yy >= table_y)[..., None], table, canvas).astype(np.float32)
    canvas[int(table_y) : int(table_y) + max(2, w // 160)] *= 1.25  # table edge highlight
    light = np.array([rng.uniform(-0.7, 0.7), -0.6, 0.6], dtype=np.float32)
    light /= np.linalg.norm(light)
    n_obj = int(rng.integers(3, 6))
    objects = sorted(
        (
            table_y + (w - table_y) * rng.uniform(0.1, 0.7),
            w * rng.uniform(0.12, 0.88),
            str(rng.choice(["sphere", "cube", "cylinder"])),
        )
        for _ in range(n_obj)
    )
    for base, cx, shape in objects:
        r = w * rng.uniform(0.07, 0.13) * (0.75 + 0.6 * (base - table_y) / (w - table_y))
        colour = jitter(
            rng,
            hex_rgb(
                str(rng.choice(["#d62828", "#f77f00", "#fcbf49", "#2a9d8f", "#457b9d", "#e9ecef", "#6a4c93"]))
            ),
            0.04,
        )
        shadow = np.exp(
            -(((xx - cx + light[0] * r * 1.2) / (r * 1.4)) ** 2 + ((yy - base) / (r * 0.35)) ** 2)
        )
        canvas *= (1.0 - 0.55 * shadow)[..., None]
        if shape == "sphere":
            cy = base - r
            dx, dy = (xx - cx) / r, (yy - cy) / r
            inside = np.clip((1.0 - np.sqrt(dx**2 + dy**2)) * r + 0.5, 0, 1)
            nz = np.sqrt(np.clip(1 - dx**2 - dy**2, 0, 1))
            diffuse = np.clip(dx * light[0] + dy * light[1] + nz * light[2], 0, 1)
            half = light + np.array([0, 0, 1], dtype=np.float32)
            half /= np.linalg.norm(half)
            spec = np.clip(dx * half[0] + dy * half[1] + nz * half[2], 0, 1) ** 40
            shaded = colour * (0.2 + 0.8 * diffuse)[..., None] + 0.7 * spec[..., None]
            blend_mask(canvas, inside, shaded)
        elif shape == "cylinder":
            hgt = r * rng.uniform(1.5, 2.6)
            u = np.clip((xx - cx) / r, -1, 1)
            diffuse = np.clip(u * light[0] + np.sqrt(1 - u**2) * light[2], 0, 1)
            body = ((np.abs(xx - cx) <= r) & (yy <= base) & (yy >= base - hgt)) | (
                ((xx - cx) / r) ** 2 + ((yy - base) / (r * 0.3)) ** 2 <= 1
            )
            blend_mask(canvas, body.astype(np.float32), colour * (0.25 + 0.75 * diffuse)[..., None])
            cap = ((xx - cx) / r) ** 2 + ((yy - base + hgt) / (r * 0.3)) ** 2 <= 1
            blend_mask(canvas, cap.astype(np.float32), np.clip(colour * (0.5 + 0.6 * -light[1]), 0, 1))
        else:
            img = to_image(canvas)
            draw = ImageDraw.Draw(img)
            s, d = r * 1.5, r * 0.55
            side = 1.0 if light[0] < 0 else -1.0  # show the shaded side face
            x0 = cx - s / 2
            front = [(x0, base), (x0 + s, base), (x0 + s, base - s), (x0, base - s)]
            edge = x0 + s if side > 0 else x0
            top = [
                (x0, base - s),
                (x0 + s, base - s),
                (x0 + s + side * d, base - s - d),
                (x0 + side * d, base - s - d),
            ]
            side_face = [
                (edge, base),
                (edge + side * d, base - d),
                (edge + side * d, base - s - d),
                (edge, base - s),
            ]
            lit = float(np.clip(light[2] * 0.9 + 0.2, 0, 1))
            draw.polygon(front, fill=to_u8(colour * (0.3 + 0.7 * lit)))
            draw.polygon(top, fill=to_u8(np.clip(colour * (0.5 + 0.7 * -light[1]), 0, 1)))
            draw.polygon(side_face, fill=to_u8(colour * 0.3))
            canvas = to_array(img)
    return to_image(canvas)


def _seaside(rng: np.random.Generator, w: int) -> Image.Image:
    time = _time_of_day(rng, night=0.1)
    horizon = w * rng.uniform(0.4, 0.55)
    canvas, haze = _sky(rng, w, horizon, time)
    sx, _ = _sun(rng, canvas, horizon, time)
    _clouds(rng, canvas, horizon, time)
    h = w
    yy = np.arange(h, dtype=np.float32)[:, None]
    xs = np.arange(w)
    if rng.random() < 0.7:  # headland on one side
        span = noise1d(rng, w, 2, 4)
        side = xs / w if rng.random() < 0.5 else 1 - xs / w
        ridge = horizon - w * 0.12 * np.clip(span * 1.2 - side * 1.6, 0, None)[None, :]
        blend_mask(canvas, np.clip(yy - ridge + 0.5, 0, 1), haze * 0.5 + hex_rgb("#3b4a3f") * 0.5)
    shore = (
        horizon + (h - horizon) * rng.uniform(0.55, 0.75) + w * 0.04 * np.sin(xs / w * 5 + rng.uniform(0, 6))
    )
    t = np.clip((yy - horizon) / (h - horizon), 0, 1)
    sea_far, sea_near = hex_rgb("#1d4e89"), hex_rgb("#2bb3b1")
    sea = sea_far * (1 - t[..., None]) + sea_near * t[..., None]
    if time == "sunset":
        sea = sea * 0.6 + np.array((0.5, 0.3, 0.25), dtype=np.float32) * 0.4
    canvas = np.where((yy >= horizon)[..., None], sea, canvas).astype(np.float32)
    img = to_image(canvas)
    draw = ImageDraw.Draw(img)
    for _ in range(500):  # wave glints, longer and thicker nearer the viewer
        ty = rng.random() ** 1.6
        y = horizon + 2 + (shore.min() - horizon - 4) * ty
        near_sun = abs(rng.normal(0, w * 0.06)) < w * 0.05 and rng.random() < 0.5
        x = sx + rng.normal(0, w * 0.04) if near_sun else rng.uniform(0, w)
        length = w * (0.01 + 0.05 * ty)
        glint = (255, 236, 180) if near_sun else (200, 230, 240)
        draw.line([(x - length / 2, y), (x + length / 2, y)], fill=glint, width=max(1, int(1 + 3 * ty)))
    sand = hex_rgb(str(rng.choice(["#e9d8a6", "#d8c3a5", "#f1e3c8"])))
    shore_pts = [(float(x), float(shore[x])) for x in range(0, w, 8)] + [
        (w, float(shore[-1])),
        (w, h),
        (0, h),
    ]
    draw.polygon(shore_pts, fill=to_u8(sand * 0.8))
    draw.line(
        [(float(x), float(shore[x])) for x in range(0, w, 8)], fill=(250, 250, 245), width=max(2, w // 100)
    )
    for _ in range(int(rng.integers(1, 4))):  # sailboats
        bx = w * rng.uniform(0.1, 0.9)
        by = horizon + (shore.min() - horizon) * rng.uniform(0.15, 0.7)
        s = w * 0.06 * (0.4 + (by - horizon) / (h - horizon) * 2.5)
        draw.polygon(
            [(bx - s, by - s * 0.25), (bx + s, by - s * 0.25), (bx + s * 0.7, by), (bx - s * 0.7, by)],
            fill=(60, 40, 30),
        )
        draw.line([(bx, by - s * 0.25), (bx, by - s * 2.2)], fill=(50, 40, 30), width=max(1, int(s * 0.05)))
        sail = (245, 240, 230) if rng.random() < 0.6 else (200, 60, 50)
        draw.polygon(
            [(bx + s * 0.05, by - s * 2.1), (bx + s * 0.05, by - s * 0.35), (bx + s * 0.9, by - s * 0.35)],
            fill=sail,
        )
        draw.polygon(
            [(bx - s * 0.05, by - s * 1.8), (bx - s * 0.05, by - s * 0.35), (bx - s * 0.6, by - s * 0.35)],
            fill=(230, 225, 215),
        )
    for _ in range(int(rng.integers(2, 7))):  # birds
        bx, by, s = w * rng.uniform(0.1, 0.9), horizon * rng.uniform(0.15, 0.7), w * rng.uniform(0.01, 0.02)
        draw.line(
            [(bx - s, by - s * 0.4), (bx, by), (bx + s, by - s * 0.4)],
            fill=(40, 40, 50),
            width=max(2, w // 250),
        )
    return img


_PAINTERS: dict[str, Callable[[np.random.Generator, int], Image.Image]] = {
    "landscape": _landscape,
    "village": _village,
    "city": _city,
    "still_life": _still_life,
    "seaside": _seaside,
}
