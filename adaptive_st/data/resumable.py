"""A training DataLoader that a mid-epoch resume continues exactly where the interrupted run stopped.

With a plain ``DataLoader(shuffle=True, generator=g)`` a resumed run loses its place twice over:
the permutation comes from a running generator that restarts from its seed in the new process (epoch
``e`` gets epoch 0's order), and Lightning, which cannot fast-forward a plain loader, starts the
interrupted epoch from its first batch and stops it early, so some items are trained twice and
others not at all. Here the order of epoch ``e`` is a pure function of ``(seed, e)``, and the loader
is *stateful*: Lightning stores ``state_dict()`` of such train loaders in the fit-loop state of every
checkpoint and calls ``load_state_dict()`` before iterating again, so the resumed epoch starts at the
first batch the interrupted run had not taken yet.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Sampler

#: RNG stream id, distinct from the dataset's pairing (1) and augmentation (2) streams.
_STREAM_SHUFFLE = 3


class EpochShuffleSampler(Sampler[int]):
    """Random permutation of ``range(length)`` drawn from ``(seed, epoch)``; Lightning calls :meth:`set_epoch`."""

    def __init__(self, length: int, seed: int = 0) -> None:
        if length < 1:
            raise ValueError(f"EpochShuffleSampler needs length >= 1, got {length}")
        self.length = int(length)
        self.seed = int(seed)
        self.epoch = 0
        self._start = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def start_at(self, position: int) -> None:
        """Make the next iteration skip the first ``position`` items of the current epoch's order (once)."""
        self._start = int(position)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        order = np.random.default_rng([_STREAM_SHUFFLE, self.seed % 2**63, self.epoch]).permutation(self.length)
        start, self._start = self._start, 0
        return iter(order[start:].tolist())


class ResumableDataLoader(DataLoader):
    """``DataLoader`` with ``state_dict``/``load_state_dict``: the epoch and the batches taken from it.

    Batches are counted where the trainer takes them, so worker prefetching does not matter. Exact
    resume needs the :class:`EpochShuffleSampler` in place; where Lightning has wrapped it (DDP's
    ``DistributedSamplerWrapper``) the order is still per-epoch deterministic, but the interrupted
    epoch restarts from its first batch.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._taken = 0
        self._resume_from = 0

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        self._taken, self._resume_from = self._resume_from, 0
        return self._counted(super().__iter__())

    def _counted(self, batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            self._taken += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        return {"epoch": int(getattr(self.sampler, "epoch", 0)), "batches": self._taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, batches = int(state.get("epoch", 0)), int(state.get("batches", 0))
        if batches >= len(self):  # saved at the end of an epoch: the next one starts from its beginning
            epoch, batches = epoch + 1, 0
        set_epoch = getattr(self.sampler, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)
        # Lightning skips on_train_epoch_start when resuming mid-epoch: give the dataset its epoch here.
        dataset_set_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(dataset_set_epoch):
            dataset_set_epoch(epoch)
        # Counted from the epoch's start as Lightning counts, even where the sampler cannot skip.
        self._resume_from = batches
        if isinstance(self.sampler, EpochShuffleSampler) and self.batch_size is not None:
            self.sampler.start_at(batches * self.batch_size)
