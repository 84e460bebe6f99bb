"""The cosine learning-rate tail: its factor on a known sequence, the rates a run trains with, and a run
stopped by Ctrl+C and resumed continuing the same rates."""

from __future__ import annotations

import itertools
import math

import lightning as L
import pytest
from hydra.utils import instantiate
from lightning.pytorch.utilities.exceptions import SIGTERMException

from adaptive_st.cli.train import build, resolve_ckpt_path, train
from adaptive_st.cli.validation import ConfigError
from adaptive_st.training.callbacks import TimeBudget
from adaptive_st.training.module import lr_scale
from tests.reliability.conftest import TINY

DECAY = ("trainer.max_steps=16", "module.lr_decay_start=0.5", "module.lr_final_scale=0.1")  # 8 batches


def test_lr_scale_is_flat_then_a_cosine_down_to_the_final_scale():
    got = [lr_scale(b, total=10, decay_start=0.6, final_scale=0.1) for b in range(11)]
    assert got[:7] == [1.0] * 7
    assert got[8] == pytest.approx(0.1 + 0.9 * 0.5)  # half-way through the tail: half-way down
    assert got[10] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(got[6:]))
    assert lr_scale(3, total=10, decay_start=0.0, final_scale=0.0) == pytest.approx(0.5 * (1 + math.cos(0.3 * math.pi)))
    assert lr_scale(12, total=10, decay_start=0.5, final_scale=0.2) == pytest.approx(0.2)  # past the end: stays


class Rates(L.Callback):
    """G's and D's learning rates after every batch (the rate the next batch trains with)."""

    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        g, d = trainer.optimizers
        self.rates += [g.param_groups[0]["lr"], d.param_groups[0]["lr"]]


def fit(cfg) -> list[float]:
    L.seed_everything(cfg.seed)
    datamodule, module, trainer = build(cfg)
    rates = Rates()
    trainer.callbacks.append(rates)
    trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths.output_dir))
    return rates.rates


def test_run_trains_with_the_tail_and_a_resume_continues_it(compose_cfg):
    cfg = compose_cfg(*TINY, *DECAY)
    lr_g, lr_d = float(cfg.module.optimizer_g.lr), float(cfg.module.optimizer_d.lr)
    full = fit(cfg)
    expected = [lr * lr_scale(b + 1, 8, 0.5, 0.1) for b in range(8) for lr in (lr_g, lr_d)]
    assert full == pytest.approx(expected)
    assert full[6:8] == pytest.approx([lr_g, lr_d]) and full[-2:] == pytest.approx([0.1 * lr_g, 0.1 * lr_d])

    stop_after_batch_3 = ("+callbacks.sigint._target_=tests.reliability.signals.SignalAtBatch", "+callbacks.sigint.batch=3")
    with pytest.raises(SystemExit):
        train(compose_cfg(*TINY, *DECAY, *stop_after_batch_3))
    resumed = fit(compose_cfg(*TINY, *DECAY, "ckpt_path=last"))
    assert resumed == pytest.approx(full[8:])  # batches 4..7


def test_a_tail_needs_a_run_of_known_length_and_a_valid_fraction(compose_cfg):
    with pytest.raises(ValueError, match=r"module\.lr_decay_start"):
        build(compose_cfg(*TINY, "module.lr_decay_start=1.5"))
    cfg = compose_cfg(*TINY, "trainer.max_steps=-1", "trainer.max_epochs=1", "module.lr_decay_start=0.5")
    with pytest.raises(ConfigError, match=r"module\.lr_decay_start needs a run of known length"):
        build(cfg)  # the CLI says so before the run starts
    build(compose_cfg(*TINY, "trainer.max_steps=-1", "batches=3", "module.lr_decay_start=0.5"))  # batches=N is a length
    module = instantiate(cfg.module, run_config=None)  # a Python caller, past the CLI's checks
    trainer = L.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(ValueError, match=r"trainer\.max_steps"):
        trainer.fit(module, datamodule=instantiate(cfg.data))


# ---------------------------------------------------------------- minutes=M: a wall-clock budget
class BatchClock(L.Callback):
    """A clock that reads one second per batch started: the run's timing without sleeping."""

    def __init__(self, seconds_per_batch: float = 1.0) -> None:
        self.now = 0.0
        self.seconds_per_batch = seconds_per_batch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.now += self.seconds_per_batch

    def __call__(self) -> float:
        return self.now


def budget_of(trainer) -> TimeBudget:
    (budget,) = [cb for cb in trainer.callbacks if isinstance(cb, TimeBudget)]
    return budget


def fit_on_clock(cfg, clock: BatchClock) -> tuple[list[float], TimeBudget, L.LightningModule]:
    datamodule, module, trainer = build(cfg)
    budget = budget_of(trainer)
    budget.clock, budget.started_at = clock, clock.now
    budget.warmup_batches, budget.check_every = 2, 2
    rates = Rates()
    trainer.callbacks = [clock, *trainer.callbacks, rates]
    trainer.fit(module, datamodule=datamodule, ckpt_path=resolve_ckpt_path(cfg.get("ckpt_path"), cfg.paths.output_dir))
    return rates.rates, budget, module


BUDGET = ("trainer.max_steps=-1", "minutes=0.2", "module.lr_decay_start=0.5", "module.lr_final_scale=0.1")  # 12 s


def test_a_time_budget_stops_the_run_and_fits_the_decay_into_the_batches_it_allows(compose_cfg):
    """At one batch per second a 12-second budget allows 12 batches: the horizon is fixed half-way (batch 6),
    the rates from there are the cosine tail over 12 batches, and the run stops after batch 12."""
    cfg = compose_cfg(*TINY, *BUDGET)
    lr_g = float(cfg.module.optimizer_g.lr)
    rates, budget, module = fit_on_clock(cfg, BatchClock())
    assert budget.horizon == module.lr_horizon == 12
    assert int(module.train_step) == 12
    assert rates[::2] == pytest.approx([lr_g * lr_scale(b + 1, 12, 0.5, 0.1) for b in range(12)])


class WarmingClock(BatchClock):
    """Three seconds per batch for the first four batches (caches filling), then one."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.now += 3.0 if int(pl_module.train_step) < 4 else 1.0


def test_the_horizon_follows_the_recent_rate_not_the_slow_start(compose_cfg):
    """30 s: 4 batches take 12 s, the other 18 s allow 18 more. Measured from the start (batches/s since the
    warm-up: 8 in 12 s at batch 10) the run would plan 18 batches and stop 4 s early; the later half's rate
    (1/s) plans all 22."""
    _, budget, module = fit_on_clock(compose_cfg(*TINY, *BUDGET, "minutes=0.5"), WarmingClock())
    assert budget.horizon == module.lr_horizon == 22 and int(module.train_step) == 22


def test_the_budget_is_a_hard_limit_and_batches_an_upper_bound(compose_cfg):
    slow = BatchClock(seconds_per_batch=5.0)  # 12 s: the third batch ends past the budget (checked every 2)
    _, _, module = fit_on_clock(compose_cfg(*TINY, *BUDGET), slow)
    assert int(module.train_step) == 4  # at the first check past the budget, whatever the estimate
    _, budget, module = fit_on_clock(compose_cfg(*TINY, *BUDGET, "batches=8"), BatchClock())
    assert int(module.train_step) == 8 and budget.horizon == module.lr_horizon == 8  # time allows 12; batches=8 caps


def test_a_resumed_run_keeps_the_time_spent_and_the_fixed_horizon(compose_cfg):
    full, _, _ = fit_on_clock(compose_cfg(*TINY, *BUDGET), BatchClock())
    stop_after_8_batches = ("+callbacks.sigint._target_=tests.reliability.signals.SignalAtBatch", "+callbacks.sigint.batch=7")
    with pytest.raises(SIGTERMException):
        fit_on_clock(compose_cfg(*TINY, *BUDGET, *stop_after_8_batches), BatchClock())
    resumed, budget, module = fit_on_clock(compose_cfg(*TINY, *BUDGET, "ckpt_path=last"), BatchClock())
    assert budget.horizon == 12 and int(module.train_step) == 12  # 8 s were spent before: 4 batches left
    assert resumed == pytest.approx(full[16:])  # batches 9..12, same rates


def test_minutes_must_be_a_positive_number(compose_cfg):
    with pytest.raises(ConfigError, match=r"minutes='soon'"):
        build(compose_cfg(*TINY, "minutes=soon"))
    with pytest.raises(ConfigError, match=r"minutes=0"):
        build(compose_cfg(*TINY, "minutes=0"))
    build(compose_cfg(*TINY, *BUDGET))  # a budget is a known length for the decay
