"""The light model: micro encoders and dual modulation, no VGG on the photo path (after MicroAST, Wang et al.
AAAI'23), trained on the quality model's objective or distilled from the quality model.

Why this design: the quality model needs a VGG pass and a covariance eigendecomposition per image, about
2 s per 512² image on a CPU. Here both encoders are a few small convolutions, and the style still enters
as *statistics* (channel mean and std of the style encoder's features at every level), which is what
lets a feed-forward model handle paintings it never saw:

* **S** (:class:`MicroStyle`): style image → micro encoder (or, ``encoder="vgg"``, the frozen VGG: run once per
  style, it generalises to unseen paintings from pretrained statistics) → per-level (mean, std) = the style code →
  (a) AdaIN targets for the content features at every level, and (b) an MLP from the code to (γ, β) of
  every decoder normalisation ("dual modulation"). An optional λ condition sets a style strength α(λ): on G's output
  (the default), or at every AdaIN site with λ joining the MLP's input.
* **G** (:class:`MicroGenerator`): content → micro encoder → AdaIN of each level to the style's
  statistics → a decoder that starts at 1/8 resolution and adds the stylised finer levels back while
  upsampling (coarse-to-fine, like the quality model's decoder).

Trained with the quality recipe's VGG losses (``experiment=cpu_micro``): its content target is the
photo's VGG features whitened and coloured with the painting's statistics, the quality model's own
objective, so the light model learns to paint what the quality model paints without running a VGG.
Every normalisation is a :class:`~adaptive_st.models.layers.AdaIN`, so tiled inference shares whole-image statistics as with
the base model, and the graph exports to ONNX (convolutions, means and nearest upsampling only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptive_st.losses.feature_stats import channel_mean_cov
from adaptive_st.losses.vgg_layout import LAYER_CHANNELS
from adaptive_st.models.feature_transform import (
    LEVELS,
    PATCH,
    PATCH_DIM,
    RGB,
    ColourStage,
    TextureStage,
    frozen_vgg,
    patch_colouring,
    patch_mean_cov,
    rgb_colouring,
)
from adaptive_st.models.layers import (
    AdaIN,
    ConvAct,
    ModulatedResBlock,
    UpModulated,
    blend_with_photo,
    conv3x3,
)

ModParams = list[tuple[Tensor, Tensor]]
#: Resolution levels of the micro encoder: full, 1/2, 1/4 and 1/8.
NUM_LEVELS = 4
#: S's feature space: its own micro encoder (no VGG at inference), or the frozen VGG to relu3_1 on the
#: style image only (pretrained statistics generalise to unseen paintings; the content path stays micro).
STYLE_ENCODERS = ("micro", "vgg")
#: How the last decoder stage upsamples (:class:`MicroGenerator` ``last_stage``); None: like the others.
LAST_STAGES = (None, "full_res")
#: Where a λ-conditioned S's style strength α(λ) acts (:class:`MicroStyle` ``strength_at``).
STRENGTH_SITES = ("sites", "output")
#: Size of the style code's RGB part (mean + covariance) when G has an output colour stage.
RGB_CODE = 3 + 9
#: Size of the style code's patch part (3×3-patch mean + covariance) when G has an output texture stage.
PATCH_CODE = PATCH_DIM + PATCH_DIM**2


def level_channels(width: int) -> list[int]:
    return [width * 2**i for i in range(NUM_LEVELS)]


class MicroEncoder(nn.Module):
    """Four levels (full, 1/2, 1/4, 1/8 resolution; ``width`` × 1, 2, 4, 8 channels) and a residual
    block at the coarsest, whose receptive field (≈ 70 px) is what brush strokes need."""

    def __init__(self, width: int) -> None:
        super().__init__()
        c = level_channels(width)
        self.stages = nn.ModuleList([ConvAct(3, c[0]), *(ConvAct(c[i - 1], c[i], stride=2) for i in range(1, NUM_LEVELS))])
        self.res1 = conv3x3(c[-1], c[-1])
        self.res2 = conv3x3(c[-1], c[-1])

    def forward(self, x: Tensor) -> list[Tensor]:
        feats, h = [], x * 2 - 1
        for stage in self.stages:
            h = stage(h)
            feats.append(h)
        feats[-1] = h + self.res2(F.leaky_relu(self.res1(h), 0.2))
        return feats


def mean_std(x: Tensor, eps: float = 1e-5) -> tuple[Tensor, Tensor]:
    """Channel mean and std (B, C) in float32 (bf16 variances of small activations underflow)."""
    var, mean = torch.var_mean(x.float(), dim=(2, 3), correction=0)
    return mean, (var + eps).sqrt()


class MicroStyle(nn.Module):
    """S: micro encoder → per-level channel (mean, std) = the code → level AdaIN targets + decoder (γ, β).

    Args:
        modulation_dims: G's sites: the encoder's level channels, then the decoder's AdaIN channels.
        width: encoder width (must equal G's, so the levels line up).
        hidden: MLP width from code (+ λ) to the decoder's (γ, β).
        cond_dim: size of the λ condition (1 for λ-conditioned policies, else 0).
        image_size: style images are encoded at most this large (statistics, not pixels, matter).
        encoder: ``"micro"`` (a learned micro encoder; its own statistics are the level AdaIN targets) or
            ``"vgg"`` (the frozen VGG's relu1_1..relu3_1 mean/std is the code and linear heads predict the
            level targets: a pretrained statistic generalises to paintings never seen in training, at the
            cost of a VGG pass over the style image only). ``pretrained``/``vgg_weights``/``hub_dir``: as
            for the quality model (the VGG weights are saved in checkpoints).
        strength_slope: (λ-conditioned) the initial k of the style strength α(λ) = sigmoid(k·log λ + b).
        strength_gain: (λ-conditioned) k and b are stored divided by this gain, so the optimizer moves them
            ``gain`` times faster than the networks' weights. Why: Adam moves a parameter by about its learning
            rate per step, so at 1e-3 a 150-batch fine-tuning moved k and b by < 0.1 and the init was the sweep.
        strength_at: (λ-conditioned) where α(λ) acts: ``"sites"`` (every AdaIN site keeps 1 − α of its own
            statistics) or ``"output"`` (G runs at full strength and its output is blended with the photo,
            like ``--alpha`` of an unconditioned model). Why ``"output"``: a warm model trained at α = 1 meets
            partly blended statistics for the first time at the sites, and re-learning them costs the whole
            λ range quality (see conf/model/micro.yaml).

    When G has an output colour stage (``MicroGenerator(colour_match>0)``: its last site has 3 channels, which no
    AdaIN site has), the code ends with the style image's RGB mean and covariance, and the last modulation is
    the colour stage's (mean, Cholesky factor); the heads never see that part. An output texture stage
    (``MicroGenerator(texture_match_at_inference>0)``, after the colour stage: a last site of 27 channels) adds the
    style image's 3×3-patch mean and covariance to the code and (mean, covariance square root) to the modulation.
    """

    encoder_kind = "image"

    def __init__(self, modulation_dims: Sequence[int], width: int = 16, hidden: int = 128, cond_dim: int = 0,
                 image_size: int | None = 512, encoder: str = "micro", pretrained: bool = True,
                 vgg_weights: str | None = None, hub_dir: str | None = None, strength_slope: float = 1.0,
                 strength_at: str = "output", strength_gain: float = 1.0) -> None:
        super().__init__()
        self.levels = level_channels(width)
        dims = list(modulation_dims)
        if dims[:NUM_LEVELS] != self.levels:
            raise ValueError(f"MicroStyle(width={width}) has levels {self.levels}, the generator asks for "
                             f"{dims[:NUM_LEVELS]}: set model.style_generator.width to model.generator.width")
        if cond_dim < 0:
            raise ValueError("model.style_generator.cond_dim must be >= 0")
        if strength_at not in STRENGTH_SITES:
            raise ValueError(f"model.style_generator.strength_at={strength_at!r}: expected one of {STRENGTH_SITES}")
        #: Whether G applies the style strength α by blending its output with the photo (``output_alpha``):
        #: always for an unconditioned model (a user's ``--alpha``), and for a λ-conditioned one at ``output``.
        self.blends_output = not cond_dim or strength_at == "output"
        self.modulation_dims = dims
        #: The output texture stage's site (27 channels) follows the colour stage's (3 channels, which no AdaIN site
        #: has: ``width`` ≥ 4): G has a texture stage only with a colour stage.
        self.texture = dims[-2:] == [3, PATCH_DIM]
        self.colour = self.texture or dims[-1] == 3
        self.decoder_dims = dims[NUM_LEVELS : len(dims) - self.colour - self.texture]
        self.cond_dim = cond_dim
        #: λ is an input of the heads only at ``sites``; with the output gate it acts through α alone. Why: G then
        #: is one full-strength model, and a log λ input (a fresh column on a warm model) moved every decoder
        #: modulation in fine-tuning: trained at λ=30 alone (compare_quality, seed 0) G reached a held-out style
        #: distance of 0.939 with it, 0.863 without it, where ``constant`` λ=30 reached 0.817.
        self.heads_cond_dim = cond_dim if strength_at == "sites" else 0
        if cond_dim:
            # λ → style strength α = sigmoid(k·log λ + b) at every AdaIN site (α=0: the content's own
            # statistics). Why: the AdaIN levels carry most of the stylization and take the style code
            # unconditioned, so λ through the decoder MLP alone barely moved the output (a λ sweep of
            # 1.5…60 changed the held-out style distance by 0.3 %). Init k=strength_slope, b=0: α = λᵏ/(1+λᵏ).
            if not strength_gain > 0:
                raise ValueError(f"model.style_generator.strength_gain={strength_gain}: must be > 0")
            self.strength_gain = float(strength_gain)
            self.lambda_gate = nn.Parameter(torch.tensor([float(strength_slope) / self.strength_gain, 0.0]))
        self.image_size = image_size
        #: With the VGG encoder, training hands S the style statistics its loss already computed.
        self.reads_feature_stats = encoder == "vgg"
        if encoder not in STYLE_ENCODERS:
            raise ValueError(f"model.style_generator.encoder={encoder!r}: expected one of {STYLE_ENCODERS}")
        self.encoder_name = encoder
        if encoder == "micro":
            self.encoder: nn.Module = MicroEncoder(width)
            self.stats_dim = 2 * sum(self.levels)
            self.level_head: nn.Linear | None = None
        else:
            self.encoder = frozen_vgg(pretrained, vgg_weights, hub_dir)
            self.stats_dim = 2 * sum(LAYER_CHANNELS[k] for k in LEVELS)
            # The micro levels' AdaIN targets, predicted from the VGG statistics: (raw std, mean) per channel,
            # starting at std 1, mean 0 (softplus(0.5413) = 1).
            self.level_head = nn.Linear(self.stats_dim + self.heads_cond_dim, 2 * sum(self.levels))
            nn.init.zeros_(self.level_head.weight)
            with torch.no_grad():
                self.level_head.bias.copy_(torch.cat([torch.cat([torch.full((c,), 0.5413), torch.zeros(c)])
                                                      for c in self.levels]))
        #: The code: the feature statistics the heads read, then (colour stage) the RGB mean and covariance.
        self.style_dim = self.stats_dim + RGB_CODE * self.colour + PATCH_CODE * self.texture
        self.mlp = nn.Sequential(nn.Linear(self.stats_dim + self.heads_cond_dim, hidden),
                                 nn.LeakyReLU(0.2, inplace=True))
        self.head = nn.Linear(hidden, 2 * sum(self.decoder_dims))
        nn.init.zeros_(self.head.weight)  # decoder modulation starts at the identity (γ=1, β=0)
        nn.init.zeros_(self.head.bias)

    def encode(self, style: Tensor) -> Tensor:
        """Code (B, style_dim): every level's channel mean then std. Mixing styles averages codes."""
        if self.image_size is not None and max(style.shape[-2:]) > self.image_size:
            scale = self.image_size / max(style.shape[-2:])
            style = F.interpolate(style, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
        if self.level_head is None:
            code = torch.cat([torch.cat(mean_std(f), 1) for f in self.encoder(style)], 1)
        else:
            with torch.no_grad():
                feats = self.encoder(style, LEVELS)
            code = torch.cat([torch.cat(mean_std(feats[k]), 1) for k in LEVELS], 1)
        return self._with_pixels(code, channel_mean_cov(style) if self.colour else None,
                                 patch_mean_cov(style) if self.texture else None)

    def _with_pixels(self, code: Tensor, rgb: tuple[Tensor, Tensor] | None,
                     patch: tuple[Tensor, Tensor] | None = None) -> Tensor:
        """The code, then the pixel statistics of the output stages: RGB (colour), 3×3 patches (texture)."""
        extra = [t.float().flatten(1) for pair in (rgb, patch) if pair is not None for t in pair]
        return torch.cat([code, *extra], 1) if extra else code

    def code_from_stats(self, stats: Mapping[str, tuple[Tensor, Tensor]]) -> Tensor:
        """The VGG code from per-layer (mean, covariance): what :meth:`encode` computes, without the VGG."""
        if not self.reads_feature_stats:
            raise ValueError("code_from_stats needs model.style_generator.encoder=vgg")
        code = torch.cat([torch.cat([stats[k][0].float(),
                                     stats[k][1].float().diagonal(dim1=-2, dim2=-1).clamp_min(0).add(1e-5).sqrt()], 1)
                          for k in LEVELS], 1)
        return self._with_pixels(code, stats[RGB] if self.colour else None, stats[PATCH] if self.texture else None)

    def modulation(self, code: Tensor, cond: Tensor | None = None) -> ModParams:
        """Per level (std, mean) as AdaIN's (γ, β), then (γ, β) for every decoder site."""
        out: ModParams = []
        code, rgb, patch = (code[:, : self.stats_dim], code[:, self.stats_dim : self.stats_dim + RGB_CODE],
                            code[:, self.stats_dim + RGB_CODE :])
        # VGG statistics (ReLU means and stds, ≥ 0, spanning decades) enter the heads on a log scale.
        x = code if self.level_head is None else torch.log(code.clamp_min(0) + 1e-2)
        if self.cond_dim and cond is None:
            raise ValueError("this model is λ-conditioned (cond_dim>0): pass a condition (λ) per sample")
        if self.heads_cond_dim:  # λ spans orders of magnitude; its log is the natural scale to condition on.
            x = torch.cat([x, torch.log(cond.reshape(code.shape[0], -1).to(x.dtype).clamp_min(1e-8))], 1)
        levels = code if self.level_head is None else self.level_head(x)
        offset = 0
        for c in self.levels:
            first, second = levels[:, offset : offset + c], levels[:, offset + c : offset + 2 * c]
            # The micro code holds (mean, std); the VGG head predicts (raw std, mean).
            out.append((second, first) if self.level_head is None else (F.softplus(first) + 1e-3, second))
            offset += 2 * c
        raw = self.head(self.mlp(x))
        offset = 0
        for d in self.decoder_dims:
            out.append((1.0 + raw[:, offset : offset + d], raw[:, offset + d : offset + 2 * d]))
            offset += 2 * d
        if self.colour:
            out.append(rgb_colouring(rgb[:, :3], rgb[:, 3:].reshape(-1, 3, 3)))
        if self.texture:
            out.append(patch_colouring(patch[:, :PATCH_DIM], patch[:, PATCH_DIM:].reshape(-1, PATCH_DIM, PATCH_DIM)))
        return out

    def forward(self, style: Tensor, cond: Tensor | None = None) -> ModParams:
        return self.modulation(self.encode(style), cond)

    def strength(self, cond: Tensor) -> Tensor:
        """The style strength α(λ) (B,) of a λ-conditioned model (see ``lambda_gate``)."""
        k, b = (self.lambda_gate * self.strength_gain).unbind()
        return torch.sigmoid(k * torch.log(cond.reshape(-1).float().clamp_min(1e-8)) + b)


class MicroGenerator(nn.Module):
    """G: micro encoder → AdaIN per level → modulated coarse-to-fine decoder (see the module docstring).

    Args:
        width: encoder channels at full resolution (×2 per level); 16 costs ≈ 7.7 GMAC per 512² image.
        n_res_blocks: modulated residual blocks at 1/8 resolution.
        conv_first: each decoder stage convolves at its coarse resolution, then upsamples
            (:class:`~adaptive_st.models.layers.UpModulated`): ≈ 5.0 GMAC at width 16 instead of 7.7, and
            a lower peak memory in ONNX Runtime.
        last_stage: ``"full_res"``: with ``conv_first``, the last decoder stage still upsamples first and
            convolves + AdaINs at full resolution (+0.9 GMAC at width 16, in the exact sub-pixel form of
            :func:`~adaptive_st.models.layers.upsample_conv`). Why: with every stage coarse, full-resolution
            detail comes only from the photo's own skip features and bilinear upsampling, so the output cannot
            paint fine strokes of its own.
        colour_match: strength of an output colour stage that gives the image the style image's RGB mean and
            covariance (the quality model's :func:`~adaptive_st.models.feature_transform.colour_transfer`,
            trained through; 0 = none). Why: matched after the fact it closed 2–4 points more of the held-out
            style distance, at a 3×3 matrix per image.
        colour_match_at_inference: the stage's strength in eval mode; ``None``: as in training
            (:class:`~adaptive_st.models.feature_transform.ColourStage`).
        texture_match, texture_match_at_inference, texture_passes: an output texture stage after the colour stage
            (:class:`~adaptive_st.models.feature_transform.TextureStage`): the style image's 3×3-patch mean and
            covariance, one 5×5 convolution per pass, strengths as for the colour stage. Why: the decoder's
            outputs leave most of the relu1_1 Gram distance they keep (sharpness, grain, colour across edges).
    """

    def __init__(self, width: int = 16, n_res_blocks: int = 1, conv_first: bool = False, last_stage: str | None = None,
                 colour_match: float = 0.0, colour_match_at_inference: float | None = None,
                 texture_match: float = 0.0, texture_match_at_inference: float | None = None,
                 texture_passes: int = 2) -> None:
        super().__init__()
        if width < 4 or n_res_blocks < 0:
            raise ValueError(f"model.generator: width={width} must be >= 4, n_res_blocks >= 0")
        self.colour_stage = ColourStage(colour_match, colour_match_at_inference)
        self.texture_stage = TextureStage(texture_match, texture_match_at_inference, texture_passes)
        if self.texture_stage.enabled and not self.colour_stage.enabled:
            raise ValueError("model.generator.texture_match needs the colour stage: set model.generator.colour_match "
                             "(or colour_match_at_inference) > 0")
        c = level_channels(width)
        self.encoder = MicroEncoder(width)
        self.level_norms = nn.ModuleList(AdaIN() for _ in c)
        self.blocks = nn.ModuleList(ModulatedResBlock(c[-1]) for _ in range(n_res_blocks))
        if last_stage not in LAST_STAGES:
            raise ValueError(f"model.generator.last_stage={last_stage!r}: expected one of {list(LAST_STAGES)}")
        self.ups = nn.ModuleList(UpModulated(c[i], c[i - 1], conv_first and not (i == 1 and last_stage == "full_res"))
                                 for i in range(NUM_LEVELS - 1, 0, -1))
        self.refine = ConvAct(c[0], c[0])
        self.to_rgb = conv3x3(c[0], 3)
        #: α blends the output with the photo instead of the statistics at every AdaIN site. Why: a model trained
        #: only at α = 1 has never seen its sites keep part of their own statistics; at α = 0.3 its activations
        #: reach 1e5 and the output saturates to green and black. A λ-conditioned model with
        #: ``strength_at="sites"`` trains over the whole range of α (λ sets it), so
        #: :class:`~adaptive_st.models.stylizer.Stylizer` turns this off for it.
        self.output_alpha = True

    @property
    def modulated(self) -> list[nn.Module]:
        return [*self.blocks, *self.ups]

    @property
    def modulation_dims(self) -> list[int]:
        """The encoder levels (AdaIN'd to the style's statistics), then every decoder AdaIN site in order."""
        return [*level_channels(self.refine.conv.in_channels), *(d for m in self.modulated for d in m.modulation_dims),
                *([3] if self.colour_stage.enabled else []), *([PATCH_DIM] if self.texture_stage.enabled else [])]

    @property
    def last_layer(self) -> nn.Parameter:
        return self.to_rgb.weight

    def forward(self, x: Tensor, params: ModParams, alpha: float | Tensor = 1.0) -> Tensor:
        """``x`` (B,3,H,W) in [0,1], H and W multiples of 8; output unbounded in training, [0,1] in eval."""
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"MicroGenerator needs H and W divisible by 8, got {tuple(x.shape[-2:])}")
        if len(params) != len(self.modulation_dims):
            raise ValueError(f"expected {len(self.modulation_dims)} modulation pairs, got {len(params)}")
        blend = self.output_alpha and not (isinstance(alpha, float) and alpha == 1.0)
        strength, alpha = alpha, (1.0 if blend else alpha)
        feats = self.encoder(x)
        levels = [norm(f, *p, alpha) for norm, f, p in zip(self.level_norms, feats, params, strict=False)]
        h, i = levels[-1], NUM_LEVELS
        for block in self.blocks:
            h = block(h, params[i : i + 2], alpha)
            i += 2
        for up, skip in zip(self.ups, reversed(levels[:-1]), strict=True):
            h = up(h, params[i : i + 1], alpha) + skip
            i += 1
        out = self.to_rgb(self.refine(h))
        if self.colour_stage.enabled:
            out = self.colour_stage(out, params[-1 - self.texture_stage.enabled], alpha)
        if self.texture_stage.enabled:
            out = self.texture_stage(out, params[-1], alpha)
        out = out if self.training else out.clamp(0, 1)
        return blend_with_photo(out, x, strength) if blend else out
