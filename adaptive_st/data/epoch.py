"""Forward the training epoch to datasets, which Lightning does not do by itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning as L
from torch.utils.data import DataLoader


class DatasetEpochCallback(L.Callback):
    """Call ``dataset.set_epoch(trainer.current_epoch)`` on every training DataLoader's dataset.

    Lightning only calls ``set_epoch`` on *samplers* (to reshuffle); our datasets derive pairing and crops from
    ``(seed, epoch, index)``, so without this every epoch would see identical crops. The hook runs before the
    epoch's DataLoader iterator (and its workers) starts, except for the first epoch after a resume, whose
    first prefetched batch may still use the previous epoch's augmentation.
    """

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for loader in _dataloaders(trainer.train_dataloader):
            set_epoch = getattr(loader.dataset, "set_epoch", None)
            if callable(set_epoch):
                set_epoch(trainer.current_epoch)


def _dataloaders(obj: Any) -> list[DataLoader]:
    if isinstance(obj, DataLoader):
        return [obj]
    if isinstance(obj, Mapping):
        return [dl for value in obj.values() for dl in _dataloaders(value)]
    if isinstance(obj, (list, tuple)):  # never iterate other iterables: that could consume a loader
        return [dl for value in obj for dl in _dataloaders(value)]
    return []
