"""Which (content, style) pairs an evaluation uses: all of them, or N drawn with a fixed seed.

The draw depends only on the sorted file lists and the seed, so two runs (or two machines) evaluate
the same pairs, in the same order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Pair:
    content: Path
    style: Path


def make_pairs(contents: Sequence[Path], styles: Sequence[Path], num_pairs: int | None = None,
               seed: int = 0) -> list[Pair]:
    """All content × style pairs (content-major), or ``num_pairs`` of them sampled without replacement."""
    if not contents or not styles:
        raise ValueError("an evaluation needs at least one content and one style image")
    total = len(contents) * len(styles)
    if num_pairs is None or num_pairs >= total:
        chosen = range(total)
    else:
        if num_pairs < 1:
            raise ValueError(f"num_pairs={num_pairs}: must be >= 1 (or 'all')")
        chosen = sorted(np.random.default_rng(seed).choice(total, size=num_pairs, replace=False).tolist())
    return [Pair(contents[i // len(styles)], styles[i % len(styles)]) for i in chosen]
