"""Stylize latency/throughput of G∘S (what inference runs): no VGG, no D, no autograd."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from bench_common import autocast, peak_memory, sync

from adaptive_st.training import StyleTransferModule


@dataclass
class StylizeResult:
    size: int
    batch: int
    precision: str
    ms_per_batch: float
    images_per_s: float
    mpx_per_s: float
    peak_mib: float
    memory_kind: str

    def to_dict(self) -> dict:
        return asdict(self)


def stylize_bench(module: StyleTransferModule, device: torch.device, precision: str, size: int, batch: int,
                  warmup: int, iters: int, min_seconds: float = 0.0, shared_style: bool = False) -> StylizeResult:
    """Mean time of ``stylize`` on a (batch, 3, size, size) content and style batch.

    Runs ``iters`` timed calls, repeated until ``min_seconds`` have passed (short calls on a GPU).
    ``shared_style``: one style encoded once outside the timed loop (a folder stylized with one painting).
    """
    module.configure_model()  # torch.compile when module.compile is set
    stylizer = module.stylizer.to(device).eval()
    memory_format = torch.channels_last if module.channels_last else torch.contiguous_format
    if module.channels_last:
        stylizer.to(memory_format=memory_format)
    g = torch.Generator().manual_seed(0)
    content = torch.rand(batch, 3, size, size, generator=g).to(device).contiguous(memory_format=memory_format)
    style = torch.rand(batch, 3, size, size, generator=g).to(device).contiguous(memory_format=memory_format)
    # no_grad rather than inference_mode: inference tensors do not mix well with torch.compile.
    with torch.no_grad(), autocast(device, precision), peak_memory(device) as mem:
        if shared_style:
            code = stylizer.style_code(style[:1])

            def run() -> torch.Tensor:
                return stylizer.stylize_with_code(content, code)
        else:
            def run() -> torch.Tensor:
                return stylizer(content, style)
        for _ in range(warmup):
            run()
        sync(device)
        t0 = time.perf_counter()
        n = 0
        while n == 0 or time.perf_counter() - t0 < min_seconds:
            for _ in range(iters):
                run()
            n += iters
            sync(device)
        elapsed = time.perf_counter() - t0
    ms = 1000 * elapsed / n
    images_per_s = batch * 1000 / ms
    return StylizeResult(size, batch, precision, ms, images_per_s, images_per_s * size * size / 1e6,
                         mem[0].peak_mib, mem[0].kind)
