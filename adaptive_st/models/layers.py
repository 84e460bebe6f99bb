"""Building blocks shared by the generators and the discriminator."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: Reflection padding: zero padding makes the decoder paint a visible frame along the borders.
PADDING_MODE = "reflect"


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=1, padding_mode=PADDING_MODE)


class _InwardClamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.clamp(0, 1)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        # Descent moves x by −grad: block it only where that would push x further out of [0, 1].
        return grad.masked_fill(((x > 1) & (grad < 0)) | ((x < 0) & (grad > 0)), 0)


def blend_with_photo(out: Tensor, photo: Tensor, alpha: float | Tensor) -> Tensor:
    """α·out + (1 − α)·photo, α a float or one per sample: the output-space style strength (``--alpha``, and a
    λ-conditioned light model's gate)."""
    a = torch.as_tensor(alpha, dtype=out.dtype, device=out.device).reshape(-1, 1, 1, 1)
    return a * out + (1 - a) * photo.to(out.dtype)


def image_range(x: Tensor, training: bool) -> Tensor:
    """A decoder's RGB output in [0, 1], as inference returns it, in training too.

    Why: the losses and D must see the image users get. Trained unclamped (AdaIN's way), the quality
    model put 10-12 % of the pixels out of range on dark, saturated paintings, and the clamp at inference
    undid a fifth of the texture it had matched (held-out relu1_1 Gram closed: 0.92 raw, 0.78 clamped).
    A plain clamp would stop the gradient of saturated pixels, so in training the gradient still
    passes wherever it points back into range (and only there: no drift further out).
    """
    return _InwardClamp.apply(x) if training and torch.is_grad_enabled() else x.clamp(0, 1)


class ConvAct(nn.Module):
    """3×3 conv + LeakyReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, act: bool = True) -> None:
        super().__init__()
        self.conv = conv3x3(cin, cout, stride)
        self.act = nn.LeakyReLU(0.2, inplace=True) if act else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.conv(x))


class AdaIN(nn.Module):
    """Adaptive instance norm: normalise per sample/channel, then apply the style's γ/β.

    ``alpha`` blends the style's statistics with the features' own (α=0 is the identity), the
    classic AdaIN "style strength" knob, so it needs no retraining.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor, gamma: Tensor, beta: Tensor, alpha: float | Tensor = 1.0) -> Tensor:
        # Statistics in fp32: under bf16 autocast the variance of small activations underflows.
        xf = x.float()
        var, mean = torch.var_mean(xf, dim=(2, 3), keepdim=True, correction=0)
        std = (var + self.eps).sqrt()
        return modulate(x, mean, std, gamma, beta, alpha)


class ModulatedResBlock(nn.Module):
    """Residual block whose two convs are each followed by AdaIN with style parameters."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels)
        self.conv2 = conv3x3(channels, channels)
        self.norm = AdaIN()

    @property
    def modulation_dims(self) -> list[int]:
        return [self.conv1.out_channels, self.conv2.out_channels]

    def forward(self, x: Tensor, params: list[tuple[Tensor, Tensor]], alpha: float | Tensor = 1.0) -> Tensor:
        (g1, b1), (g2, b2) = params
        h = F.leaky_relu(self.norm(self.conv1(x), g1, b1, alpha), 0.2)
        h = self.norm(self.conv2(h), g2, b2, alpha)
        return x + h


class UpModulated(nn.Module):
    """×2 upsample + conv + AdaIN. Nearest upsampling then the conv avoids transposed-conv checkerboard
    artefacts; ``conv_first`` runs conv + AdaIN at the coarse resolution and upsamples bilinearly after
    them: 4× fewer MACs, and no full-resolution tensor with the coarse level's channels (what sets ONNX
    Runtime's peak memory for the light model).

    Without ``conv_first`` the conv is computed in its exact sub-pixel form (:func:`upsample_conv`): the same
    numbers as nearest-then-conv, without materialising the upsampled input."""

    def __init__(self, cin: int, cout: int, conv_first: bool = False) -> None:
        super().__init__()
        self.conv = conv3x3(cin, cout)
        self.norm = AdaIN()
        self.conv_first = conv_first

    @property
    def modulation_dims(self) -> list[int]:
        return [self.conv.out_channels]

    def forward(self, x: Tensor, params: list[tuple[Tensor, Tensor]], alpha: float | Tensor = 1.0) -> Tensor:
        (g, b) = params[0]
        if self.conv_first:
            h = F.leaky_relu(self.norm(self.conv(x), g, b, alpha), 0.2)
            return F.interpolate(h, scale_factor=2.0, mode="bilinear", align_corners=False)
        return F.leaky_relu(self.norm(upsample_conv(self.conv, x), g, b, alpha), 0.2)


def _phase_taps() -> Tensor:
    """(py, px, oy, ox, dy, dx) = 1 where tap (dy, dx) of phase (py, px) reads coarse offset (oy, ox) (index + 1)."""
    taps = torch.zeros(2, 2, 3, 3, 3, 3)
    for py, px, dy, dx in itertools.product(range(2), range(2), range(3), range(3)):
        taps[py, px, (py + dy - 1) // 2 + 1, (px + dx - 1) // 2 + 1, dy, dx] = 1.0
    return taps


_PHASE_TAPS = _phase_taps()


def upsample_conv(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """``conv(nearest_upsample_x2(x))`` for a 3×3, stride-1, padding-1 ``conv``, computed at the coarse resolution.

    Each of the four output phases (row parity py, column parity px) of a 3×3 conv over a nearest-upsampled image
    reads coarse pixels at offsets ⌊(p + d)/2⌋ ∈ {−1, 0, 1} for taps d ∈ {−1, 0, 1}, so the four phases are one conv
    at the coarse resolution into 4·cout channels (taps summed per offset), rearranged by depth-to-space. The full
    image's reflect padding of 1 px reads the upsampled border's own coarse pixel: replicate padding at the coarse
    resolution (zero padding stays zero). Why: the upsampled input (cin channels at full resolution, twice the
    output's) is never built, which is what set the light model's peak memory in ONNX Runtime.
    """
    pad_mode = {"reflect": "replicate", "replicate": "replicate", "zeros": "constant"}.get(conv.padding_mode)
    if conv.kernel_size != (3, 3) or conv.stride != (1, 1) or conv.padding != (1, 1) or conv.dilation != (1, 1) \
            or conv.groups != 1 or pad_mode is None:
        raise ValueError(f"upsample_conv needs a plain 3×3 conv with padding 1 (reflect, replicate or zeros), got {conv}")
    w = conv.weight
    cout, cin = w.shape[:2]
    # depth-to-space reads channel c·4 + py·2 + px: the phase kernels in that order.
    weight = torch.einsum("pqyxab,oiab->opqiyx", _PHASE_TAPS.to(w), w).reshape(4 * cout, cin, 3, 3)
    bias = None if conv.bias is None else conv.bias.repeat_interleave(4)
    h = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=pad_mode), weight.to(x.dtype), None if bias is None else bias.to(x.dtype))
    return F.pixel_shuffle(h, 2)


def modulate(x: Tensor, mean: Tensor, std: Tensor, gamma: Tensor, beta: Tensor, alpha: float | Tensor) -> Tensor:
    """AdaIN's affine map with given (fp32) statistics: ``AdaIN`` uses the input's own, tiled inference
    the whole image's, so both share this one formula."""
    xf = x.float()
    gamma = gamma[:, :, None, None].float()
    beta = beta[:, :, None, None].float()
    if not (isinstance(alpha, float) and alpha == 1.0):
        a = torch.as_tensor(alpha, dtype=xf.dtype, device=xf.device).reshape(-1, 1, 1, 1)
        gamma = a * gamma + (1 - a) * std
        beta = a * beta + (1 - a) * mean
    # One fused affine: (x - mean)/std*gamma + beta == x*scale + shift.
    scale = gamma / std
    return (xf * scale + (beta - mean * scale)).to(x.dtype)
