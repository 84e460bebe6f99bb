"""A test-only callback: each rank writes its final module state and metrics to ``<dirpath>/rank<r>.pt``.

The test process then compares the ranks' files; comparing in the test (not via a collective) keeps
the evidence independent of the code under test.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch


class RankStateCallback(L.Callback):
    def __init__(self, dirpath: str) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.dirpath.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().clone() for k, v in pl_module.state_dict().items()}
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1}
        payload = {"state": state, "metrics": metrics, "world_size": trainer.world_size,
                   "budget_horizon": next((cb.horizon for cb in trainer.callbacks if hasattr(cb, "budget_s")), None)}
        torch.save(payload, self.dirpath / f"rank{trainer.global_rank}.pt")
