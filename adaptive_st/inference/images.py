"""Images for inference: files ↔ tensors, output names, resizing, padding for G and colour preservation.

- Every read goes through ``data.images.load_rgb``; outputs are 8-bit PNGs.
- Output file names, sizes and padding amounts are the package's torch-free core (``inference``, shared
  with the torch-free path): ``<content-stem>__<style-stem>[__a0.5][__lam3][__luminance].png``, the
  suffixes only when the value was set away from its default, so two runs with different α, λ or colour
  mode never collide. Names keep every letter of the inputs (``日本.jpg`` → ``日本__candy.png``): only
  what cannot be in one file name (path separators, control characters) is replaced, and over-long names
  are shortened with a hash.
- Padding: G needs sides that are multiples of its stride (8) and, because its convolutions reflect-pad
  at 1/8 resolution, a minimum side (``tiling.minimum_side``): a 1×1 image or a 3×5000 strip is padded up
  to that by reflection (replication where a side is too short) and cropped back.
- Colour preservation (Gatys et al. 2017): ``luminance`` stylizes grey images and recombines the
  output's Y with the content's chroma (full-range BT.601 YCbCr); ``histogram`` maps the style image's
  RGB mean and covariance onto the content's before encoding it (Hertzmann's linear match).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from adaptive_st.data.images import load_rgb, pil_to_tensor
from adaptive_st.inference import MULTIPLE, crop_like_training, pad_amounts, resized_shape


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


def resize_longer_side(image: Tensor, size: int | None) -> Tensor:
    """Resize (…,3,H,W) so its longer side is ``size`` (antialiased when shrinking); None keeps it."""
    h, w = image.shape[-2:]
    new = resized_shape(h, w, size)
    if new == (h, w):
        return image
    scale = size / max(h, w)  # type: ignore[operator]
    batch = image if image.dim() == 4 else image.unsqueeze(0)
    out = F.interpolate(batch.float(), size=new, mode="bilinear", antialias=scale < 1, align_corners=False)
    out = out.clamp(0, 1)
    return out if image.dim() == 4 else out[0]


def center_crop_like_training(image: Tensor, load_size: int, crop_size: int) -> Tensor:
    """The evaluation-mode training preprocessing of a (3,H,W) tensor in [0,1] (``inference.crop_like_training``:
    shorter side → ``load_size``, PIL bicubic, centre crop ``crop_size``, on the image's 8-bit values)."""
    arr = image.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return torch.from_numpy(crop_like_training(arr, load_size, crop_size))


# ----------------------------------------------------------------------------------------- padding
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
