"""Where and how the generator runs: device, autocast precision, memory format, and the allocator.

channels_last is the default on CPU because oneDNN's convolutions are ~1.5–2× faster in NHWC there; on
CUDA it only pays off with tensor cores under fp16/bf16, so it is off by default.

:func:`retain_freed_memory` keeps freed memory in the process for reuse: a ~6× CPU speed-up for megapixel
images with glibc. Each layer of G allocates fresh full-resolution activations (64 MB per 16-channel map at
1 Mpx); glibc serves blocks above its mmap threshold (at most 32 MB) with ``mmap`` and unmaps them on free,
so every layer pays page faults to re-zero fresh memory (base model at 1024²: 0.6 Mpx/s by default,
3.7 Mpx/s with freed memory kept). Process-wide, so only entry points (the CLIs, benchmarks) call it;
memory then stays at its peak until the process exits, which is what a stylize/evaluate run wants.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import functools
from dataclasses import dataclass

import torch

from adaptive_st.inference.choices import PRECISION_NAMES

PRECISIONS: dict[str, torch.dtype] = dict(zip(PRECISION_NAMES, (torch.float32, torch.bfloat16, torch.float16)))
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast for the generator (no-op in fp32); style statistics stay fp32 inside AdaIN."""
        if self.precision == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Move an NCHW batch to the device in the generator's memory format."""
        x = x.to(self.device, non_blocking=True)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def resolve_runtime(device: str = "auto", precision: str = "fp32", channels_last: bool | None = None) -> Runtime:
    """Validate the user's choices; ``device="auto"`` takes CUDA when present, ``channels_last=None``
    means on for CPU only."""
    if device not in DEVICES and not device.startswith("cuda:"):
        raise ValueError(f"device={device!r}: expected one of {list(DEVICES)} (or cuda:N)")
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r}: expected one of {list(PRECISIONS)}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("device=cuda was asked for but no CUDA GPU is visible to PyTorch; use --device cpu")
    dev = torch.device(device)
    if channels_last is None:
        channels_last = dev.type == "cpu"
    return Runtime(dev, precision, bool(channels_last))


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
