"""Numerical faults: a non-finite loss skips the step without touching any state; a streak stops the run
with an actionable error and a checkpoint of the last good state."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import lightning as L
import pytest
import torch

from adaptive_st.cli.train import build, train
from adaptive_st.losses import AdversarialLoss, PerceptualLoss
from adaptive_st.training import NonFiniteLossError
from tests.reliability.conftest import TINY, load_ckpt, read_csv

pytestmark = pytest.mark.slow


def nan_on_training_calls(monkeypatch: pytest.MonkeyPatch, calls: Collection[int] | None) -> None:
    """Make the content loss NaN on the given training calls of the perceptual loss (None: from call 2 on)."""
    original = PerceptualLoss.forward
    count = {"n": 0}

    def forward(self, *args, **kwargs):
        terms = original(self, *args, **kwargs)
        if torch.is_grad_enabled():  # the training step; validation runs under no_grad
            n = count["n"]
            count["n"] += 1
            if (n >= 2) if calls is None else (n in calls):
                terms = {**terms, "content": terms["content"] * float("nan")}
        return terms

    monkeypatch.setattr(PerceptualLoss, "forward", forward)


def snapshot(module: L.LightningModule, trainer: L.Trainer) -> dict[str, torch.Tensor]:
    """Parameters, buffers and optimizer state, except the step counters and D's spectral-norm power-iteration
    vectors: every D forward in train mode refines those from the (finite, unchanged) weights alone."""
    state = {f"param.{k}": v.detach().clone() for k, v in module.named_parameters()}
    state.update({f"buffer.{k}": v.clone() for k, v in module.named_buffers()
                  if k not in ("train_step", "skipped_steps") and not k.endswith(("._u", "._v"))})
    for i, opt in enumerate(trainer.optimizers):
        for j, s in enumerate(opt.state.values()):
            state.update({f"opt{i}.{j}.{k}": v.clone() for k, v in s.items() if torch.is_tensor(v)})
    return state


class WatchBatch(L.Callback):
    def __init__(self, index: int) -> None:
        self.index = index
        self.before: dict[str, torch.Tensor] = {}
        self.after: dict[str, torch.Tensor] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.index:
            self.before = snapshot(pl_module, trainer)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.index:
            self.after = snapshot(pl_module, trainer)


def test_nonfinite_step_is_skipped_and_training_continues(compose_cfg, monkeypatch) -> None:
    nan_on_training_calls(monkeypatch, {2})
    cfg = compose_cfg(*TINY, "trainer.max_steps=8", "module.r1_weight=0")
    L.seed_everything(cfg.seed)
    datamodule, module, trainer = build(cfg)
    skipped, after = WatchBatch(2), WatchBatch(3)
    trainer.callbacks.extend([skipped, after])
    trainer.fit(module, datamodule=datamodule)

    assert skipped.before and skipped.before.keys() == skipped.after.keys()
    for key, value in skipped.before.items():  # weights, buffers and Adam moments untouched by the NaN batch
        torch.testing.assert_close(skipped.after[key], value, rtol=0, atol=0, msg=key)
    changed = [k for k, v in after.before.items() if not torch.equal(after.after[k], v)]
    assert any(k.startswith("param.generator") for k in changed)  # the next batch trains again
    # A skipped batch takes no optimizer step: 8 steps need 5 batches, one of them skipped.
    assert int(module.train_step) == 5 and int(module.skipped_steps) == 1
    logged = [float(r["train/skipped_steps"]) for r in read_csv(Path(cfg.paths.output_dir))
              if r.get("train/skipped_steps")]
    assert logged == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_nonfinite_streak_stops_with_advice_and_a_checkpoint(compose_cfg, monkeypatch) -> None:
    nan_on_training_calls(monkeypatch, None)  # batches 0 and 1 train, every later one is NaN
    cfg = compose_cfg(*TINY, "trainer.max_steps=40", "module.max_consecutive_nonfinite=3", "checkpoint_every=100")
    with pytest.raises(NonFiniteLossError, match="consecutive non-finite losses") as info:
        train(cfg)
    assert "lower the learning rate" in str(info.value) and "ckpt_path=last" in str(info.value)
    ckpt = load_ckpt(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
    assert ckpt["global_step"] == 4  # the last good state: 2 batches x (G + D)
    assert ckpt["state_dict"]["skipped_steps"] == 3
    assert all(torch.isfinite(v).all() for v in ckpt["state_dict"].values() if v.is_floating_point())


def test_crash_mid_run_saves_an_emergency_checkpoint_beside_last(compose_cfg, monkeypatch) -> None:
    original = PerceptualLoss.forward
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 4:
                raise RuntimeError("simulated crash in batch 4")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PerceptualLoss, "forward", forward)
    cfg = compose_cfg(*TINY, "trainer.max_steps=40", "checkpoint_every=4")
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg)
    folder = Path(cfg.paths.output_dir) / "checkpoints"
    assert load_ckpt(folder / "last.ckpt")["global_step"] == 4  # the periodic one, left alone
    assert load_ckpt(folder / "emergency.ckpt")["global_step"] == 6  # 3 batches trained before the crash


def nan_discriminator_loss_once(monkeypatch: pytest.MonkeyPatch, call: int) -> None:
    original = AdversarialLoss.discriminator_loss
    calls = {"n": 0}

    def discriminator_loss(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == call:
                out = out * float("nan")
        return out

    monkeypatch.setattr(AdversarialLoss, "discriminator_loss", discriminator_loss)


def test_final_state_is_saved_even_off_the_checkpoint_grid(compose_cfg, monkeypatch) -> None:
    cfg = compose_cfg(*TINY, "trainer.max_steps=14", "checkpoint_every=4")  # periodic saves at 4, 8, 12
    train(cfg)
    assert load_ckpt(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")["global_step"] == 14


def test_periodic_checkpoints_survive_a_discriminator_only_skip(compose_cfg, monkeypatch) -> None:
    nan_discriminator_loss_once(monkeypatch, call=3)
    cfg = compose_cfg(*TINY, "trainer.max_steps=16", "checkpoint_every=4",
                      "callbacks.model_checkpoint.save_top_k=-1")
    train(cfg)
    saved = sorted(p.name for p in (Path(cfg.paths.output_dir) / "checkpoints").glob("step*.ckpt"))
    assert len(saved) >= 3, saved  # steps 4, 8, 12 (or the next batch end after each)
