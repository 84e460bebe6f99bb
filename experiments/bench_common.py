"""Shared pieces of the benchmarks: build the module as training does, synthetic batches, clocks, memory.

The networks and losses come from the same Hydra configs and ``instantiate`` calls as
``python -m adaptive_st.train`` (so a benchmark measures what a run trains); only the data is
synthetic (fixed random tensors), so image decoding does not blur the comparison.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch.utils.data import DataLoader, Dataset

from adaptive_st.cli.resolvers import CONFIG_DIR, PROJECT_ROOT, register_resolvers
from adaptive_st.training import StyleTransferModule

SHARED = Path(os.environ.get("ADAPTIVE_ST_SHARED", PROJECT_ROOT.parent / "shared"))


def compose_cfg(overrides: Sequence[str]) -> DictConfig:
    """``conf/train.yaml`` with ``overrides``, without validation metrics (not timed here)."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose(config_name="train", overrides=[
            f"paths.shared_dir={SHARED}", "paths.output_dir=/tmp/adaptive_st_bench", "module.val_metrics=null",
            *overrides])


def build_module(model: str, policy: str = "constant", extra: Sequence[str] = ()) -> StyleTransferModule:
    torch.manual_seed(0)
    cfg = compose_cfg([f"model={model}", f"policy={policy}", *extra])
    return instantiate(cfg.module)


class SyntheticPairs(Dataset):
    """``length`` items cycling over a small pool of fixed random (content, style) images."""

    def __init__(self, length: int, size: int, pool: int = 8, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.content = torch.rand(pool, 3, size, size, generator=g)
        self.style = torch.rand(pool, 3, size, size, generator=g)
        self.length = length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        j = i % self.content.shape[0]
        return {"content": self.content[j], "style": self.style[j]}


def loader(batches: int, batch_size: int, size: int, device: torch.device) -> DataLoader:
    return DataLoader(SyntheticPairs(batches * batch_size, size), batch_size=batch_size, shuffle=False,
                      num_workers=0, pin_memory=device.type == "cuda", drop_last=True)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class RssSampler:
    """Peak resident set size during a block, sampled every ``interval`` s from /proc (CPU memory).

    ``tracemalloc`` does not see torch's allocations; ``ru_maxrss`` is a process-lifetime maximum, so
    per-case peaks are sampled instead (a short spike between samples can be missed).
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.peak_bytes = 0
        self.start_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss_bytes() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:  # not Linux: fall back to the lifetime maximum
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self.rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self.start_bytes = self.peak_bytes = self.rss_bytes()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self.rss_bytes())


@dataclass
class Memory:
    peak_mib: float
    kind: str  # "rss" (CPU, whole process) or "cuda" (max_memory_allocated)


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[list[Memory]]:
    """Yields a list that receives one :class:`Memory` when the block ends."""
    out: list[Memory] = []
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        yield out
        torch.cuda.synchronize(device)
        out.append(Memory(torch.cuda.max_memory_allocated(device) / 2**20, "cuda"))
        return
    with RssSampler() as sampler:
        yield out
    out.append(Memory(sampler.peak_bytes / 2**20, "rss"))


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The autocast Lightning's precision plugin uses for ``precision``."""
    if precision == "bf16-mixed":
        return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=False)
    if precision == "16-mixed":
        return torch.autocast(device.type, dtype=torch.float16, cache_enabled=False)
    return contextlib.nullcontext()
