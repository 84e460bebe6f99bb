"""Image files ↔ tensors for inference; every read goes through ``data.images.load_rgb``."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from adaptive_st.data.images import load_rgb, pil_to_tensor


def read_image(path: str | Path) -> Tensor:
    """(3,H,W) float32 in [0,1]; raises ``ImageLoadError`` naming the file."""
    return pil_to_tensor(load_rgb(path))


def write_png(image: Tensor, path: str | Path) -> None:
    """Save (3,H,W) in [0,1] as an 8-bit PNG (lossless: what is measured is what is saved).

    zlib level 1: Pillow's default (6) spent ~25% of a folder run encoding, for files only ~3% smaller
    (measured on a 1024×768 output).
    """
    arr = (image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(arr), mode="RGB").save(path, format="PNG", compress_level=1)


def quantize(image: Tensor) -> Tensor:
    """The values an 8-bit file will hold (so metrics match the saved PNG exactly)."""
    return image.float().clamp(0, 1).mul(255).round().div(255)


#: Largest ``size`` a resize may ask for: 16k px a side is already ~3 GB of float32 image; beyond, a typo
#: (``--size 100000``) would exhaust memory instead of failing.
MAX_SIZE = 16384


def resize_longer_side(image: Tensor, size: int | None) -> Tensor:
    """Resize (…,3,H,W) so its longer side is ``size`` (antialiased when shrinking); None keeps it."""
    if size is None:
        return image
    if not 8 <= size <= MAX_SIZE:
        raise ValueError(f"size (--size) {size}: the longer side must be 8..{MAX_SIZE} pixels")
    h, w = image.shape[-2:]
    if max(h, w) == size:
        return image
    scale = size / max(h, w)
    new = (max(1, round(h * scale)), max(1, round(w * scale)))
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    out = F.interpolate(batch.float(), size=new, mode="bilinear", antialias=scale < 1, align_corners=False)
    out = out.clamp(0, 1)
    return out if image.dim() == 4 else out[0]


def center_crop_like_training(image: Tensor, load_size: int, crop_size: int) -> Tensor:
    """The evaluation-mode training preprocessing: shorter side → ``load_size``, centre crop ``crop_size``.

    Style codes and per-image λ are taken from what the networks saw in training (a crop covering most of
    the style image at a fixed scale), not from an arbitrarily sized full image.
    """
    image = _central_span(image, load_size, crop_size)
    h, w = image.shape[-2:]
    scale = load_size / min(h, w)
    new = (max(crop_size, round(h * scale)), max(crop_size, round(w * scale)))
    x = F.interpolate(image.unsqueeze(0).float(), size=new, mode="bilinear", antialias=scale < 1,
                      align_corners=False).clamp(0, 1)[0]
    top, left = (new[0] - crop_size) // 2, (new[1] - crop_size) // 2
    return x[:, top : top + crop_size, left : left + crop_size]


def _central_span(image: Tensor, load_size: int, crop_size: int) -> Tensor:
    """Cut a long thin image's long axis to twice what the centre crop needs before it is resized.

    Resizing a 3×50000 strip so its shorter side is ``load_size`` first would make a ~150×2.5M px image
    (seconds, gigabytes) to keep 128×128 of it. Only images whose resized long side exceeds 4× the crop
    are cut (photos and paintings are not), and the cut keeps the pixels the crop and its resampling
    kernel read.
    """
    h, w = image.shape[-2:]
    short, long = min(h, w), max(h, w)
    scale = load_size / short
    if long * scale <= 4 * crop_size:
        return image
    span = max(short, math.ceil(2 * crop_size / scale) + 2)
    start = (long - span) // 2
    return image[..., start : start + span, :] if h > w else image[..., start : start + span]
