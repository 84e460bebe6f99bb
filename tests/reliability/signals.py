"""A callback that signals its own process at a given batch (Hydra-instantiable from a test config)."""

from __future__ import annotations

import os
import signal

import lightning as L


class SignalAtBatch(L.Callback):
    def __init__(self, batch: int, signum: int = int(signal.SIGINT)) -> None:
        self.batch = batch
        self.signum = signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.fit_loop.epoch_loop.total_batch_idx == self.batch:
            os.kill(os.getpid(), self.signum)
