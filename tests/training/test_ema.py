"""EMA of G and S: the closed form, used by validation and ``stylize``, saved and restored with checkpoints."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate

from adaptive_st.checkpoint import EMA_PREFIX, reconcile_ema_state
from adaptive_st.cli.train import build, train
from adaptive_st.models import Stylizer
from adaptive_st.training.ema import StylizerEMA


def tiny_stylizer(cfg) -> Stylizer:
    g = instantiate(cfg.model.generator)
    return Stylizer(g, instantiate(cfg.model.style_generator)(modulation_dims=g.modulation_dims))


def flat(s: Stylizer) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in [*s.generator.parameters(), *s.style_generator.parameters()]])


def test_ema_equals_closed_form_after_known_updates(compose_cfg):
    live = tiny_stylizer(compose_cfg())
    beta = 0.8
    ema = StylizerEMA(live.generator, live.style_generator, beta)
    theta0 = flat(live)
    expected = theta0.clone()
    torch.manual_seed(0)
    for k in range(1, 6):
        with torch.no_grad():
            for p in [*live.generator.parameters(), *live.style_generator.parameters()]:
                p.add_(torch.randn_like(p) * 0.1 * k)
        ema.update(live)
        expected = beta * expected + (1 - beta) * flat(live)
    # Closed form: e_n = β^n θ_0 + Σ_k (1-β) β^(n-k) θ_k, accumulated above step by step.
    torch.testing.assert_close(flat(ema), expected, rtol=1e-5, atol=1e-6)
    assert not any(p.requires_grad for p in ema.parameters())
    with pytest.raises(ValueError, match="ema_decay"):
        StylizerEMA(live.generator, live.style_generator, 1.0)


class Trajectory(L.Callback):
    """Live G/S weights after every training batch (the G step has happened by then)."""

    def __init__(self) -> None:
        self.thetas: list[torch.Tensor] = []
        self.val_calls = {"ema": 0, "live": 0}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.thetas.append(flat(pl_module.stylizer))

    def on_validation_start(self, trainer, pl_module) -> None:
        for name, mod in (("ema", pl_module.ema), ("live", pl_module.stylizer)):
            mod.register_forward_hook(lambda *_, n=name: self.val_calls.__setitem__(n, self.val_calls[n] + 1))


def test_module_ema_follows_generator_steps_and_drives_validation(compose_cfg):
    beta = 0.6
    cfg = compose_cfg(f"module.ema_decay={beta}", "trainer.max_steps=8", "trainer.val_check_interval=4")
    datamodule, module, trainer = build(cfg)
    expected = flat(module.stylizer)  # the EMA starts at the initial weights
    traj = Trajectory()
    trainer.callbacks.append(traj)
    trainer.fit(module, datamodule=datamodule)
    assert len(traj.thetas) == 4
    for theta in traj.thetas:
        expected = beta * expected + (1 - beta) * theta
    torch.testing.assert_close(flat(module.ema), expected, rtol=1e-5, atol=1e-6)
    # Validation ran on the EMA only (the forward hooks stay on: count before further use).
    assert traj.val_calls["ema"] > 0 and traj.val_calls["live"] == 0
    x, s = torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(module.stylize(x, s), module.ema(x, s))
        assert not torch.allclose(module.stylize(x, s), module.stylize(x, s, use_ema=False))


def test_ema_round_trips_through_checkpoint(compose_cfg):
    cfg = compose_cfg("module.ema_decay=0.5", "trainer.max_steps=6")
    train(cfg)
    ckpt = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    assert ckpt["adaptive_st"]["ema"] == {"decay": 0.5, "prefix": EMA_PREFIX}
    assert any(k.startswith("ema.generator.") for k in state) and any(k.startswith("ema.style_generator.") for k in state)
    fresh = instantiate(cfg.module)
    result = fresh.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    torch.testing.assert_close(fresh.ema.generator.state_dict(),
                               {k[len("ema.generator."):]: v for k, v in state.items() if k.startswith("ema.generator.")})
    # The EMA is not the live weights after training.
    assert not torch.equal(state["ema.generator.to_rgb.weight"], state["generator.to_rgb.weight"])


def test_resume_switches_ema_on_or_off():
    live = {"generator.w": torch.ones(2), "style_generator.v": torch.zeros(1), "stylizer.generator.w": torch.ones(2)}
    on = dict(live)
    reconcile_ema_state(on, enabled=True)
    assert set(on) == {*live, "ema.generator.w", "ema.style_generator.v"}
    torch.testing.assert_close(on["ema.generator.w"], live["generator.w"])
    reconcile_ema_state(on, enabled=False)
    assert set(on) == set(live)


def test_resuming_a_run_without_ema_starts_the_average_from_its_weights(compose_cfg):
    """on_load_checkpoint runs before Lightning loads the state dict: the missing EMA keys are filled in."""
    train(compose_cfg("trainer.max_steps=4"))
    cfg = compose_cfg("module.ema_decay=0.5", "trainer.max_steps=6", "ckpt_path=last")
    train(cfg)
    state = torch.load(Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt", map_location="cpu",
                       weights_only=True)["state_dict"]
    assert int(state["train_step"]) == 3 and "ema.generator.to_rgb.weight" in state
