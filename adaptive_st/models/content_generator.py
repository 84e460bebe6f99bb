"""Content generator G: a light encoder–decoder that keeps the source's spatial structure.

Kept deliberately small (VGG is used only inside the losses): three stride-2 convs bring the
image to 1/8 resolution, style-modulated residual blocks work there, and upsample+conv stages
(each modulated by AdaIN) bring it back. A skip from the 1/2-resolution stem keeps fine edges,
which is what SSIM-to-source rewards.

With ``residual=True`` (default) G predicts a change of the source in logit space,
``sigmoid(logit(x) + Δ)``, and Δ starts at zero: training begins from the identity and moves
towards the style as far as the loss weights ask, instead of first re-learning to draw the photo.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from adaptive_st.models.layers import ConvAct, ModulatedResBlock, UpModulated, conv3x3

ModParams = list[tuple[Tensor, Tensor]]


class ContentGenerator(nn.Module):
    """Encoder → modulated residual blocks → modulated decoder.

    Args:
        width: channels after the stem; the bottleneck has ``4 * width``.
        n_res_blocks: modulated residual blocks at 1/8 resolution.
        skip: add the stem's features back before the last stage (sharper content).
        residual: predict a logit-space change of the input (identity at initialisation).
    """

    def __init__(self, width: int = 16, n_res_blocks: int = 2, skip: bool = True, residual: bool = True) -> None:
        super().__init__()
        if width < 4 or n_res_blocks < 0:
            raise ValueError(f"model.generator: width={width} must be >= 4, n_res_blocks >= 0")
        w = width
        self.stem = ConvAct(3, w, stride=2)
        self.down1 = ConvAct(w, 2 * w, stride=2)
        self.down2 = ConvAct(2 * w, 4 * w, stride=2)
        self.blocks = nn.ModuleList(ModulatedResBlock(4 * w) for _ in range(n_res_blocks))
        self.up1 = UpModulated(4 * w, 2 * w)
        self.up2 = UpModulated(2 * w, w)
        self.up3 = UpModulated(w, w)
        self.to_rgb = conv3x3(w, 3)
        self.skip = skip
        self.residual = residual
        if residual:
            nn.init.zeros_(self.to_rgb.weight)
            nn.init.zeros_(self.to_rgb.bias)

    @property
    def modulated(self) -> list[nn.Module]:
        return [*self.blocks, self.up1, self.up2, self.up3]

    @property
    def modulation_dims(self) -> list[int]:
        """Channels of every AdaIN site, in the order ``forward`` consumes (γ, β) pairs."""
        return [d for m in self.modulated for d in m.modulation_dims]

    @property
    def last_layer(self) -> nn.Parameter:
        """The weight VQGAN-style / GradNorm policies take gradient norms on."""
        return self.to_rgb.weight

    def forward(self, x: Tensor, params: ModParams, alpha: float | Tensor = 1.0) -> Tensor:
        """``x`` in [0, 1], (B, 3, H, W) with H, W multiples of 8; returns the same shape in [0, 1]."""
        if x.shape[-1] % 8 or x.shape[-2] % 8:
            raise ValueError(f"ContentGenerator needs H and W divisible by 8, got {tuple(x.shape[-2:])}")
        expected = len(self.modulation_dims)
        if len(params) != expected:
            raise ValueError(f"expected {expected} (gamma, beta) pairs, got {len(params)}")
        s = self.stem(x * 2 - 1)
        h = self.down2(self.down1(s))
        i = 0
        for block in self.blocks:
            h = block(h, params[i : i + 2], alpha)
            i += 2
        h = self.up1(h, params[i : i + 1], alpha)
        h = self.up2(h, params[i + 1 : i + 2], alpha)
        if self.skip:
            h = h + s
        h = self.up3(h, params[i + 2 : i + 3], alpha)
        delta = self.to_rgb(h)
        if self.residual:
            x = x.clamp(1e-3, 1 - 1e-3)
            delta = delta + torch.log(x) - torch.log1p(-x)
        return torch.sigmoid(delta)
