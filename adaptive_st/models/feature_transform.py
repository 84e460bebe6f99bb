"""The quality model: style transfer by feature statistics in a frozen pretrained VGG space.

Why this design: a style code that *is* a statistic of pretrained features generalises to styles never
seen in training by construction — nothing about a particular painting is learned. Only the decoder
is trained, to turn transformed features back into an image (AdaIN, Huang & Belongie 2017; WCT,
Li et al. 2017; the multi-level fusion follows Universal Style Transfer's coarse-to-fine idea).

* **S** (:class:`FeatureStatsStyle`): style image → VGG relu1_1/relu2_1/relu3_1 → per-layer channel mean
  and covariance (the style code) → the modulation: (mean, colouring matrix) per layer.
* **G** (:class:`FeatureTransformGenerator`): content → the same frozen VGG → whitening-and-colouring
  (``transform="wct"``, matches the full covariance, i.e. texture-level Gram statistics) or AdaIN
  (``"adain"``, mean/std only) at every level → a learned decoder that fuses the three stylised levels
  coarse to fine. ``alpha`` blends transformed and original features (style strength).

The statistics are computed in float32 with autocast off: covariances of VGG activations lose most
of their precision in bf16.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptive_st.losses.feature_stats import channel_mean_cov, fp32_region
from adaptive_st.losses.vgg import VGGFeatures, build_vgg
from adaptive_st.losses.vgg_layout import LAYER_CHANNELS
from adaptive_st.models.layers import image_range

LEVELS: tuple[str, ...] = ("relu1_1", "relu2_1", "relu3_1")
#: The output colour stage's "level": the RGB pixels themselves (``colour_match``).
RGB = "rgb"
_RGB_EPS = 1e-3  # added to RGB covariances (pixel variances are ~1e-2): whitening a grey image stays bounded
#: The output texture stage's "level": every pixel's 3×3 neighbourhood, 27 numbers (``texture_match``).
PATCH = "patch3"
PATCH_DIM = 27
_PATCH_EPS = 1e-4  # added to patch covariances: a flat image's 27×27 covariance is near rank 3
_NS_STEPS = 24     # Newton–Schulz steps: enough for eigenvalues down to ~1e-5 of the largest
TRANSFORMS = ("wct", "adain")
ModParams = list[tuple[Tensor, Tensor]]
_INDEX_LIMIT = 2**31 - 1
Stats = Mapping[str, tuple[Tensor, Tensor]]


def frozen_vgg(pretrained: bool, vgg_weights: str | None, hub_dir: str | None) -> VGGFeatures:
    """The normalised VGG-19 to relu3_1. ``pretrained=False`` builds the architecture only: checkpoint
    loaders use it, since the trained weights (VGG included) are in the checkpoint."""
    if pretrained:
        return build_vgg("normalised", vgg_weights, LEVELS, hub_dir)
    return VGGFeatures.random(LEVELS)


def matrix_power_sym(cov: Tensor, power: float, rel_eps: float = 1e-5) -> Tensor:
    """``cov ** power`` for batched symmetric PSD matrices (B, C, C), regularised relative to their trace.

    Used for the whitening (−½) and colouring (+½) matrices; always float32, never differentiated in
    training (both inputs are frozen-encoder features).
    """
    with fp32_region(cov):
        cov = cov.float()
        c = cov.shape[-1]
        eps = rel_eps * cov.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-12)
        eye = torch.eye(c, device=cov.device, dtype=cov.dtype)
        vals, vecs = torch.linalg.eigh(cov + eps[..., None, None] * eye)
        vals = vals.clamp_min(eps[..., None]).pow(power)
        return (vecs * vals.unsqueeze(-2)) @ vecs.transpose(-1, -2)


def colouring(mean: Tensor, cov: Tensor, transform: str) -> tuple[Tensor, Tensor]:
    """Modulation for one level from the style's statistics: (mean, colouring matrix or std vector)."""
    if transform == "wct":
        return mean, matrix_power_sym(cov, 0.5)
    return mean, cov.diagonal(dim1=-2, dim2=-1).clamp_min(0).add(1e-5).sqrt()


def transform_features(f: Tensor, mean_s: Tensor, colour: Tensor, transform: str,
                       alpha: float | Tensor = 1.0, content_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Give content features ``f`` (B, C, H, W) the style's mean and covariance (WCT) or mean/std (AdaIN).

    Whitening uses the content's own mean and covariance (``content_stats``, else computed here) in
    float32. Whitening, colouring, the
    style's mean and the ``alpha`` blend are one affine map per image, ``A·f + b`` (C×C for WCT, diagonal
    for AdaIN), applied in a single pass over the features: at 512² the features are the big tensors, the
    matrices are small.
    """
    with fp32_region(f):
        x = f.float()
        b, c, h, w = x.shape
        mean_c, cov_c = channel_mean_cov(x) if content_stats is None else (t.float() for t in content_stats)
        a = None
        if not (isinstance(alpha, float) and alpha == 1.0):
            a = torch.as_tensor(alpha, dtype=x.dtype, device=x.device).reshape(-1, 1)
        if transform == "wct":
            matrix = colour.float() @ matrix_power_sym(cov_c, -0.5)
            shift = mean_s.float() - (matrix @ mean_c[..., None])[..., 0]
            if a is not None:
                eye = torch.eye(c, dtype=x.dtype, device=x.device)
                matrix = a[..., None] * matrix + (1 - a[..., None]) * eye
                shift = a * shift
            out = torch.baddbmm(shift[..., None], matrix.expand(b, c, c), x.reshape(b, c, h * w))
            out = out.reshape(b, c, h, w)
        else:
            scale = colour.float() / cov_c.diagonal(dim1=-2, dim2=-1).clamp_min(0).add(1e-5).sqrt()
            shift = mean_s.float() - scale * mean_c
            if a is not None:
                scale, shift = a * scale + (1 - a), a * shift
            out = torch.addcmul(shift[..., None, None], x, scale[..., None, None])
    return out.to(f.dtype)


def cholesky3(cov: Tensor) -> Tensor:
    """Lower Cholesky factors of batched 3×3 SPD matrices (…,3,3), in closed form.

    Elementwise arithmetic only, so the colour stage exports to ONNX (which has no Cholesky) and runs in the
    torch-free engine. The square roots' arguments are clamped: a matrix made SPD by adding ``_RGB_EPS·I``
    stays finite under rounding.
    """
    tiny = 1e-12
    a = cov.float()
    l11 = a[..., 0, 0].clamp_min(tiny).sqrt()
    l21, l31 = a[..., 1, 0] / l11, a[..., 2, 0] / l11
    l22 = (a[..., 1, 1] - l21 * l21).clamp_min(tiny).sqrt()
    l32 = (a[..., 2, 1] - l31 * l21) / l22
    l33 = (a[..., 2, 2] - l31 * l31 - l32 * l32).clamp_min(tiny).sqrt()
    zero = torch.zeros_like(l11)
    return torch.stack([l11, zero, zero, l21, l22, zero, l31, l32, l33], -1).reshape(a.shape)


def tril3_inverse(chol: Tensor) -> Tensor:
    """Inverse of batched lower-triangular 3×3 matrices, in closed form (ONNX-exportable, like :func:`cholesky3`)."""
    l11, l21, l22 = chol[..., 0, 0], chol[..., 1, 0], chol[..., 1, 1]
    l31, l32, l33 = chol[..., 2, 0], chol[..., 2, 1], chol[..., 2, 2]
    i11, i22, i33 = 1 / l11, 1 / l22, 1 / l33
    zero = torch.zeros_like(l11)
    return torch.stack([i11, zero, zero,
                        -l21 * i11 * i22, i22, zero,
                        (l21 * l32 - l22 * l31) * i11 * i22 * i33, -l32 * i22 * i33, i33], -1).reshape(chol.shape)


def rgb_colouring(mean: Tensor, cov: Tensor) -> tuple[Tensor, Tensor]:
    """The colour stage's modulation from the style image's RGB mean (B,3) and covariance: (mean, Cholesky factor)."""
    eye = torch.eye(3, dtype=torch.float32, device=cov.device)
    return mean, cholesky3(cov.float() + _RGB_EPS * eye)


def colour_transfer(image: Tensor, mean_s: Tensor, chol_s: Tensor, strength: float | Tensor,
                    image_stats: tuple[Tensor, Tensor]) -> Tensor:
    """Give ``image`` (B,3,H,W) the style's RGB mean and covariance, blended by ``strength``.

    Whitening and colouring both by Cholesky factors, ``L_s·L_x⁻¹``: unlike the eigen-decomposition of
    the VGG levels, its gradient stays finite when two colour variances coincide (a grey output), and the
    stage is trained through. Closed-form 3×3 algebra (:func:`cholesky3`), so the light model exports with it.
    """
    with fp32_region(image):
        x = image.float()
        b, c, h, w = x.shape
        mean_x, cov_x = (t.float() for t in image_stats)
        eye = torch.eye(c, dtype=x.dtype, device=x.device)
        matrix = chol_s.float() @ tril3_inverse(cholesky3(cov_x + _RGB_EPS * eye))
        shift = mean_s.float() - (matrix @ mean_x[..., None])[..., 0]
        a = torch.as_tensor(strength, dtype=x.dtype, device=x.device).reshape(-1, 1)
        matrix = a[..., None] * matrix + (1 - a[..., None]) * eye
        out = torch.baddbmm((a * shift)[..., None], matrix.expand(b, c, c), x.reshape(b, c, h * w))
    return out.reshape(b, c, h, w).to(image.dtype)


def _patch_shifts() -> Tensor:
    """(9,9,25): 1 where taps d and e of a 3×3 patch are offset Δ = e − d apart (index of Δ in a 5×5 window)."""
    shifts = torch.zeros(9, 9, 25)
    for d in range(9):
        for e in range(9):
            shifts[d, e, (e // 3 - d // 3 + 2) * 5 + (e % 3 - d % 3 + 2)] = 1.0
    return shifts


_PATCH_SHIFTS = _patch_shifts()


def _patch_extract() -> Tensor:
    """(27,3,3,3): the one-hot kernel that copies every pixel's 3×3 neighbourhood into 27 channels (``c·9 + tap``)."""
    extract = torch.zeros(PATCH_DIM, 3, 3, 3)
    for c in range(3):
        for t in range(9):
            extract[c * 9 + t, c, t // 3, t % 3] = 1.0
    return extract


_PATCH_EXTRACT = _patch_extract()
#: Patches are sampled every ``_PATCH_STRIDE`` px in each direction (each still a full-resolution 3×3 neighbourhood).
_PATCH_STRIDE = 2


def patch_mean_cov(image: Tensor) -> tuple[Tensor, Tensor]:
    """Mean (B,27) and covariance (B,27,27) of an image's 3×3 patches (channel-major: ``c·9 + tap``): the
    first-layer texture statistic (a VGG relu1_1 channel is a ReLU of one linear function of such a patch).

    Sampled on a grid of every second pixel: the same statistic, estimated from a quarter of the patches. Why: the
    27 patch channels of every pixel of a 512² image are 28 MB and a third of the light model's time; a sampled
    covariance is still a Gram matrix (positive semi-definite: its square roots exist), where a stationary
    estimate from lags need not be.
    """
    with fp32_region(image):
        x = F.pad(image.float(), (1, 1, 1, 1), mode="replicate")
        return channel_mean_cov(F.conv2d(x, _PATCH_EXTRACT.to(x.device), stride=_PATCH_STRIDE))


def sqrtm_newton_schulz(cov: Tensor, steps: int = _NS_STEPS) -> tuple[Tensor, Tensor]:
    """Symmetric square root and inverse square root of batched SPD matrices by coupled Newton–Schulz.

    Matrix products only, so the texture stage exports to ONNX (which has no eigendecomposition) and its
    gradient is finite where two eigenvalues coincide. Scaled by the Frobenius norm first (convergence needs the
    spectrum in (0, 1]); the smallest eigenvalue must not be far below ``norm · 2.25^−steps``.
    """
    with fp32_region(cov):
        a = cov.float()
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device).expand_as(a)
        norm = a.flatten(-2).norm(dim=-1).clamp_min(1e-12)[..., None, None]
        y, z = a / norm, eye
        for _ in range(steps):
            t = 1.5 * eye - 0.5 * (z @ y)
            y, z = y @ t, t @ z
        return y * norm.sqrt(), z / norm.sqrt()


def patch_colouring(mean: Tensor, cov: Tensor) -> tuple[Tensor, Tensor]:
    """The texture stage's modulation from the style image's patch mean (B,27) and covariance: (mean, sqrt)."""
    eye = torch.eye(PATCH_DIM, dtype=torch.float32, device=cov.device)
    return mean.float(), sqrtm_newton_schulz(cov.float() + _PATCH_EPS * eye)[0]


def texture_transfer(image: Tensor, mean_s: Tensor, sqrt_s: Tensor, strength: float | Tensor,
                     image_stats: tuple[Tensor, Tensor]) -> Tensor:
    """Move ``image`` (B,3,H,W) towards the style's 3×3-patch mean and covariance, blended by ``strength``.

    Whitening and colouring of every pixel's patch (``T = Σ_s^½ Σ_x^−½``, 27×27), then each pixel the average of
    the nine transformed patches that cover it: together one 5×5 convolution 3 → 3 per image, built from ``T``.
    Why: the light decoder paints the painting's palette (the colour stage) but not its first-layer texture: how
    sharp, how grainy, which colours change across an edge. That is relu1_1's share of the Gram distance, the
    share it leaves open; this is that layer's WCT (the quality model's first level) in a closed form the
    torch-free engine runs. The overlap average does not match the covariance exactly: passes repeat it.
    """
    with fp32_region(image):
        x = image.float()
        b, c, h, w = x.shape
        mean_x, cov_x = (t.float() for t in image_stats)
        eye = torch.eye(PATCH_DIM, dtype=x.dtype, device=x.device)
        matrix = sqrt_s.float() @ sqrtm_newton_schulz(cov_x + _PATCH_EPS * eye)[1]
        a = torch.as_tensor(strength, dtype=x.dtype, device=x.device).reshape(-1, 1)
        shift = a * (mean_s.float() - (matrix @ mean_x[..., None])[..., 0])
        matrix = a[..., None] * matrix + (1 - a[..., None]) * eye
        kernel = torch.einsum("bcdke,dez->bckz", matrix.expand(b, -1, -1).reshape(b, 3, 9, 3, 9),
                              _PATCH_SHIFTS.to(x.device)) / 9
        padded = F.pad(x, (2, 2, 2, 2), mode="reflect").reshape(1, b * c, h + 4, w + 4)
        out = F.conv2d(padded, kernel.reshape(b * c, c, 5, 5), groups=b).reshape(b, c, h, w)
        out = out + shift.expand(b, -1).reshape(b, c, 9).mean(-1)[..., None, None]
    return out.to(image.dtype)


class ContentStatistics(nn.Module):
    """The content features' channel mean and covariance, which the transform whitens with.

    A module of its own so that tiled inference can measure them once on a thumbnail of the whole image
    and share them across tiles (``inference.tiling.shared_statistics``): a tile whitened with its own
    statistics gets its own tone, and the seams show.
    """

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor]:
        return channel_mean_cov(f)


class PatchStatistics(ContentStatistics):
    """An image's 3×3-patch mean and covariance (:func:`patch_mean_cov`), shared across tiles the same way."""

    def forward(self, f: Tensor) -> tuple[Tensor, Tensor]:
        return patch_mean_cov(f)


class ColourStage(nn.Module):
    """The output colour stage: gives an image the style image's RGB mean and covariance (:func:`colour_transfer`).

    Two strengths, ``colour_match`` in training and ``at_inference`` in eval mode (``stylize``, validation;
    ``None``: the same). Why two: trained with a full match, the decoder leaves colour to the stage and paints
    flatter (held-out Gram closed 86.6 %); trained at half strength it keeps painting colour and texture itself,
    and the full match at inference then closes 90.8 % (0.5 at inference: 86.1 %). The image's statistics go
    through a :class:`ContentStatistics`, so tiles share the whole image's. No parameters: checkpoints keep
    their keys.
    """

    #: The generator option that sets the training strength (error messages).
    option = "colour_match"

    def __init__(self, colour_match: float = 0.0, at_inference: float | None = None) -> None:
        super().__init__()
        for name, value in ((self.option, colour_match), (f"{self.option}_at_inference", at_inference)):
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"model.generator.{name}={value} must be in [0, 1]")
        self.colour_match = float(colour_match)
        self.at_inference = float(colour_match if at_inference is None else at_inference)
        self.stats = ContentStatistics()

    @property
    def enabled(self) -> bool:
        """Whether G has the stage (and S must give its level)."""
        return max(self.colour_match, self.at_inference) > 0

    def strength(self, alpha: float | Tensor) -> float | Tensor:
        """The current strength (training or inference) × the style strength ``alpha``."""
        strength = self.colour_match if self.training else self.at_inference
        return strength * (alpha if isinstance(alpha, Tensor) else float(alpha))

    def forward(self, image: Tensor, modulation: tuple[Tensor, Tensor], alpha: float | Tensor = 1.0) -> Tensor:
        """``image`` with the modulation's RGB level at the current strength × the style strength ``alpha``."""
        mean, chol = modulation
        return colour_transfer(image, mean, chol, self.strength(alpha), self.stats(image))


class TextureStage(ColourStage):
    """The output texture stage: moves an image towards the style image's 3×3-patch mean and covariance
    (:func:`texture_transfer`), ``passes`` times (each pass closes part of what the overlap average leaves).

    Strengths as :class:`ColourStage` (``texture_match`` in training, ``at_inference`` in eval mode); at strength 0
    it costs nothing. One :class:`PatchStatistics` per pass, so tiles share the whole image's statistics.
    """

    option = "texture_match"

    def __init__(self, texture_match: float = 0.0, at_inference: float | None = None, passes: int = 2) -> None:
        super().__init__(texture_match, at_inference)
        if passes < 1:
            raise ValueError(f"model.generator.texture_passes={passes} must be >= 1")
        self.stats = nn.ModuleList(PatchStatistics() for _ in range(passes))

    @property
    def pixel_radius(self) -> int:
        """Receptive radius (px) the stage adds when it runs: each pass is one functional 5×5 convolution, which
        :func:`~adaptive_st.inference.tiling.receptive_radius` cannot see as a module."""
        return 2 * len(self.stats) if self.enabled else 0

    def forward(self, image: Tensor, modulation: tuple[Tensor, Tensor], alpha: float | Tensor = 1.0) -> Tensor:
        strength = self.strength(alpha)
        if not isinstance(strength, Tensor) and strength == 0:
            return image
        mean, sqrt = modulation
        for stats in self.stats:
            image = texture_transfer(image, mean, sqrt, strength, stats(image))
        return image


class FeatureStatsStyle(nn.Module):
    """S: the style code is the channel mean and covariance of frozen VGG features at every level.

    Parameter-free apart from the frozen VGG. Codes are flat vectors so that :class:`Stylizer` can mix
    styles by a weighted mean of codes (a mixture's first and second moments).
    """

    encoder_kind = "image"
    #: The training module hands S the statistics its loss VGG already computed (no second VGG pass).
    reads_feature_stats = True

    def __init__(self, modulation_dims: Sequence[int] = (), cond_dim: int = 0, transform: str = "wct",
                 pretrained: bool = True, vgg_weights: str | None = None, hub_dir: str | None = None,
                 image_size: int | None = None) -> None:
        super().__init__()
        if transform not in TRANSFORMS:
            raise ValueError(f"model.style_generator.transform={transform!r}: expected one of {TRANSFORMS}")
        if cond_dim:
            raise ValueError("FeatureStatsStyle has no λ input: use a policy that does not condition the "
                             "generator (not policy=conditional / per_image) with this model")
        self.cond_dim = 0
        self.transform = transform
        self.image_size = image_size
        self.encoder = frozen_vgg(pretrained, vgg_weights, hub_dir)
        vgg = [LAYER_CHANNELS[k] for k in LEVELS]
        # A generator with the output colour stage asks for one more level: the style image's RGB statistics.
        self.levels = (*LEVELS, RGB) if list(modulation_dims) == [*vgg, 3] else LEVELS
        self.channels = [*vgg, 3] if RGB in self.levels else vgg
        if modulation_dims and list(modulation_dims) != self.channels:
            raise ValueError(f"FeatureStatsStyle modulates VGG levels with {vgg} channels (+ 3 for RGB); the "
                             f"generator asks for {list(modulation_dims)}: pair it with FeatureTransformGenerator")
        self.modulation_dims = list(self.channels)
        self.style_dim = sum(c + c * c for c in self.channels)

    def stats(self, style: Tensor) -> dict[str, tuple[Tensor, Tensor]]:
        """Per-level (mean (B,C), covariance (B,C,C)) of ``style``'s VGG features."""
        if self.image_size is not None and max(style.shape[-2:]) > self.image_size:
            scale = self.image_size / max(style.shape[-2:])
            style = F.interpolate(style, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
        with torch.no_grad():
            feats = self.encoder(style, LEVELS)
        return {k: channel_mean_cov(feats[k]) for k in LEVELS} | {RGB: channel_mean_cov(style)}

    def code_from_stats(self, stats: Stats) -> Tensor:
        """Flatten per-level statistics into one code (B, style_dim)."""
        return torch.cat([torch.cat([stats[k][0].float(), stats[k][1].float().flatten(1)], 1)
                          for k in self.levels], 1)

    def encode(self, style: Tensor) -> Tensor:
        return self.code_from_stats(self.stats(style))

    def modulation(self, code: Tensor, cond: Tensor | None = None) -> ModParams:
        out: ModParams = []
        offset = 0
        for k, c in zip(self.levels, self.channels, strict=True):
            mean = code[:, offset : offset + c]
            cov = code[:, offset + c : offset + c + c * c].reshape(-1, c, c)
            out.append(rgb_colouring(mean, cov) if k == RGB else colouring(mean, cov, self.transform))
            offset += c + c * c
        return out

    def forward(self, style: Tensor, cond: Tensor | None = None) -> ModParams:
        return self.modulation(self.encode(style), cond)


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, 1, 1, padding_mode="reflect")


def _stack(h: Tensor, convs: nn.ModuleList) -> Tensor:
    for conv in convs:
        h = F.relu(conv(h))
    return h


class _Residual(nn.Module):
    """relu(h + conv(relu(conv(h)))), starting as the identity (second conv zero): blocks added at the
    coarse level widen the decoder's receptive field without disturbing what it starts from."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1, self.conv2 = _conv(channels, channels), _conv(channels, channels)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, h: Tensor) -> Tensor:
        return F.relu(h + self.conv2(F.relu(self.conv1(h))))


class FeatureTransformGenerator(nn.Module):
    """G: frozen VGG encoder → per-level feature transform → learned coarse-to-fine decoder.

    The decoder mirrors the VGG: relu3_1 (1/4) is decoded to 1/2 resolution and fused with the stylised
    relu2_1, then to full resolution and fused with the stylised relu1_1, then to RGB. The output is
    in [0, 1] in training too (:func:`~adaptive_st.models.layers.image_range`: the losses see what users get).

    Args:
        transform: ``"wct"`` (mean + covariance) or ``"adain"`` (mean + std).
        width: decoder channels at full resolution (×2 at 1/2 resolution).
        depth: 3×3 convs per resolution after each fusion (1 = the smallest decoder); more depth gives
            the decoder room to paint texture, at CPU cost.
        coarse_blocks: residual blocks at 1/4 resolution (relu3_1) before the first upsampling. Each
            widens the receptive field by 16 pixels (long strokes) for 1/16 of a full-resolution
            conv's cost.
        colour_match: strength of an output colour stage that gives the decoded image the style image's
            RGB mean and covariance (:func:`colour_transfer`, trained through; 0 = none). Why: the
            decoder leaves part of the colour statistics unmatched, and they are most of relu1_1's Gram.
        colour_match_at_inference: the stage's strength in eval mode (``stylize``, validation); ``None``: as
            in training (see :class:`ColourStage`).
        pretrained: load the VGG weights (training); ``False`` builds the architecture for checkpoints.
    """

    def __init__(self, transform: str = "wct", width: int = 64, depth: int = 1, coarse_blocks: int = 0,
                 pretrained: bool = True, vgg_weights: str | None = None, hub_dir: str | None = None,
                 colour_match: float = 0.0, colour_match_at_inference: float | None = None) -> None:
        super().__init__()
        if transform not in TRANSFORMS:
            raise ValueError(f"model.generator.transform={transform!r}: expected one of {TRANSFORMS}")
        if width < 8:
            raise ValueError(f"model.generator.width={width} must be >= 8")
        if depth < 1:
            raise ValueError(f"model.generator.depth={depth} must be >= 1")
        if coarse_blocks < 0:
            raise ValueError(f"model.generator.coarse_blocks={coarse_blocks} must be >= 0")
        self.transform = transform
        self.colour_stage = ColourStage(colour_match, colour_match_at_inference)
        self.encoder = frozen_vgg(pretrained, vgg_weights, hub_dir)
        c1, c2, c3 = (LAYER_CHANNELS[k] for k in LEVELS)
        self.dec3 = _conv(c3, 2 * width)
        self.dec2a = _conv(2 * width + c2, 2 * width)
        self.dec2b = _conv(2 * width, width)
        self.dec1a = _conv(width + c1, width)
        self.to_rgb = _conv(width, 3)
        # Extra convs per level (empty at depth 1, so depth-1 checkpoints keep their keys).
        self.extra3 = nn.ModuleList(_conv(2 * width, 2 * width) for _ in range(depth - 1))
        self.extra2 = nn.ModuleList(_conv(2 * width, 2 * width) for _ in range(depth - 1))
        self.extra1 = nn.ModuleList(_conv(width, width) for _ in range(depth - 1))
        self.coarse = nn.Sequential(*(_Residual(2 * width) for _ in range(coarse_blocks)))  # empty: old keys
        self.content_stats = ContentStatistics()  # no parameters: checkpoints keep their keys

    @property
    def modulation_dims(self) -> list[int]:
        return [LAYER_CHANNELS[k] for k in LEVELS] + ([3] if self.colour_stage.enabled else [])

    @property
    def last_layer(self) -> nn.Parameter:
        return self.to_rgb.weight

    @property
    def receptive_radius(self) -> int:
        """Receptive-field radius of an output pixel (px), which sets tiled inference's overlap. Declared
        rather than walked: the decoder upsamples functionally, which a walk over modules cannot see."""
        radius = 13                                              # VGG to relu3_1: 3×3 convs and 2×2 pools
        radius += 4 * (1 + len(self.extra3) + 2 * len(self.coarse)) + 4  # 3×3 convs at 1/4, nearest ×2
        radius += 2 * (2 + len(self.extra2)) + 2                 # at 1/2, nearest ×2
        return radius + 2 + len(self.extra1)                     # at full resolution

    def transformed(self, feats: Mapping[str, Tensor], params: ModParams,
                    alpha: float | Tensor = 1.0) -> dict[str, Tensor]:
        """The stylised features the decoder inverts (also the AdaIN-style content target)."""
        return {k: transform_features(feats[k], mean, colour, self.transform, alpha, self.content_stats(feats[k]))
                for k, (mean, colour) in zip(LEVELS, params[: len(LEVELS)], strict=True)}

    def decode(self, t: Mapping[str, Tensor], params: ModParams | None = None, alpha: float | Tensor = 1.0) -> Tensor:
        """The stylised features → RGB in [0, 1], then the colour stage (with ``params``' RGB level)."""
        out = self._decode(t)
        if not self.colour_stage.enabled:
            return out
        if params is None or len(params) != len(self.modulation_dims):
            raise ValueError("this generator has a colour stage: decode needs the modulation with its RGB level")
        return image_range(self.colour_stage(out, params[-1], alpha), self.training)

    def _decode(self, t: Mapping[str, Tensor]) -> Tensor:
        h = self.coarse(_stack(F.relu(self.dec3(t["relu3_1"])), self.extra3))
        h = F.interpolate(h, size=t["relu2_1"].shape[-2:], mode="nearest")
        h = _stack(F.relu(self.dec2a(torch.cat([h, t["relu2_1"].to(h.dtype)], 1))), self.extra2)
        h = F.relu(self.dec2b(h))
        h = F.interpolate(h, size=t["relu1_1"].shape[-2:], mode="nearest")
        h = _stack(F.relu(self.dec1a(torch.cat([h, t["relu1_1"].to(h.dtype)], 1))), self.extra1)
        return image_range(self.to_rgb(h), self.training)

    def forward(self, x: Tensor, params: ModParams, alpha: float | Tensor = 1.0,
                feats: Mapping[str, Tensor] | None = None) -> Tensor:
        """``x`` (B,3,H,W) in [0,1], H and W multiples of 4; ``feats``: its VGG features if already computed."""
        if x.shape[-1] % 4 or x.shape[-2] % 4:
            raise ValueError(f"FeatureTransformGenerator needs H and W divisible by 4, got {tuple(x.shape[-2:])}")
        if len(params) != len(self.modulation_dims):
            raise ValueError(f"expected {len(self.modulation_dims)} (mean, colouring) pairs, got {len(params)}")
        chunk = max(1, _INDEX_LIMIT // ((self.to_rgb.in_channels + LAYER_CHANNELS["relu1_1"]) * x[0, 0].numel()))
        if feats is None and x.shape[0] > chunk:
            # Big batches of big images: convolutions and padding index with 32-bit integers, so the
            # largest activation of one call must stay under 2^31 elements (seen at 64 × 512² on a GPU).
            def part(t: Tensor, i: int) -> Tensor:  # per-sample tensors are sliced, broadcast ones kept
                return t[i : i + chunk] if t.ndim and t.shape[0] == x.shape[0] else t

            return torch.cat([self(x[i : i + chunk], [(part(m, i), part(c, i)) for m, c in params],
                                   part(torch.as_tensor(alpha), i)) for i in range(0, x.shape[0], chunk)])
        if feats is None:
            with torch.no_grad():
                feats = self.encoder(x, LEVELS)
        return self.decode(self.transformed(feats, params, alpha), params, alpha)
