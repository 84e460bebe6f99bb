"""The built-in procedural sample dataset, so ``make train`` works offline on a fresh clone.

Generated deterministically from a seed (numpy ``default_rng`` per image, so image ``k`` does not depend on how
many images are requested) and written once: a JSON marker records the parameters and generator version, and
a later call with the same parameters is a no-op. Files are written atomically (temp file + rename), so ranks of
a multi-process job calling this concurrently all end up with identical, complete files.
"""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from adaptive_st.data.images import write_atomic
from adaptive_st.data.sample.scenes import SCENE_KINDS, paint_scene
from adaptive_st.data.sample.textures import STYLE_KINDS, other_palette, paint_texture

#: Bump whenever the painters change, so existing sample folders are regenerated.
GENERATOR_VERSION = 1
MARKER_NAME = ".sample_dataset.json"
_CONTENT_STREAM, _STYLE_STREAM = 11, 12


def ensure_sample_dataset(
    root: str | Path, n_content: int = 32, n_style: int = 8, size: int = 256, seed: int = 0
) -> tuple[Path, Path]:
    """Create (if needed) ``root/content`` and ``root/style`` with procedural PNGs; return the two folders.

    Content images are structured scenes (landscapes, villages, cities, still lifes, coasts); style images are
    painterly textures (brush strokes, waves, mosaic, swirls, pointillism, Mondrian, circles, hatching, shards),
    cycling through the kinds so the default 8 styles are all different.
    """
    if n_content < 1 or n_style < 1:
        raise ValueError(f"n_content and n_style must be >= 1, got {n_content} and {n_style}.")
    if size < 32:
        raise ValueError(f"size must be >= 32 pixels, got {size}.")
    root = Path(root).expanduser()
    content_dir, style_dir = root / "content", root / "style"
    params: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "n_content": n_content,
        "n_style": n_style,
        "size": size,
        "seed": seed,
    }
    content_files = [content_dir / _content_name(k) for k in range(n_content)]
    style_files = [style_dir / _style_name(k) for k in range(n_style)]
    if _read_marker(root) == params and all(p.is_file() for p in content_files + style_files):
        return content_dir, style_dir

    content_dir.mkdir(parents=True, exist_ok=True)
    style_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale(content_dir, "content_", set(content_files))
    _remove_stale(style_dir, "style_", set(style_files))
    for k, path in enumerate(content_files):
        _write_png(render_content(k, size, seed), path)
    for k, path in enumerate(style_files):
        _write_png(render_style(k, size, seed), path)
    write_atomic(root / MARKER_NAME, (json.dumps(params, indent=2, sort_keys=True) + "\n").encode())
    return content_dir, style_dir


def render_content(index: int, size: int = 256, seed: int = 0) -> Image.Image:
    """Content image ``index`` of the sample set (scene kinds cycle, everything else comes from the RNG)."""
    rng = np.random.default_rng([_CONTENT_STREAM, seed % 2**63, index])
    return paint_scene(rng, size, SCENE_KINDS[index % len(SCENE_KINDS)])


def render_style(index: int, size: int = 256, seed: int = 0) -> Image.Image:
    """Style image ``index``: the first round uses each kind's signature palette, later rounds other palettes."""
    rng = np.random.default_rng([_STYLE_STREAM, seed % 2**63, index])
    kind, signature = STYLE_KINDS[index % len(STYLE_KINDS)]
    return paint_texture(rng, size, kind, signature if index < len(STYLE_KINDS) else other_palette(rng))


def _content_name(index: int) -> str:
    return f"content_{index:04d}_{SCENE_KINDS[index % len(SCENE_KINDS)]}.png"


def _style_name(index: int) -> str:
    return f"style_{index:04d}_{STYLE_KINDS[index % len(STYLE_KINDS)][0]}.png"


def _read_marker(root: Path) -> dict[str, Any] | None:
    try:
        return json.loads((root / MARKER_NAME).read_text())
    except (OSError, ValueError):
        return None


def _remove_stale(folder: Path, prefix: str, keep: set[Path]) -> None:
    """Delete generated files from an earlier parameter set (only our own ``prefix*.png`` names)."""
    for path in folder.glob(f"{prefix}*.png"):
        if path not in keep:
            path.unlink(missing_ok=True)


def _write_png(img: Image.Image, path: Path) -> None:
    buffer = BytesIO()
    img.save(buffer, format="PNG", compress_level=6)
    write_atomic(path, buffer.getvalue())
