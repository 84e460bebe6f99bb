"""Images for inference: files ↔ tensors, output names, resizing, padding for G and colour preservation.

- Every read goes through ``data.images.load_rgb``; outputs are 8-bit PNGs.
- Output file names: ``<content-stem>__<style-stem>[__a0.5][__lam3][__luminance].png``. The suffixes appear
  only when the value was set away from its default, so two runs with different α, λ or colour mode never
  collide. Names keep
  every letter of the inputs (``日本.jpg`` → ``日本__candy.png``): only what cannot be in one file name
  (path separators, control characters) is replaced, and over-long names are shortened with a hash.
- Padding: G needs sides that are multiples of its stride (8) and, because its convolutions reflect-pad
  at 1/8 resolution, a minimum side (``tiling.minimum_side``): a 1×1 image or a 3×5000 strip is padded up
  to that by reflection (replication where a side is too short) and cropped back.
- Colour preservation (Gatys et al. 2017): ``luminance`` stylizes grey images and recombines the
  output's Y with the content's chroma (full-range BT.601 YCbCr); ``histogram`` maps the style image's
  RGB mean and covariance onto the content's before encoding it (Hertzmann's linear match).
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from adaptive_st.data.datasets import eval_crop
from adaptive_st.data.images import load_rgb, pil_to_tensor
from adaptive_st.inference.choices import PRESERVE_COLOR as PRESERVE_COLOR


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
    """The evaluation-mode training preprocessing (``data.datasets.eval_crop``: shorter side → ``load_size``,
    PIL bicubic, centre crop ``crop_size``) of a (3,H,W) tensor in [0,1].

    Style codes and per-image λ are taken from what the networks saw in training (a crop covering most of
    the style image at a fixed scale), not from an arbitrarily sized full image.
    """
    image = _central_span(image, load_size, crop_size)
    arr = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return eval_crop(Image.fromarray(np.ascontiguousarray(arr)), load_size, crop_size)


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


# ------------------------------------------------------------------------------------------- names
#: Path separators (both, so a name is portable) and C0/C1 control characters, NUL included.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]+")
#: NAME_MAX of Linux/macOS file systems, in bytes of the UTF-8 encoded name.
MAX_NAME_BYTES = 255


def number(value: float) -> str:
    """Compact, file-name-safe form of a number: 0.5 → ``0.5``, 3.0 → ``3``, 1e-05 → ``1e-05``."""
    return f"{value:g}"


def mix_name(stems: Sequence[str], weights: Sequence[float] | None) -> str:
    """Style stem of a mix: ``candy0.7+udnie0.3`` (equal weights: ``candy+udnie``)."""
    if weights is None:
        return "+".join(stems)
    return "+".join(f"{s}{number(w)}" for s, w in zip(stems, weights, strict=True))


def safe_file_name(stem: str, suffix: str = "") -> str:
    """``stem + suffix`` as one valid file name: separators and control characters become ``_``, and a stem
    too long for the file system is cut (at a character boundary) and tagged with a hash of the full stem."""
    stem = _UNSAFE.sub("_", stem)
    budget = MAX_NAME_BYTES - len(suffix.encode())
    if len(stem.encode()) <= budget:
        return stem + suffix
    tag = "~" + hashlib.sha1(stem.encode()).hexdigest()[:10]
    cut = stem.encode()[: budget - len(tag)].decode(errors="ignore")
    return cut + tag + suffix


def output_name(content_stem: str, style_stem: str, alpha: float = 1.0, lam: float | None = None,
                preserve_color: str = "none") -> str:
    """``<content>__<style>[__a<α>][__lam<λ>][__<colour mode>].png``: every setting away from its default is
    in the name, so runs with another α, λ or ``--preserve-color`` never collide."""
    name = f"{content_stem}__{style_stem}"
    if alpha != 1.0:
        name += f"__a{number(alpha)}"
    if lam is not None:
        name += f"__lam{number(lam)}"
    if preserve_color not in ("none", None):
        name += f"__{preserve_color}"
    return safe_file_name(name, ".png")


# ----------------------------------------------------------------------------------------- padding
MULTIPLE = 8  # three stride-2 stages in G


def pad_amounts(height: int, width: int, multiple: int = MULTIPLE, min_side: int = 0) -> tuple[int, int]:
    """``(pad_bottom, pad_right)`` that make both sides multiples of ``multiple`` and at least ``min_side``."""
    def target(side: int) -> int:
        return max(side + (-side) % multiple, -(-min_side // multiple) * multiple)

    return target(height) - height, target(width) - width


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE, min_side: int = 0) -> Tensor:
    """Pad (B,C,H,W) at the bottom/right (see :func:`pad_amounts`): reflect, or replicate where a side is
    too short to reflect that far."""
    ph, pw = pad_amounts(x.shape[-2], x.shape[-1], multiple, min_side)
    if not (ph or pw):
        return x
    mode = "reflect" if x.shape[-2] > ph and x.shape[-1] > pw else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


def crop_to(x: Tensor, height: int, width: int) -> Tensor:
    return x[..., :height, :width]


# ------------------------------------------------------------------------------------------ colour
_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
_OFFSET = torch.tensor([0.0, 0.5, 0.5])


def rgb_to_ycbcr(x: Tensor) -> Tensor:
    """RGB (…,3,H,W) in [0,1] → full-range YCbCr in [0,1] (JPEG convention; Cb, Cr centred at 0.5)."""
    m = _TO_YCBCR.to(x.device, torch.float32)
    return torch.einsum("ij,...jhw->...ihw", m, x.float()) + _OFFSET.to(x.device)[:, None, None]


def ycbcr_to_rgb(x: Tensor) -> Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (not clamped)."""
    m = torch.linalg.inv(_TO_YCBCR).to(x.device, torch.float32)
    return torch.einsum("ij,...jhw->...ihw", m, x.float() - _OFFSET.to(x.device)[:, None, None])


def to_grey(x: Tensor) -> Tensor:
    """Y of RGB images, replicated to 3 channels (the model's input format)."""
    y = rgb_to_ycbcr(x)[..., :1, :, :]
    return y.expand(*y.shape[:-3], 3, *y.shape[-2:]).contiguous()


def keep_content_chroma(output: Tensor, content: Tensor) -> Tensor:
    """The output's luminance with the content's Cb/Cr, clamped to [0,1]."""
    y = rgb_to_ycbcr(output)[..., :1, :, :]
    chroma = rgb_to_ycbcr(content)[..., 1:, :, :]
    return ycbcr_to_rgb(torch.cat([y, chroma], dim=-3)).clamp(0, 1)


def _mean_cov(x: Tensor) -> tuple[Tensor, Tensor]:
    pixels = x.double().reshape(3, -1)
    mean = pixels.mean(1, keepdim=True)
    centred = pixels - mean
    return mean, centred @ centred.T / max(pixels.shape[1] - 1, 1)


def _sqrtm(cov: Tensor, inverse: bool = False, eps: float = 1e-5) -> Tensor:
    evals, evecs = torch.linalg.eigh(cov + eps * torch.eye(3, dtype=cov.dtype, device=cov.device))
    root = evals.clamp_min(eps).sqrt()
    return (evecs * (1 / root if inverse else root)) @ evecs.T


def match_color(style: Tensor, content: Tensor) -> Tensor:
    """Style (3,H,W) recoloured so its RGB mean and covariance equal the content's (3,h,w); clamped."""
    mu_s, cov_s = _mean_cov(style)
    mu_c, cov_c = _mean_cov(content)
    transform = _sqrtm(cov_c) @ _sqrtm(cov_s, inverse=True)
    pixels = style.double().reshape(3, -1)
    out = transform @ (pixels - mu_s) + mu_c
    return out.reshape(style.shape).to(style.dtype).clamp(0, 1)
