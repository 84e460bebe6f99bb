"""``16-mixed`` with manual optimization (pitfalls 1 and 3), tested on CPU.

``Trainer(accelerator="cpu", precision="16-mixed")`` silently becomes bf16-mixed (no scaler), so these
tests pass Lightning's ``MixedPrecision("16-mixed", "cpu")`` plugin: fp16 autocast with a GradScaler,
the same code path as on a GPU, which makes the order unscale → clip → step and the shared scaler
testable without one.
"""

from __future__ import annotations

from types import SimpleNamespace

import lightning as L
import torch
from hydra.utils import instantiate

from adaptive_st.cli.train import build


def g_params(module: L.LightningModule) -> list[torch.nn.Parameter]:
    return [*module.generator.parameters(), *module.style_generator.parameters()]


def grad_norm(params: list[torch.nn.Parameter]) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.float().norm() for p in params if p.grad is not None])))


FP16 = (
    "~trainer.precision",
    # init_scale 2^10 rather than 2^16: no initial overflow-and-back-off steps in a 2-batch run.
    "+trainer.plugins=[{_target_: lightning.pytorch.plugins.MixedPrecision, precision: 16-mixed, device: cpu, "
    "scaler: {_target_: torch.amp.GradScaler, device: cpu, init_scale: 1024}}]",
    "trainer.val_check_interval=1000",
    # fp16 convolutions on CPU are slow reference kernels: keep the images tiny.
    "data.crop_size=32",
    "data.batch_size=2",
)


def test_clip_acts_on_unscaled_gradients(compose_cfg):
    """What the optimizer finally sees has norm = clip; clipping scaled grads would leave clip/scale."""
    clip = 1e-3
    cfg = compose_cfg(*FP16, f"module.grad_clip_g={clip}", "trainer.max_steps=4")
    datamodule, module, trainer = build(cfg)
    seen: list[tuple[float, float]] = []

    class Probe(L.Callback):
        def on_train_start(self, trainer, pl_module) -> None:
            scaler = trainer.precision_plugin.scaler
            trainer.optimizers[0].register_step_pre_hook(
                lambda opt, args, kwargs: seen.append((grad_norm(g_params(pl_module)), scaler.get_scale())))

    trainer.callbacks.append(Probe())
    trainer.fit(module, datamodule=datamodule)
    assert seen, "no generator step was taken"
    for norm, scale in seen:
        assert scale >= 2.0**9  # gradients were scaled in backward
        assert abs(norm - clip) <= 1e-3 * clip, (norm, scale)


def test_shared_scaler_skips_only_the_overflowing_optimizer(compose_cfg):
    """One GradScaler for G and D, updated after each step: an inf in G's gradients skips G's step only,
    halves the scale, and D still steps; training goes on (no "No inf checks were recorded")."""
    cfg = compose_cfg(*FP16, "trainer.max_steps=6")
    datamodule, module, trainer = build(cfg)
    original = module.manual_backward
    calls: list[int] = []

    def poisoned_backward(loss, *args, **kwargs):
        original(loss, *args, **kwargs)
        calls.append(1)
        if len(calls) == 3:  # batch 1, generator backward (order per batch: G, D)
            next(iter(module.generator.parameters())).grad.view(-1)[0] = float("inf")

    module.manual_backward = poisoned_backward
    snaps: dict[int, dict[str, object]] = {}

    class Snap(L.Callback):
        def _take(self, key: str, pl_module, batch_idx: int) -> None:
            snaps.setdefault(batch_idx, {})[key] = (
                torch.cat([p.detach().flatten().clone() for p in g_params(pl_module)]),
                torch.cat([p.detach().flatten().clone() for p in pl_module.discriminator.parameters()]),
                trainer.precision_plugin.scaler.get_scale(),
            )

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            self._take("start", pl_module, batch_idx)

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
            self._take("end", pl_module, batch_idx)

    trainer.callbacks.append(Snap())
    trainer.fit(module, datamodule=datamodule)
    (g0, d0, s0), (g1, d1, s1) = snaps[1]["start"], snaps[1]["end"]
    assert torch.equal(g0, g1), "G stepped with an inf gradient"
    assert not torch.equal(d0, d1), "D's step was skipped along with G's"
    assert s1 == s0 / 2
    (g2, _, _), (g3, _, _) = snaps[2]["start"], snaps[2]["end"]
    assert not torch.equal(g2, g3), "G did not resume training"
    assert int(module.skipped_steps) == 0  # a scaler skip is not a non-finite *loss*


def test_policy_grad_norms_are_scaled_like_the_backward(compose_cfg):
    """‖∇L_i‖ for gradient-based policies: fp16 without the scaler underflows, with it matches fp32."""
    cfg = compose_cfg("policy=grad_ratio")
    module = instantiate(cfg.module)
    torch.manual_seed(0)
    x, s = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)

    def norms(scale: float | None, fp16: bool) -> dict[str, float]:
        scaler = torch.amp.GradScaler("cpu", init_scale=scale) if scale else None
        module._trainer = SimpleNamespace(precision_plugin=SimpleNamespace(scaler=scaler))
        with torch.autocast("cpu", dtype=torch.float16, enabled=fp16):
            fake = module.stylizer(x, s)
            c_feats, s_feats = module._targets(x, s)
            terms = module._generator_terms(fake, x, s, c_feats, s_feats)
            means = {k: v.float().mean() * 1e-4 for k, v in terms.items()}  # small, as deep in training
            return {k: float(v) for k, v in module._grad_norms(means).items()}

    ref, plain, scaled = norms(None, False), norms(None, True), norms(2.0**16, True)
    module._trainer = None
    for term in ("style", "adv"):
        assert abs(scaled[term] - ref[term]) <= 0.05 * ref[term], (term, ref, scaled)
        assert abs(scaled[term] - ref[term]) < abs(plain[term] - ref[term])



def test_the_strength_gate_is_outside_the_clip(compose_cfg):
    """A λ-conditioned light model: G and S's networks are clipped to the norm, S's λ → strength gate is not
    (inside the norm its gained-up gradient shrank every network step to nothing); D's clip is unchanged."""
    clip = 1e-3
    cfg = compose_cfg(f"module.grad_clip_g={clip}", f"module.grad_clip_d={clip}", "model=micro", "policy=conditional",
                      "model.style_generator.strength_at=output", "model.style_generator.strength_gain=20")
    _, module, _ = build(cfg)
    gate = module.style_generator.lambda_gate
    assert module.clip_exempt == [gate]
    opt_g, opt_d = module.configure_optimizers()  # no lr decay in this config: the two optimizers
    module._trainer = SimpleNamespace(optimizers=[opt_g, opt_d])
    module.clip_gradients = lambda opt, gradient_clip_val, gradient_clip_algorithm: torch.nn.utils.clip_grad_norm_(
        [p for g in opt.param_groups for p in g["params"]], gradient_clip_val)  # Lightning's, without a trainer
    nets = [p for p in g_params(module) if p is not gate]
    torch.manual_seed(0)
    for p in [*g_params(module), *module.discriminator.parameters()]:
        p.grad = torch.randn_like(p)
    gate.grad = torch.tensor([50.0, -30.0])
    module.on_before_optimizer_step(opt_g)
    module.on_before_optimizer_step(opt_d)
    assert abs(grad_norm(nets) - clip) <= 1e-3 * clip
    torch.testing.assert_close(gate.grad, torch.tensor([50.0, -30.0]))
    assert abs(grad_norm(list(module.discriminator.parameters())) - clip) <= 1e-3 * clip
    plain = build(compose_cfg("model=micro"))[1]
    assert plain.clip_exempt == []  # every other model: Lightning's clip over the whole optimizer, as before
