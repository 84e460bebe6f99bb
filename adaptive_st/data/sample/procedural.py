"""Numpy/PIL primitives shared by the procedural sample-image painters (noise, gradients, palettes)."""

from __future__ import annotations

import numpy as np
from PIL import Image

#: Named palettes (hex colours); each style kind has a signature palette, extra images re-use the others.
PALETTES: dict[str, tuple[str, ...]] = {
    "sunflower": ("#f2b705", "#f29f05", "#d95f02", "#3e6e3a", "#2a4d8f", "#f7e7b4"),
    "hokusai": ("#0f2c4c", "#1d4e89", "#6b9ac4", "#e8e1cf", "#c9b79c", "#fdfbf5"),
    "byzantine": ("#c99a2e", "#f2d16b", "#1c3f94", "#8c2d19", "#2f6f4e", "#efe6d2"),
    "starry": ("#0b1d51", "#1f3d8a", "#3f6fb5", "#86b5d9", "#f4d35e", "#fff3b0"),
    "seurat": ("#6a994e", "#a7c957", "#f2e8cf", "#bc96e6", "#f4a259", "#5b8e7d", "#90c2e7"),
    "primary": ("#f4f1e8", "#d62828", "#1d3ea0", "#f7c600", "#151515"),
    "bauhaus": ("#e63946", "#f1c453", "#2a9d8f", "#264653", "#f4a261", "#1d3557", "#f1faee"),
    "ink": ("#f3ead8", "#2b2118", "#5a4632", "#8c6e4e"),
    "candy": ("#ff5d8f", "#ffb3c6", "#7bdff2", "#b2f7ef", "#9b5de5", "#fee440"),
    "autumn": ("#7f2704", "#d94801", "#fd8d3c", "#fdd0a2", "#54301a", "#a6761d"),
    "fauve": ("#e4572e", "#29335c", "#f3a712", "#a8c686", "#669bbc", "#c1121f"),
}


def hex_rgb(code: str) -> np.ndarray:
    """'#rrggbb' -> float32 RGB in [0, 1]."""
    code = code.lstrip("#")
    return np.array([int(code[i : i + 2], 16) for i in (0, 2, 4)], dtype=np.float32) / 255.0


def palette(name: str) -> np.ndarray:
    """Palette as a float32 (n, 3) array."""
    return np.stack([hex_rgb(c) for c in PALETTES[name]])


def jitter(rng: np.random.Generator, colour: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(colour + rng.normal(0.0, amount, 3), 0.0, 1.0).astype(np.float32)


def to_u8(colour: np.ndarray, alpha: float | None = None) -> tuple[int, ...]:
    """Float colour -> PIL fill tuple (optionally with alpha for ``ImageDraw.Draw(img, "RGBA")``)."""
    rgb = tuple(round(float(c) * 255) for c in np.clip(colour, 0.0, 1.0))
    return rgb if alpha is None else (*rgb, round(alpha * 255))


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int, octaves: int = 1) -> np.ndarray:
    """Value noise in [0, 1]: a random ``cells``-grid upsampled bicubically, summed over octaves."""
    total = np.zeros((h, w), dtype=np.float32)
    amp, weight = 1.0, 0.0
    for octave in range(octaves):
        n = cells * 2**octave + 1
        grid = Image.fromarray(rng.random((n, n), dtype=np.float32))
        total += amp * np.asarray(grid.resize((w, h), Image.Resampling.BICUBIC), dtype=np.float32)
        weight += amp
        amp *= 0.5
    total /= weight
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def noise1d(rng: np.random.Generator, n: int, cells: int, octaves: int = 4) -> np.ndarray:
    """Smooth 1-D fractal noise in [0, 1] (mountain ridges, shorelines)."""
    x = np.linspace(0.0, 1.0, n, dtype=np.float32)
    total = np.zeros(n, dtype=np.float32)
    amp, weight = 1.0, 0.0
    for octave in range(octaves):
        k = cells * 2**octave + 1
        total += amp * np.interp(x, np.linspace(0.0, 1.0, k), rng.random(k)).astype(np.float32)
        weight += amp
        amp *= 0.5
    total /= weight
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def vertical_gradient(h: int, w: int, top: np.ndarray, bottom: np.ndarray, gamma: float = 1.0) -> np.ndarray:
    t = (np.linspace(0.0, 1.0, h, dtype=np.float32) ** gamma)[:, None, None]
    return np.broadcast_to(top * (1 - t) + bottom * t, (h, w, 3)).astype(np.float32)


def blend_mask(canvas: np.ndarray, mask: np.ndarray, colour: np.ndarray | float) -> None:
    """In place: ``canvas = canvas * (1 - mask) + colour * mask`` (mask in [0, 1], HxW)."""
    m = mask[..., None]
    canvas *= 1.0 - m
    canvas += m * colour


def disc_mask(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Anti-aliased disc coverage in [0, 1]."""
    yy, xx = np.ogrid[:h, :w]
    d = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
    return np.clip(r - d + 0.5, 0.0, 1.0).astype(np.float32)


def to_image(canvas: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(canvas, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


def to_array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32) / 255.0


def finish(img: Image.Image, size: int, rng: np.random.Generator, grain: float = 0.012) -> Image.Image:
    """Downsample the 2x-supersampled canvas (anti-aliasing ImageDraw shapes) and add film grain."""
    small = to_array(img.resize((size, size), Image.Resampling.LANCZOS))
    small += rng.normal(0.0, grain, small.shape).astype(np.float32)
    return to_image(small)
