"""The Lightning callbacks of a training run (``conf/callbacks/``), in one place.

- :class:`ImageGridCallback`: a (content | style | output) grid per validation epoch, PNG + W&B image.
- :class:`DatasetEpochCallback`: forwards the epoch to the datasets (their crops and pairing depend on it).
- :class:`BadFilesCallback`: logs ``train/bad_files`` and summarises the skipped files at the end.
- :class:`InterruptCheckpoint`: a checkpoint whenever a run stops early (SIGTERM, Ctrl+C, non-finite
  losses, crashes) or ends between two periodic checkpoints (see its section below).
- :class:`TimeBudget`: stops a run when its wall-clock budget (``minutes=M``) is spent, and fits the
  learning-rate decay into the batches that budget allows on this machine.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException
from torch.utils.data import DataLoader
from torchvision.utils import make_grid, save_image

from adaptive_st.checkpoint import CheckpointWriteError
from adaptive_st.training.steps import NonFiniteLossError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- validation image grid
# Writes a (content | style | output) grid per validation epoch: PNG on disk + W&B image.
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
                # The step Lightning logs the val/* scalars at: images and scalars share one W&B step axis.
                logger.log_image(key="val/grid", images=[grid], caption=["content | style | output"],
                                 step=trainer.fit_loop.epoch_loop._batches_that_stepped)


# ----------------------------------------------------------------------------------- dataset epoch
# Forward the training epoch to datasets, which Lightning does not do by itself.
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


# --------------------------------------------------------------------------------------- bad files
# Make skipped unreadable images visible in the metrics, not only as warnings in a long log.
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


# ------------------------------------------------------------------------- checkpoint on interrupt
# Save a checkpoint whenever a run stops early, so nothing since the last periodic checkpoint is lost.
#
# Builds on Lightning's own SIGTERM handling (``_SignalConnector``, Lightning 2.x): on SIGTERM it sets
# ``trainer.received_sigterm``; the training loop finishes the current batch and raises
# ``SIGTERMException`` (a ``SystemExit``), and every callback gets ``on_exception``. That is the
# moment to save: the batch is complete, so the checkpoint is a clean, batch-aligned state.
#
# - SIGTERM (SLURM preemption, ``kill``, ``docker stop``) → ``last.ckpt`` at the interrupted step.
# - SIGINT (Ctrl+C) → handled like SIGTERM (Lightning would otherwise stop mid-batch via
#   ``KeyboardInterrupt``); a second Ctrl+C interrupts at once.
# - :class:`NonFiniteLossError` → ``last.ckpt``: the skipped steps left weights and optimizer state as
#   after the last finite step, so this is the latest good state (resume it with a lower LR). Also when
#   no step was finite at all: the error promises a ``last.ckpt`` to resume, so there must be one.
# - any other exception (single process) → ``emergency.ckpt`` beside it, possibly mid-batch, so it
#   never replaces the consistent ``last.ckpt``. Under DDP it is skipped: saving needs every rank, and
#   an arbitrary error may have hit only one of them.
# - a run that ends normally between two periodic checkpoints (``max_steps`` not a multiple of
#   ``checkpoint_every``, or a skipped D step that shifted the step count off the multiples) → ``last.ckpt``
#   at the final step; Lightning's ``ModelCheckpoint`` only writes ``last`` at train end if it never did.
#
# Why not ``ModelCheckpoint(save_on_exception=True)`` (Lightning 2.6): it writes whatever state an
# exception left, mid-batch included, into the regular files, and needs every rank even when the error
# hit only one.
class InterruptCheckpoint(L.Callback):
    """Checkpoint on SIGTERM / SIGINT / non-finite losses / crashes, and at a stale train end (module docstring).

    Args:
        dirpath: checkpoint folder (the ``ModelCheckpoint``'s, so ``ckpt_path=last`` resumes the save).
        handle_sigint: treat the first Ctrl+C like SIGTERM (graceful stop after the current batch).
    """

    def __init__(self, dirpath: str, handle_sigint: bool = True) -> None:
        super().__init__()
        self.dirpath = Path(dirpath)
        self.handle_sigint = handle_sigint
        #: the signal that stopped the run (SIGTERM unless our Ctrl+C handler saw SIGINT), None if none.
        self.stop_signal: signal.Signals | None = None
        #: where the last save went, for the caller's message.
        self.saved_path: Path | None = None
        self._previous_sigint: Any = None
        self._saved_step = -1

    # ------------------------------------------------------------------ SIGINT → Lightning's SIGTERM path
    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # After Lightning registered its SIGTERM handler (Trainer._run), before the first batch.
        if self.handle_sigint and threading.current_thread() is threading.main_thread():
            self._previous_sigint = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum: int, frame: FrameType | None) -> None:
        self._restore_sigint()  # a second Ctrl+C raises KeyboardInterrupt right away
        self.stop_signal = signal.SIGINT
        log.warning("Ctrl+C: stopping after the current batch and saving a checkpoint (press again to stop at once)")
        sigterm = signal.getsignal(signal.SIGTERM)
        if not callable(sigterm):  # Lightning's handler is not installed: a plain Ctrl+C
            raise KeyboardInterrupt
        sigterm(signal.SIGTERM, frame)  # Lightning's notifier: stop at the batch end (all ranks)

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, self._previous_sigint)
        self._previous_sigint = None

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        self._saved_step = trainer.global_step  # any save: periodic, last, ours

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._restore_sigint()
        if trainer.global_step > 0 and trainer.global_step != self._saved_step:
            self._save(trainer, "last", "training ended between periodic checkpoints", level=logging.INFO)

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore_sigint()

    # ------------------------------------------------------------------ the save
    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self._restore_sigint()
        if isinstance(exception, CheckpointWriteError):
            return  # the disk refused a checkpoint: another one would fail too, and may be mid-batch
        if isinstance(exception, NonFiniteLossError) and self._fitting(trainer):
            self._save(trainer, "last", "non-finite losses")  # even at step 0: the error says to resume it
            return
        if not self._training_started(trainer):
            return
        if isinstance(exception, SIGTERMException):
            self.stop_signal = self.stop_signal or signal.SIGTERM
            self._save(trainer, "last", f"stopped by {self.stop_signal.name}")
        elif trainer.world_size == 1:
            self._save(trainer, "emergency", f"{type(exception).__name__}")
        else:
            log.warning("%s under DDP: no emergency checkpoint (it needs every rank); resume from %s",
                        type(exception).__name__, self.dirpath / "last.ckpt")

    @staticmethod
    def _fitting(trainer: L.Trainer) -> bool:
        return trainer.state.fn == "fit" and not trainer.sanity_checking

    def _training_started(self, trainer: L.Trainer) -> bool:
        return self._fitting(trainer) and trainer.global_step > 0

    def _save(self, trainer: L.Trainer, name: str, reason: str, level: int = logging.WARNING) -> None:
        path = self.dirpath / f"{name}{ModelCheckpoint.FILE_EXTENSION}"
        try:
            trainer.save_checkpoint(path, weights_only=False)
        except CheckpointWriteError as exc:  # its message is the whole story (disk full, read-only)
            log.warning("%s; the run stopped (%s)", exc, reason)
            return
        except Exception:  # never mask the error that stopped the run
            log.exception("could not save a checkpoint to %s after the run stopped (%s)", path, reason)
            return
        self.saved_path = path
        if trainer.is_global_zero:
            log.log(level, "%s at global step %d (train_step %s): checkpoint saved to %s; resume with "
                    "ckpt_path=%s", reason, trainer.global_step, _train_step(trainer), path,
                    "last" if name == "last" else path)


def _train_step(trainer: L.Trainer) -> int | str:
    step = getattr(trainer.lightning_module, "train_step", None)
    return "?" if step is None else int(step)


# --------------------------------------------------------------------------- wall-clock budget
class TimeBudget(L.Callback):
    """Train for ``minutes`` of wall time (counted from ``started_at``, the process start), however fast the machine.

    Why: a recipe promised in minutes ("30 minutes on 2 cores") with a fixed batch count either overruns on a
    slow CPU or leaves time unused on a fast one. Until the learning-rate decay starts the rate is constant,
    so the horizon only has to be known then: from ``warmup_batches`` on, the batches the remaining budget
    allows are estimated from the rate over the later half of the batches measured so far (validations
    included; the early batches are slower while caches such as the style targets fill: measured from the
    start, two distillation runs planned 1,432 and 1,629 batches and finished them 3–4 minutes before the
    budget), and when the run reaches
    ``lr_decay_start`` of that estimate the horizon is fixed (:attr:`StyleTransferModule.lr_horizon`) and the
    run stops there. The budget stays a hard limit: whatever the estimate, training stops when it is spent.
    ``trainer.max_steps`` (``batches=N``) remains an upper bound. Resuming continues the same budget: the
    time already spent and the fixed horizon are checkpointed.

    Under DDP the estimate and the stop are rank 0's, broadcast every ``check_every`` batches, so all
    ranks stop at the same batch with the same schedule.
    """

    def __init__(self, minutes: float, started_at: float | None = None, warmup_batches: int = 20,
                 check_every: int = 10, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
            raise ValueError(f"minutes={minutes!r}: expected a number of minutes > 0 (or null for no time budget)")
        if warmup_batches < 1 or check_every < 1:
            raise ValueError("TimeBudget: warmup_batches and check_every must be >= 1")
        self.budget_s = 60.0 * float(minutes)
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.warmup_batches = warmup_batches
        self.check_every = check_every
        #: Batches the run will train, once fixed (None: still estimating).
        self.horizon: int | None = None
        self._spent_before = 0.0  # seconds spent by the run before a resume
        self._warm: tuple[int, float] | None = None  # (batches, time) when the rate measurement began
        self._samples: list[tuple[int, float]] = []  # (batches, time) at every check since then
        self._first_batch: int | None = None

    @property
    def state_key(self) -> str:
        return "TimeBudget"

    def elapsed(self, now: float | None = None) -> float:
        """Seconds of the budget spent by ``now`` (default: the clock's now), before a resume included."""
        return self._spent_before + (self.clock() if now is None else now) - self.started_at

    def state_dict(self) -> dict[str, Any]:
        return {"spent_s": self.elapsed(), "horizon": self.horizon}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._spent_before = float(state_dict.get("spent_s", 0.0))
        self.horizon = state_dict.get("horizon")

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.horizon is not None:
            pl_module.lr_horizon = self.horizon  # type: ignore[assignment]
        if trainer.is_global_zero:
            spent = self.elapsed()
            log.info("time budget: %.1f of %.1f minutes left for training%s", (self.budget_s - spent) / 60,
                     self.budget_s / 60, f" ({self.horizon} batches, fixed before a resume)" if self.horizon else "")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if trainer.sanity_checking:
            return
        done = int(getattr(pl_module, "_host_step", None) or pl_module.train_step)  # batches trained
        if self._first_batch is None:
            self._first_batch = done - 1
        if self.horizon is not None and done >= self.horizon:
            trainer.should_stop = True
            return
        ran = done - self._first_batch
        now = self.clock()
        if ran == self.warmup_batches:
            self._warm = (done, now)
        if ran % self.check_every:
            return
        if self._warm is not None and self.horizon is None:
            self._samples.append((done, now))
        spent = self.elapsed(now)
        stop = spent >= self.budget_s
        if self.horizon is None and self._warm is not None and done > self._warm[0]:
            self._maybe_fix_horizon(trainer, pl_module, done, now, spent)
        if trainer.world_size > 1:
            stop = bool(trainer.strategy.broadcast(stop, src=0))
        if stop:
            if trainer.is_global_zero:
                log.info("time budget of %.1f minutes spent after %d batches: stopping", self.budget_s / 60, done)
            trainer.should_stop = True

    def _maybe_fix_horizon(self, trainer: L.Trainer, pl_module: L.LightningModule, done: int, now: float,
                           spent: float) -> None:
        assert self._warm is not None
        since, at = self._samples[len(self._samples) // 2] if len(self._samples) > 2 else self._warm
        rate = (done - since) / max(1e-6, now - at)
        estimate = done + int(rate * max(0.0, self.budget_s - spent))
        if trainer.world_size > 1:
            estimate = int(trainer.strategy.broadcast(estimate, src=0))
        if trainer.max_steps is not None and trainer.max_steps > 0:
            from adaptive_st.training.module import STEPS_PER_BATCH

            estimate = min(estimate, trainer.max_steps // STEPS_PER_BATCH)
        decay_start = getattr(pl_module, "lr_decay_start", None)
        if decay_start is None or done < decay_start * estimate:
            return
        self.horizon = max(done, estimate)
        pl_module.lr_horizon = self.horizon  # type: ignore[assignment]
        if trainer.is_global_zero:
            log.info("time budget: %d batches fit in %.1f minutes at the measured %.2f batches/s; the learning "
                     "rate decays from here to batch %d", self.horizon, self.budget_s / 60, rate, self.horizon)
