"""Overlapping tiles with linear blending, so large images stylize within bounded memory and without seams.

Tiles are balanced (equal sizes, multiples of 8, at least ``overlap`` shared with each neighbour) and
their outputs are cross-faded linearly in the middle of each overlap, where both tiles computed the
pixel from its full receptive field, so the blend is seamless. AdaIN statistics
come from a thumbnail pass (``norm_stats``), so every tile is normalised like the whole image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

# Defaults for ``tile=None`` ("auto") and the statistics thumbnail live in the torch-free ``choices``.
from adaptive_st.inference.choices import AUTO_TILE_ABOVE as AUTO_TILE_ABOVE
from adaptive_st.inference.choices import DEFAULT_STATS_SIZE as DEFAULT_STATS_SIZE
from adaptive_st.inference.choices import DEFAULT_TILE as DEFAULT_TILE
from adaptive_st.inference.norm_stats import StatsStore
from adaptive_st.inference.padding import MULTIPLE

#: Width of the linear cross-fade between neighbouring tiles (px).
BLEND = 16


def _round_up(value: int, multiple: int = MULTIPLE) -> int:
    return int(math.ceil(value / multiple) * multiple)


def axis_spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """Start/end of balanced tiles covering ``[0, length)``; ``length`` and the result are multiples of 8."""
    if tile % MULTIPLE or overlap % MULTIPLE or length % MULTIPLE:
        raise ValueError(f"tile={tile}, overlap={overlap}, length={length} must be multiples of {MULTIPLE}")
    if not 0 <= overlap < tile:
        raise ValueError(f"tile overlap={overlap} must be in [0, tile={tile})")
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    size = min(tile, _round_up(math.ceil((length + (n - 1) * overlap) / n)))
    starts = [round(i * (length - size) / (n - 1) / MULTIPLE) * MULTIPLE for i in range(n)]
    return [(s, s + size) for s in starts]


def axis_weights(spans: list[tuple[int, int]], blend: int = BLEND) -> list[Tensor]:
    """1-D blend weight of each tile: a linear cross-fade ``blend`` px wide, centred in the overlap with
    each neighbour; the weights of all tiles sum to 1 at every pixel.

    Centred and narrow because a tile's outputs nearest its cut edge are the least exact (their
    receptive field is cut): with the default overlap (receptive diameter + BLEND) every blended pixel
    is computed from its full receptive field by both tiles, so the cross-fade mixes equal values.
    """
    weights = []
    for i, (start, end) in enumerate(spans):
        pos = torch.arange(start, end, dtype=torch.float32) + 0.5
        w = torch.ones(end - start)
        if i > 0:  # fade in across the overlap with the previous tile
            w = torch.minimum(w, _fade(pos, start, spans[i - 1][1], blend))
        if i + 1 < len(spans):  # fade out across the overlap with the next tile
            w = torch.minimum(w, 1 - _fade(pos, spans[i + 1][0], end, blend))
        weights.append(w)
    return weights


def _fade(pos: Tensor, overlap_start: int, overlap_end: int, blend: int) -> Tensor:
    """0 → 1 across the middle ``blend`` px of ``[overlap_start, overlap_end)`` (a hard step if empty)."""
    width = min(blend, overlap_end - overlap_start)
    centre = (overlap_start + overlap_end) / 2
    if width <= 0:
        return (pos >= centre).float()
    return ((pos - centre) / width + 0.5).clamp(0, 1)


def thumbnail(x: Tensor, stats_size: int, min_side: int = MULTIPLE) -> Tensor:
    """``x`` itself when its longer side fits ``stats_size``, else an antialiased downscale (multiple of 8,
    no side under ``min_side``: G's minimum, so a long thin strip's thumbnail still runs)."""
    h, w = x.shape[-2:]
    if max(h, w) <= stats_size:
        return x
    scale = stats_size / max(h, w)
    low = _round_up(max(MULTIPLE, min_side))
    size = (max(low, _round_up(round(h * scale))), max(low, _round_up(round(w * scale))))
    return F.interpolate(x.float(), size=size, mode="bilinear", antialias=True, align_corners=False).to(x.dtype)


@torch.no_grad()
def run_tiled(run: Callable[[Tensor], Tensor], x: Tensor, store: StatsStore, tile: int, overlap: int,
              stats_size: int = DEFAULT_STATS_SIZE, min_side: int = MULTIPLE) -> Tensor:
    """``run`` (the generator on a batch) over tiles of ``x`` (B,3,H,W), H and W multiples of 8.

    ``store`` must route ``run``'s AdaIN layers (``shared_statistics``): it records on the thumbnail and
    replays on every tile. The blended output is accumulated in float32 on ``x``'s device (the weights
    are a partition of unity, so no normalisation pass is needed).
    """
    h, w = x.shape[-2:]
    rows, cols = axis_spans(h, tile, overlap), axis_spans(w, tile, overlap)
    store.record()
    run(thumbnail(x, stats_size, min_side))
    out = torch.zeros(x.shape[0], 3, h, w, device=x.device)
    for (y0, y1), wy in zip(rows, axis_weights(rows)):
        for (x0, x1), wx in zip(cols, axis_weights(cols)):
            store.replay()
            piece = run(x[..., y0:y1, x0:x1]).float()
            out[..., y0:y1, x0:x1] += piece * (wy.to(x.device)[:, None] * wx.to(x.device)[None, :])
    return out
