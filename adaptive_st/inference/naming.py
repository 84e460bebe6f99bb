"""Output file names: ``<content-stem>__<style-stem>[__a0.5][__lam3].png``.

The suffixes appear only when the value was set away from its default, so a plain run gives plain names
and two runs with different α or λ never collide. Names keep every letter of the inputs (``日本.jpg`` →
``日本__candy.png``): only what cannot be in one file name (path separators, control characters) is
replaced, and over-long names are shortened with a hash so they stay distinct.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

#: Path separators (both, so a name is portable) and C0/C1 control characters, NUL included.
_UNSAFE = re.compile(r"[/\\\x00-\x1f\x7f-\x9f]+")
#: NAME_MAX of Linux/macOS file systems, in bytes of the UTF-8 encoded name.
MAX_NAME_BYTES = 255


def number(value: float) -> str:
    """Compact, file-name-safe form of a number: 0.5 → ``0.5``, 3.0 → ``3``, 1e-05 → ``1e-05``."""
    return f"{value:g}"


def mix_name(stems: Sequence[str], weights: Sequence[float] | None) -> str:
    """Style stem of a mix: ``candy0.7+udnie0.3`` (equal weights: ``candy+udnie``)."""
    if weights is None:
        return "+".join(stems)
    return "+".join(f"{s}{number(w)}" for s, w in zip(stems, weights, strict=True))


def safe_file_name(stem: str, suffix: str = "") -> str:
    """``stem + suffix`` as one valid file name: separators and control characters become ``_``, and a stem
    too long for the file system is cut (at a character boundary) and tagged with a hash of the full stem."""
    stem = _UNSAFE.sub("_", stem)
    budget = MAX_NAME_BYTES - len(suffix.encode())
    if len(stem.encode()) <= budget:
        return stem + suffix
    tag = "~" + hashlib.sha1(stem.encode()).hexdigest()[:10]
    cut = stem.encode()[: budget - len(tag)].decode(errors="ignore")
    return cut + tag + suffix


def output_name(content_stem: str, style_stem: str, alpha: float = 1.0, lam: float | None = None) -> str:
    name = f"{content_stem}__{style_stem}"
    if alpha != 1.0:
        name += f"__a{number(alpha)}"
    if lam is not None:
        name += f"__lam{number(lam)}"
    return safe_file_name(name, ".png")
