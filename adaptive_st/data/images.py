"""Robust image discovery and decoding.

Everything that touches image files goes through this module so that every odd file a user can throw at the
trainer (16-bit PNGs, CMYK JPEGs, rotated phone photos, transparent PNGs, truncated downloads, bombs) ends up
either as a plain 8-bit RGB image or as one clear :class:`ImageLoadError` naming the file and the fix.

Torch-free (numpy and PIL; the two tensor converters import torch when called): the torch-free stylize
path (``inference.lean``) loads and crops images with exactly this code.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

if TYPE_CHECKING:
    import torch

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")

#: Same default as Pillow (~179 Mpx): big enough for any photo or scanned painting, small enough to stop bombs.
DEFAULT_MAX_PIXELS = 178_956_970

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageLoadError(ValueError):
    """A single file could not be turned into an RGB image; the message names the file and what to do."""


class DataConfigError(ValueError):
    """A configured folder (or the data config itself) is unusable; the message names the path and config key."""


def load_rgb(
    path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, *, draft_min_side: int | None = None
) -> Image.Image:
    """Decode ``path`` into an 8-bit RGB image, whatever its mode, orientation or bit depth.

    * EXIF orientation is applied, so phone photos are upright as the user saw them.
    * Transparency (RGBA, LA, palette/grey/RGB with a transparent colour) is composited onto **white**:
      transparent regions of scanned drawings and logos are paper, and black would invent dark content.
    * 16-bit and 32-bit integer images are rescaled (65535 -> 255), never clipped; float images are mapped
      from [0, 1] (or min-max normalised when outside that range).
    * ``max_pixels`` guards against decompression bombs using the header size, before decoding.
    * ``draft_min_side`` lets JPEG decode at 1/2, 1/4 or 1/8 scale while keeping the shorter side at least
      that long: the dataset resizes to ~150 px anyway, so decoding a 1.5 Mpx photo in full is wasted work.

    Raises :class:`ImageLoadError` for anything unreadable (missing, permissions, not an image, truncated,
    corrupt, too large), always naming the file.
    """
    path = Path(path)
    with _load_errors(path), warnings.catch_warnings():
        # Our own `max_pixels` check replaces Pillow's global warning; Pillow's hard error (2x its global
        # limit) still applies and is reported like ours.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            _check_pixels(path, im.size, max_pixels)
            if draft_min_side is not None and im.format == "JPEG":
                im.draft(None, _draft_request(im.size, draft_min_side))
            im.load()  # forces the full decode so truncation/corruption surfaces here
            im = ImageOps.exif_transpose(im)
            return _to_rgb(im)


def probe_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` from the file's header, without decoding (microseconds: start-up checks of a
    whole folder). Raises :class:`ImageLoadError` like :func:`load_rgb`; a truncated body passes."""
    path = Path(path)
    with _load_errors(path), warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as im:
            return im.size


def check_readable(paths: Sequence[Path], config_key: str, root: Path,
                   draft_min_side: int | None = None) -> dict[Path, tuple[int, int]]:
    """Header sizes of the files that open, checked before any model is built.

    Headers cannot show a truncated body, so files are also decoded in order until one succeeds: one
    decode for a normal folder, every file for a folder of corrupt ones. Raises :class:`DataConfigError`
    (naming ``config_key``, the folder and the first file's problem) when no file is readable; a folder
    with some bad files is fine (the dataset skips and counts them).
    """
    sizes: dict[Path, tuple[int, int]] = {}
    errors: dict[Path, str] = {}
    for path in paths:
        try:
            sizes[path] = probe_size(path)
        except ImageLoadError as exc:
            errors[path] = str(exc)
    for path in list(sizes):
        try:
            load_rgb(path, draft_min_side=draft_min_side)
            break
        except ImageLoadError as exc:
            errors[path] = str(exc)
            del sizes[path]
    else:
        first = errors[min(errors)] if errors else "no files"
        raise DataConfigError(
            f"{config_key}={root}: none of its {len(paths)} image file(s) can be read; fix or replace them, or "
            f"point {config_key} at another folder. First problem: {first}"
        )
    return sizes


@contextlib.contextmanager
def _load_errors(path: Path) -> Iterator[None]:
    """Turn whatever opening or decoding ``path`` raised into one :class:`ImageLoadError` naming it."""
    try:
        yield
    except ImageLoadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(
            f"{path}: image is too large to decode safely ({exc}). Downscale the file or raise Pillow's limit."
        ) from exc
    except FileNotFoundError as exc:
        raise ImageLoadError(
            f"{path}: file does not exist (was it moved or deleted while running?)."
        ) from exc
    except IsADirectoryError as exc:
        raise ImageLoadError(f"{path}: is a directory, not an image file; rename or remove it.") from exc
    except PermissionError as exc:
        raise ImageLoadError(
            f"{path}: permission denied when reading the file; fix its permissions (e.g. `chmod a+r`) "
            "or remove it from the image folder."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageLoadError(
            f"{path}: not a recognisable image although its extension says so; re-export it as "
            f"JPEG/PNG or remove it. Supported extensions: {', '.join(IMAGE_EXTENSIONS)}."
        ) from exc
    except Exception as exc:  # decoder plugins raise OSError, ValueError, EOFError, struct.error, ...
        # A loader boundary: any decoder failure for one file must become one actionable, catchable error.
        raise ImageLoadError(
            f"{path}: image is truncated or corrupt ({type(exc).__name__}: {exc}); re-download or re-export "
            "it, or remove it from the image folder."
        ) from exc


def _check_pixels(path: Path, size: tuple[int, int], max_pixels: int) -> None:
    pixels = size[0] * size[1]
    if pixels > max_pixels:
        raise ImageLoadError(
            f"{path}: {size[0]}x{size[1]} = {pixels} pixels exceeds the limit max_pixels={max_pixels} "
            "(decompression-bomb guard). Downscale the image, or pass a larger `max_pixels` if you trust it."
        )


def _draft_request(size: tuple[int, int], min_side: int) -> tuple[int, int]:
    """Smallest (w, h) with the image's aspect ratio whose shorter side is ``min_side``."""
    scale = min_side / min(size)
    return max(1, math.ceil(size[0] * scale)), max(1, math.ceil(size[1] * scale))


def _to_rgb(im: Image.Image) -> Image.Image:
    mode = im.mode
    if mode == "RGB" and "transparency" not in im.info:
        return im.copy()
    if mode in _SIXTEEN_BIT_MODES or mode in ("I", "F"):
        return Image.fromarray(_high_depth_to_uint8(np.asarray(im), mode), mode="L").convert("RGB")
    if mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    try:
        return im.convert("RGB")  # L, 1, P, CMYK, YCbCr, LAB, HSV
    except ValueError as exc:
        raise ImageLoadError(
            f"{getattr(im, 'filename', '<image>')}: unsupported image mode {mode!r}; re-export the file as 8-bit "
            "RGB (JPEG/PNG)."
        ) from exc


def _high_depth_to_uint8(arr: np.ndarray, mode: str) -> np.ndarray:
    """Map high-bit-depth greyscale to 0..255.

    The mode is all we know about the intended range: ``I;16*`` is 0..65535; ``I`` (32-bit int) is treated as
    8-bit or 16-bit data when its values fit those ranges, otherwise min-max normalised; ``F`` is assumed to
    be [0, 1] (the convention of float image tools) unless values fall outside it.
    """
    data = arr.astype(np.float64)
    if mode in _SIXTEEN_BIT_MODES:
        scaled = data / 257.0
    elif mode == "I":
        lo, hi = float(data.min()), float(data.max())
        if lo >= 0 and hi <= 255:
            scaled = data
        elif lo >= 0 and hi <= 65535:
            scaled = data / 257.0
        else:
            scaled = (data - lo) / max(hi - lo, 1e-12) * 255.0
    else:  # "F"
        data = np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0)
        lo, hi = float(data.min()), float(data.max())
        scaled = data * 255.0 if lo >= 0 and hi <= 1 else (data - lo) / max(hi - lo, 1e-12) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def list_images(root: str | Path, config_key: str) -> list[Path]:
    """All supported images under ``root`` (recursive, following symlinks, sorted by relative path).

    Hidden files and folders (``.*``) are skipped: they are editor/OS droppings such as macOS ``._x.jpg``
    resource forks that carry an image extension but are not images. Sorting by the relative POSIX path makes
    the order (and therefore splits and pairings) identical on every machine.
    """
    root = Path(root).expanduser()
    supported = ", ".join(IMAGE_EXTENSIONS)
    hint = f"Set `{config_key}` to a folder containing images ({supported})."
    if not root.exists():
        raise DataConfigError(f"{config_key}={root}: directory does not exist. {hint}")
    if not root.is_dir():
        raise DataConfigError(f"{config_key}={root}: is not a directory. {hint}")

    found: list[tuple[str, Path]] = []
    n_files = 0
    seen_dirs: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen_dirs:  # symlink loop
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith("."):
                continue
            n_files += 1
            if os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS:
                path = Path(dirpath) / name
                found.append((path.relative_to(root).as_posix(), path))

    if not found:
        what = (
            "is empty" if n_files == 0 else f"contains {n_files} file(s) but none with a supported extension"
        )
        raise DataConfigError(f"{config_key}={root}: {what}. {hint}")
    return [path for _, path in sorted(found)]


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` through a temp file and a rename: a killed run never leaves a truncated image that a
    later "already there" check would trust."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def resize_shorter_side(img: Image.Image, size: int) -> Image.Image:
    """Resize keeping the aspect ratio so the shorter side is exactly ``size`` (up- or downscaling)."""
    w, h = img.size
    if min(w, h) == size:
        return img
    scale = size / min(w, h)
    new = (size, max(size, round(h * scale))) if w <= h else (max(size, round(w * scale)), size)
    return img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)


def eval_crop_array(img: Image.Image, load_size: int, crop_size: int) -> np.ndarray:
    """The evaluation-mode preprocessing (``data.datasets.eval_crop`` wraps it in a tensor): shorter side
    → ``load_size`` (PIL bicubic), then the centre ``crop_size`` crop; float32 (3, crop, crop) in [0, 1]."""
    img = resize_shorter_side(img, load_size)
    arr = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    h, w = arr.shape[:2]
    top, left = (h - crop_size) // 2, (w - crop_size) // 2
    crop = arr[top : top + crop_size, left : left + crop_size].transpose(2, 0, 1)
    return np.ascontiguousarray(crop, dtype=np.float32) / np.float32(255.0)


def pil_to_array(img: Image.Image) -> np.ndarray:
    """RGB PIL image -> float32 array (3, H, W) in [0, 1], the range every model in the project expects."""
    arr = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.float32)
    return np.ascontiguousarray(arr.transpose(2, 0, 1)) / np.float32(255.0)


# Both converters work in numpy and only wrap the result: per-sample torch ops in the main process go through
# torch's intra-op thread pool, whose synchronisation costs milliseconds per tiny op on a busy machine.


def pil_to_uint8_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor (3, H, W); the compact form kept in dataset caches."""
    import torch

    arr = np.asarray(img if img.mode == "RGB" else img.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 tensor (3, H, W) in [0, 1] (:func:`pil_to_array`)."""
    import torch

    return torch.from_numpy(pil_to_array(img))
