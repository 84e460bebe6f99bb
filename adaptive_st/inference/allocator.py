"""Keep freed memory in the process for reuse: a ~6× CPU speed-up for megapixel images with glibc.

Each layer of G allocates fresh full-resolution activations (64 MB per 16-channel map at 1 Mpx).
glibc serves blocks above its mmap threshold (at most 32 MB) with ``mmap`` and unmaps them on free,
so every layer pays page faults to re-zero fresh memory: measured here, base model at 1024²:
0.6 Mpx/s by default, 3.7 Mpx/s with freed memory kept. Process-wide, so only entry points (the CLIs,
benchmarks) call it; memory then stays at its peak until the process exits, which is what a
stylize/evaluate run wants.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3


@functools.cache
def retain_freed_memory(threshold: int = 1 << 30) -> bool:
    """Raise glibc's mmap and trim thresholds; False (and no change) where libc is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, threshold) == 1
    return mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1 and ok
