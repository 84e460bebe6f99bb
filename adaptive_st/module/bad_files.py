"""Make skipped unreadable images visible in the metrics, not only as warnings in a long log."""

from __future__ import annotations

import logging

import lightning as L

log = logging.getLogger(__name__)


class BadFilesCallback(L.Callback):
    """Log ``train/bad_files`` (files the data layer skipped so far) and summarise them when training ends.

    Reads ``trainer.datamodule.num_bad_files``; a datamodule without it is ignored. Under DDP each rank
    finds the bad files of the items it loads, so the logged value is the maximum over ranks (a lower
    bound of the total).
    """

    def __init__(self) -> None:
        super().__init__()
        self._last = 0

    @staticmethod
    def _count(trainer: L.Trainer) -> int | None:
        count = getattr(trainer.datamodule, "num_bad_files", None)
        return None if count is None else int(count)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        count = self._count(trainer)
        if count is None:
            return
        self._last = count
        pl_module.log("train/bad_files", float(count), on_step=True, on_epoch=False, reduce_fx="max",
                      sync_dist=trainer.world_size > 1)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._last or not trainer.is_global_zero:
            return
        files = sorted(str(p) for ds in (getattr(trainer.datamodule, name, None)
                                         for name in ("train_dataset", "val_dataset"))
                       for p in getattr(ds, "bad_files", ()))
        log.warning("%d unreadable image file(s) were skipped during training (fix or remove them): %s",
                    self._last, ", ".join(dict.fromkeys(files)))
