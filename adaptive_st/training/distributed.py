"""Rank-averaging of small tensors: every rank must feed a policy the same numbers."""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_mean(values: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Mean of each scalar across ranks in one all-reduce (identity when not distributed)."""
    if not values or not is_distributed():
        return dict(values)
    keys = sorted(values)
    packed = torch.stack([values[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(packed, op=dist.ReduceOp.SUM)
    packed /= dist.get_world_size()
    return {k: packed[i] for i, k in enumerate(keys)}


def any_rank(flag: bool, device: torch.device) -> bool:
    """True if ``flag`` is true on any rank, so all ranks skip (or take) a step together."""
    if not is_distributed():
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)
