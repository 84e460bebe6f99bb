"""Where and how the generator runs: device, autocast precision and memory format.

channels_last is the default on CPU because oneDNN's convolutions are ~1.5–2× faster in NHWC there; on
CUDA it only pays off with tensor cores under fp16/bf16, so it is off by default.
"""

from __future__ import annotations

import contextlib
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
