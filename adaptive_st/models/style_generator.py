"""Style generator S: target style → style code → AdaIN (γ, β) for every modulated layer of G.

Two ways to obtain the style code, chosen by config: encode a style *image* (arbitrary styles)
or look up a learned *embedding* for a fixed set of style ids. An optional per-sample condition
(the loss weight λ, for loss-conditional training) is appended to the code, so one trained model
can be asked for a different style/content trade-off at inference.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from adaptive_st.models.layers import ConvAct

ModParams = list[tuple[Tensor, Tensor]]


class StyleImageEncoder(nn.Module):
    """A small CNN on a downsized style image; mean+std pooling captures texture statistics."""

    def __init__(self, style_dim: int = 64, width: int = 32, image_size: int = 128) -> None:
        super().__init__()
        self.image_size = image_size
        w = width
        self.features = nn.Sequential(
            ConvAct(3, w, stride=2),
            ConvAct(w, 2 * w, stride=2),
            ConvAct(2 * w, 4 * w, stride=2),
            ConvAct(4 * w, 4 * w, stride=1),
        )
        self.proj = nn.Linear(8 * w, style_dim)

    def forward(self, style: Tensor) -> Tensor:
        if style.shape[-1] != self.image_size or style.shape[-2] != self.image_size:
            style = F.interpolate(style, size=(self.image_size, self.image_size), mode="bilinear",
                                  antialias=True, align_corners=False)
        h = self.features(style * 2 - 1).float()
        var, mean = torch.var_mean(h, dim=(2, 3), correction=0)
        return self.proj(torch.cat([mean, (var + 1e-5).sqrt()], dim=1).to(style.dtype))


class StyleEmbedding(nn.Module):
    """A learned code per style id, for models trained on a fixed style set."""

    def __init__(self, num_styles: int, style_dim: int = 64) -> None:
        super().__init__()
        if num_styles < 1:
            raise ValueError(f"model.style.num_styles={num_styles} must be >= 1")
        self.table = nn.Embedding(num_styles, style_dim)
        nn.init.normal_(self.table.weight, std=1.0)

    def forward(self, style_ids: Tensor) -> Tensor:
        return self.table(style_ids.long())


class StyleGenerator(nn.Module):
    """Maps a style (image or id) and an optional condition to G's modulation parameters.

    Args:
        modulation_dims: channels of each AdaIN site in G (``ContentGenerator.modulation_dims``).
        encoder: ``"image"`` or ``"embedding"``.
        cond_dim: size of the per-sample condition (1 for a λ-conditioned model, else 0).
    """

    def __init__(
        self,
        modulation_dims: Sequence[int],
        style_dim: int = 64,
        encoder: str = "image",
        width: int = 32,
        image_size: int = 128,
        num_styles: int = 0,
        cond_dim: int = 0,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        if encoder == "image":
            self.encoder: nn.Module = StyleImageEncoder(style_dim, width, image_size)
        elif encoder == "embedding":
            self.encoder = StyleEmbedding(num_styles, style_dim)
        else:
            raise ValueError(f"model.style.encoder={encoder!r}: expected 'image' or 'embedding'")
        if cond_dim < 0:
            raise ValueError("model.style.cond_dim must be >= 0")
        self.encoder_kind = encoder
        self.cond_dim = cond_dim
        self.style_dim = style_dim
        self.modulation_dims = list(modulation_dims)
        self.mlp = nn.Sequential(nn.Linear(style_dim + cond_dim, hidden), nn.LeakyReLU(0.2, inplace=True))
        self.head = nn.Linear(hidden, 2 * sum(self.modulation_dims))
        # Start near the identity modulation (γ≈1, β≈0) so G first learns plain reconstruction.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def encode(self, style: Tensor) -> Tensor:
        """Style code ``(B, style_dim)`` from style images ``(B,3,H,W)`` or ids ``(B,)``."""
        return self.encoder(style)

    def modulation(self, code: Tensor, cond: Tensor | None = None) -> ModParams:
        """(γ, β) per AdaIN site; ``cond`` (B,) or (B, cond_dim) is required iff ``cond_dim > 0``."""
        if self.cond_dim:
            if cond is None:
                raise ValueError("this model is λ-conditioned (cond_dim>0): pass a condition (λ) per sample")
            cond = cond.reshape(code.shape[0], -1).to(code.dtype)
            # λ spans orders of magnitude; its log is the natural scale to condition on.
            code = torch.cat([code, torch.log(cond.clamp_min(1e-8))], dim=1)
        raw = self.head(self.mlp(code))
        out: ModParams = []
        offset = 0
        for d in self.modulation_dims:
            gamma = 1.0 + raw[:, offset : offset + d]
            beta = raw[:, offset + d : offset + 2 * d]
            out.append((gamma, beta))
            offset += 2 * d
        return out

    def forward(self, style: Tensor, cond: Tensor | None = None) -> ModParams:
        return self.modulation(self.encode(style), cond)
