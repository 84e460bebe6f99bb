"""Exponential moving average of the generator weights (G and S) for validation, export and stylizing.

GAN generators keep oscillating around a good solution; an average of the iterates is steadier and
usually better than the last one (Karras et al. 2018; Yazıcı et al. 2019), at the cost of one copy of
G and S. The copy is a :class:`Stylizer`, so it stylizes exactly like the live networks, and it sits
in the LightningModule under ``ema.``: checkpoints hold ``ema.generator.*`` / ``ema.style_generator.*``
next to the live ``generator.*`` / ``style_generator.*``.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from adaptive_st.models import ContentGenerator, StyleGenerator, Stylizer


class StylizerEMA(Stylizer):
    """θ_ema ← β·θ_ema + (1−β)·θ after every generator step (buffers are copied, not averaged).

    Starts as a copy of the live G and S. Its parameters are frozen (``requires_grad=False``), so no
    optimizer and no DDP reducer sees them, and they are parameters rather than buffers, so DDP does
    not broadcast them either: every rank applies the same update to identical weights, which keeps
    the average identical across ranks without any communication.

    Args:
        generator / style_generator: the live networks to average (copied here).
        decay: β in (0, 1); 0.999 averages over roughly the last 1000 generator steps.
    """

    def __init__(self, generator: ContentGenerator, style_generator: StyleGenerator, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"module.ema_decay={decay}: must be in (0, 1) or null")
        super().__init__(copy.deepcopy(generator), copy.deepcopy(style_generator))
        self.decay = float(decay)
        self.requires_grad_(False)

    def _pairs(self, live: Stylizer) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        mine = [*self.generator.parameters(), *self.style_generator.parameters()]
        theirs = [*live.generator.parameters(), *live.style_generator.parameters()]
        if len(mine) != len(theirs):
            raise RuntimeError("StylizerEMA: the live networks do not match the averaged copy")
        return mine, theirs

    @torch.no_grad()
    def update(self, live: Stylizer) -> None:
        """One averaging step towards ``live`` (one fused foreach kernel per dtype/device group)."""
        mine, theirs = self._pairs(live)
        torch._foreach_lerp_(mine, [p.detach() for p in theirs], 1.0 - self.decay)
        for mod_mine, mod_live in ((self.generator, live.generator), (self.style_generator, live.style_generator)):
            for b_mine, b_live in zip(mod_mine.buffers(), mod_live.buffers(), strict=True):
                b_mine.copy_(b_live)
