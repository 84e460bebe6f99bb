"""Writes a (content | style | output) grid per validation epoch: PNG on disk + W&B image."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from torchvision.utils import make_grid, save_image


class ImageGridCallback(L.Callback):
    """Rank 0 only; skipped during the sanity check so the first grid reflects training."""

    def __init__(self, dirpath: str, every_n_epochs: int = 1) -> None:
        super().__init__()
        if every_n_epochs < 1:
            raise ValueError("callbacks.image_grid.every_n_epochs must be >= 1")
        self.dirpath = Path(dirpath)
        self.every_n_epochs = every_n_epochs
        self.last_path: Path | None = None

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        examples = getattr(pl_module, "val_examples", None)
        if trainer.sanity_checking or not trainer.is_global_zero or not examples:
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        rows = torch.stack([examples["content"], examples["style"], examples["output"]], dim=1)
        grid = make_grid(rows.flatten(0, 1).clamp(0, 1), nrow=3, padding=2, pad_value=1.0)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        step = int(getattr(pl_module, "train_step", trainer.global_step))
        path = self.dirpath / f"val_step{step:06d}.png"
        save_image(grid, path)
        self.last_path = path
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="val/grid", images=[grid], caption=["content | style | output"],
                                 step=trainer.global_step)
