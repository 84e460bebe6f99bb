"""Discriminator D: (multi-scale) PatchGAN with spectral norm.

Patch logits judge local texture, which is what "looks like this style" means; spectral norm
keeps D Lipschitz so the adversarial term stays a useful signal next to the perceptual losses.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm


class PatchDiscriminator(nn.Module):
    """One PatchGAN: stride-2 convs then a 1-channel logit map (receptive field ~ 2^n_layers·4)."""

    def __init__(self, width: int = 32, n_layers: int = 3, use_spectral_norm: bool = True) -> None:
        super().__init__()
        sn = spectral_norm if use_spectral_norm else (lambda m: m)
        layers: list[nn.Module] = [sn(nn.Conv2d(3, width, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for i in range(1, n_layers):
            nc = min(width * 2**i, width * 8)
            layers += [sn(nn.Conv2d(c, nc, 4, 2, 1)), nn.LeakyReLU(0.2, inplace=True)]
            c = nc
        layers += [sn(nn.Conv2d(c, c, 3, 1, 1)), nn.LeakyReLU(0.2, inplace=True), sn(nn.Conv2d(c, 1, 3, 1, 1))]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x * 2 - 1)


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` PatchGANs on the image at 1, 1/2, 1/4 … resolution; returns a list of logits."""

    def __init__(self, width: int = 32, n_layers: int = 3, num_scales: int = 1, use_spectral_norm: bool = True) -> None:
        super().__init__()
        if num_scales < 1 or n_layers < 1:
            raise ValueError("model.discriminator: num_scales and n_layers must be >= 1")
        self.scales = nn.ModuleList(
            PatchDiscriminator(width, n_layers, use_spectral_norm) for _ in range(num_scales)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        logits = []
        for i, d in enumerate(self.scales):
            if i:
                x = F.avg_pool2d(x, 2)
            logits.append(d(x))
        return logits
