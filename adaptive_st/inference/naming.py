"""Output file names: ``<content-stem>__<style-stem>[__a0.5][__lam3].png``.

The suffixes appear only when the value was set away from its default, so a plain run gives plain names
and two runs with different α or λ never collide.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def number(value: float) -> str:
    """Compact, file-name-safe form of a number: 0.5 → ``0.5``, 3.0 → ``3``, 1e-05 → ``1e-05``."""
    return f"{value:g}"


def mix_name(stems: Sequence[str], weights: Sequence[float] | None) -> str:
    """Style stem of a mix: ``candy0.7+udnie0.3`` (equal weights: ``candy+udnie``)."""
    if weights is None:
        return "+".join(stems)
    return "+".join(f"{s}{number(w)}" for s, w in zip(stems, weights, strict=True))


def output_name(content_stem: str, style_stem: str, alpha: float = 1.0, lam: float | None = None) -> str:
    name = f"{content_stem}__{style_stem}"
    if alpha != 1.0:
        name += f"__a{number(alpha)}"
    if lam is not None:
        name += f"__lam{number(lam)}"
    return _UNSAFE.sub("_", name) + ".png"
