"""Training-step throughput: the Lightning module vs a bare-PyTorch loop of the same networks and losses.

The bare loop is what a hand-written GAN step costs (constant λ, D frozen during the G step, lazy R1,
G clipping, the same AMP); the Lightning run adds the framework (hooks, toggle_optimizer, logging,
rank-safety checks) and the policy. Their ratio is the framework overhead. A separate pass of the bare
loop synchronises between phases to split a step into its parts (this pass is not used for throughput).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from itertools import pairwise

import lightning as L
import torch
from bench_common import autocast, loader, peak_memory, sync
from lightning.pytorch.loggers import CSVLogger

from adaptive_st.training import StyleTransferModule

PHASES = ("vgg_targets", "gs_forward", "vgg_loss_forward", "adv_forward", "g_backward_step", "d_step")


@dataclass
class TrainResult:
    """``ms_per_step`` is the median step (robust to other processes on a shared machine); the mean and
    minimum are kept too. ``cpu_ms_per_step`` is the process CPU time per step: on a CPU run it measures
    the work done whatever else shares the cores (on a GPU run it is mostly waiting). ``cpu_share`` = CPU
    time / (wall time × threads): well below 1 on a CPU run means the cores were busy with something else."""

    mode: str  # "bare" | "lightning"
    ms_per_step: float
    ms_mean: float
    ms_min: float
    cpu_ms_per_step: float
    images_per_s: float
    peak_mib: float
    memory_kind: str
    cpu_share: float
    split_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def summarize(mode: str, step_s: list[float], batch_size: int, cpu_s: float, mem_mib: float, mem_kind: str,
              split_ms: dict[str, float] | None = None) -> TrainResult:
    ms = sorted(1000 * t for t in step_s)
    median = statistics.median(ms)
    share = cpu_s / max(sum(step_s) * torch.get_num_threads(), 1e-9)
    return TrainResult(mode, median, statistics.fmean(ms), ms[0], 1000 * cpu_s / len(step_s),
                       batch_size * 1000 / median, mem_mib, mem_kind, share, split_ms or {})


class _Clock:
    """Phase timestamps, synchronising the device first (only in the split pass)."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.device, self.enabled = device, enabled
        self.totals = dict.fromkeys(PHASES, 0.0)
        self._last = 0.0

    def start(self) -> None:
        if self.enabled:
            sync(self.device)
            self._last = time.perf_counter()

    def mark(self, phase: str) -> None:
        if self.enabled:
            sync(self.device)
            now = time.perf_counter()
            self.totals[phase] += now - self._last
            self._last = now


def _prepare(module: StyleTransferModule, device: torch.device) -> StyleTransferModule:
    module = module.to(device).train()
    if module.channels_last:
        module.to(memory_format=torch.channels_last)
    module.configure_model()  # torch.compile when module.compile is set, as Lightning would
    return module


def bare_loop(module: StyleTransferModule, device: torch.device, precision: str, batch_size: int, size: int,
              warmup: int, steps: int, split_steps: int = 0) -> TrainResult:
    """Hand-written G/D steps on ``module``'s networks (constant λ = the policy's base weights)."""
    m = _prepare(module, device)
    g_params = [*m.generator.parameters(), *m.style_generator.parameters()]
    opt_g, opt_d = m.optimizer_g(g_params), m.optimizer_d(m.discriminator.parameters())
    scaler = torch.amp.GradScaler(device.type) if precision == "16-mixed" else None
    lam = m.policy.base_weights
    memory_format = torch.channels_last if m.channels_last else torch.contiguous_format

    def opt_step(opt: torch.optim.Optimizer, loss: torch.Tensor, params: list, clip: float | None) -> None:
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(opt)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)
        if scaler:
            scaler.step(opt)
            scaler.update()
        else:
            opt.step()
        opt.zero_grad(set_to_none=True)

    def step(batch: dict[str, torch.Tensor], i: int, clock: _Clock) -> None:
        content = batch["content"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        style = batch["style"].to(device, non_blocking=True).contiguous(memory_format=memory_format)
        n = content.shape[0]
        clock.start()
        with autocast(device, precision):
            with torch.no_grad():
                feats = m.perceptual.features(torch.cat([content, style]))
            c_feats, s_feats = {k: v[:n] for k, v in feats.items()}, {k: v[n:] for k, v in feats.items()}
            clock.mark("vgg_targets")
            fake = m.stylizer(content, style)
            clock.mark("gs_forward")
            terms = dict(m.perceptual(fake, content, style, content_feats=c_feats, style_feats=s_feats))
            clock.mark("vgg_loss_forward")
            m.discriminator.requires_grad_(False)
            terms["adv"] = m.adversarial.generator_loss(m.discriminator(fake))
            loss = sum(lam[k] * terms[k].float().mean() for k in terms)
            clock.mark("adv_forward")
        opt_step(opt_g, loss, g_params, m.grad_clip_g)
        m.discriminator.requires_grad_(True)
        clock.mark("g_backward_step")
        use_r1 = m.r1_weight > 0 and i % m.r1_every == 0
        with autocast(device, precision):
            real = style.detach().requires_grad_(use_r1)
            d_real = m.discriminator.forward if use_r1 and m.compile_options is not None else m.discriminator
            real_logits = d_real(real)
            d_loss = m.adversarial.discriminator_loss(real_logits, m.discriminator(fake.detach()))
            if use_r1:
                d_loss = d_loss + m.r1_weight * m.r1_every * m.adversarial.r1_penalty(real_logits, real)
        opt_step(opt_d, d_loss, list(m.discriminator.parameters()), m.grad_clip_d)
        clock.mark("d_step")

    data = loader(warmup + steps + split_steps, batch_size, size, device)
    off = _Clock(device, enabled=False)
    times: list[float] = []
    with peak_memory(device) as mem:
        it = iter(data)
        for i in range(warmup):
            step(next(it), i, off)
        sync(device)
        cpu0 = time.process_time()
        for i in range(warmup, warmup + steps):
            t0 = time.perf_counter()
            step(next(it), i, off)
            if i == warmup + steps - 1:
                sync(device)
            times.append(time.perf_counter() - t0)
        cpu_s = time.process_time() - cpu0
        clock = _Clock(device, enabled=True)
        for i in range(warmup + steps, warmup + steps + split_steps):
            step(next(it), i, clock)
    split = {k: 1000 * v / split_steps for k, v in clock.totals.items()} if split_steps else {}
    return summarize("bare", times, batch_size, cpu_s, mem[0].peak_mib, mem[0].kind, split)


class _StepTimer(L.Callback):
    """Per-batch wall time of batches ``warmup .. warmup+steps-1``, start to start (data fetch, hooks and
    logging included); the device is synchronised only at the two ends of the window."""

    def __init__(self, warmup: int, steps: int, device: torch.device) -> None:
        self.warmup, self.steps, self.device = warmup, steps, device
        self.starts: list[float] = []
        self.end = 0.0
        self.cpu_s = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.warmup:
            sync(self.device)
            self.cpu_s = -time.process_time()
        if self.warmup <= batch_idx < self.warmup + self.steps:
            self.starts.append(time.perf_counter())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if batch_idx == self.warmup + self.steps - 1:
            sync(self.device)
            self.end = time.perf_counter()
            self.cpu_s += time.process_time()

    def step_times(self) -> list[float]:
        if len(self.starts) != self.steps or not self.end:
            raise RuntimeError("the Lightning run ended before the timed window (a skipped step?)")
        edges = [*self.starts, self.end]
        return [b - a for a, b in pairwise(edges)]


def lightning_loop(module: StyleTransferModule, device: torch.device, precision: str, batch_size: int, size: int,
                   warmup: int, steps: int, log_every_n_steps: int) -> TrainResult:
    """``trainer.fit`` for exactly ``warmup + steps`` batches, with a CSV logger at the run cadence."""
    timer = _StepTimer(warmup, steps, device)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu", devices=1, precision=precision,
            max_epochs=1, logger=CSVLogger(tmp, name="bench"), log_every_n_steps=log_every_n_steps,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            num_sanity_val_steps=0, limit_val_batches=0, callbacks=[timer],
            benchmark=device.type == "cuda" or None,
        )
        with peak_memory(device) as mem:
            trainer.fit(module, train_dataloaders=loader(warmup + steps, batch_size, size, device))
    return summarize("lightning", timer.step_times(), batch_size, timer.cpu_s, mem[0].peak_mib, mem[0].kind)
