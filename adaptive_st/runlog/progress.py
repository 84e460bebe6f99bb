"""A progress bar that counts batches: the true total, no ``Epoch 0/-2``.

Lightning's bar takes its total from ``max_steps``, which in manual optimization counts every
optimizer step (G and D: 2 per batch), so a 10-batch run ended at ``10/20`` with time "remaining".
"""

from __future__ import annotations

import math

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar, TQDMProgressBar


def steps_per_batch(trainer: L.Trainer) -> int:
    """Optimizer steps Lightning counts per batch: one per optimizer in manual optimization."""
    module = trainer.lightning_module
    return 1 if module.automatic_optimization else max(1, len(trainer.optimizers))


def remaining_batches(trainer: L.Trainer) -> int | float:
    """Batches left in this epoch, bounded by what ``max_steps`` still allows."""
    total = trainer.num_training_batches
    if trainer.max_steps is not None and trainer.max_steps > 0:
        left = math.ceil((trainer.max_steps - trainer.global_step) / steps_per_batch(trainer))
        total = min(total, max(left, 0))
    return total


def describe(trainer: L.Trainer) -> str:
    if trainer.max_epochs is None or trainer.max_epochs < 0:
        return f"Epoch {trainer.current_epoch}" if trainer.current_epoch else "Training"
    return f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"


class BatchProgressBar(RichProgressBar):
    """Rich bar over the batches this epoch will really train."""

    @property
    def total_train_batches(self) -> int | float:
        return remaining_batches(self.trainer)

    def _get_train_description(self, current_epoch: int) -> str:
        description = describe(self.trainer)
        if len(self.validation_description) > len(description):  # Rich aligns the two bars
            description = f"{description:{len(self.validation_description)}}"
        return description


class BatchTQDMProgressBar(TQDMProgressBar):
    """The same totals for terminals without Rich (``trainer.enable_progress_bar`` with tqdm)."""

    @property
    def total_train_batches(self) -> int | float:
        return remaining_batches(self.trainer)

    def on_train_epoch_start(self, trainer: L.Trainer, *args: object) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(describe(trainer))


def progress_bar() -> L.Callback:
    from lightning.pytorch.utilities.imports import _RICH_AVAILABLE

    return BatchProgressBar() if _RICH_AVAILABLE else BatchTQDMProgressBar()
