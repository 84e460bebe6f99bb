"""What each benchmark preset measures. ``cpu`` must finish in a few minutes on 2 cores; ``gpu`` is sized
for one H100/H200; ``smoke`` only exercises every code path (tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

ALL_POLICIES = ("constant", "schedule", "loss_ratio", "dwa", "uncertainty", "constrained", "grad_ratio",
                "gradnorm", "conditional", "per_image")


@dataclass(frozen=True)
class TrainCase:
    model: str
    size: int
    batch: int
    precision: str = "32-true"
    compile: bool = False
    channels_last: bool = False
    bare: bool = True  # also run the bare-PyTorch loop (framework overhead)
    overrides: tuple[str, ...] = ()  # extra Hydra overrides (e.g. model.generator.transform=adain)


@dataclass(frozen=True)
class StylizeCase:
    model: str
    size: int
    batch: int
    precision: str = "32-true"
    compile: bool = False
    channels_last: bool = False
    #: One style for the whole batch, encoded once (a folder stylized with one painting); else one
    #: style image per content image, each encoded in the timed call.
    shared_style: bool = False
    overrides: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preset:
    name: str
    device: str
    train: tuple[TrainCase, ...]
    policy_case: TrainCase
    stylize: tuple[StylizeCase, ...]
    warmup: int = 2
    steps: int = 5
    split_steps: int = 3
    repeats: int = 1  # bare/Lightning pairs, best kept (shared machines)
    policy_steps: int = 5
    policies: tuple[str, ...] = ALL_POLICIES
    log_every_n_steps: int = 5
    stylize_iters: int = 3
    stylize_min_seconds: float = 0.0
    #: torch intra-op threads (None = torch's default).
    threads: int | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


CPU = Preset(
    name="cpu",
    device="cpu",
    train=(
        TrainCase("tiny", 128, 4),
        TrainCase("base", 128, 2),
        TrainCase("base", 128, 2, channels_last=True, bare=False),
        TrainCase("base", 128, 2, precision="bf16-mixed", bare=False),
    ),
    policy_case=TrainCase("tiny", 64, 4),
    stylize=(
        *(StylizeCase(m, s, 1) for m in ("tiny", "base") for s in (256, 512, 1024)),
        StylizeCase("base", 256, 8),
        StylizeCase("base", 512, 4),
        StylizeCase("base", 512, 1, channels_last=True),
    ),
    warmup=2,
    steps=6,
    split_steps=2,
    repeats=2,
    policy_steps=6,
    log_every_n_steps=5,
    stylize_iters=2,
    # One thread: stable on shared machines (with 2, a descheduled peer thread stalls every parallel op).
    # `--threads 2` for absolute 2-core numbers on a quiet machine.
    threads=1,
    notes=(
        "CPU preset: training at 128² (batch 4 tiny / 2 base) instead of 256² to finish in minutes on 2 cores; "
        "1 torch thread by default (stable on a shared machine; --threads 2 for 2-core throughput).",
        "Synthetic in-memory data; memory = peak RSS of the whole benchmark process during the case.",
    ),
)

GPU = Preset(
    name="gpu",
    device="cuda",
    train=(
        TrainCase("tiny", 256, 16),
        TrainCase("base", 256, 16),
        TrainCase("base", 256, 16, precision="bf16-mixed"),
        TrainCase("base", 256, 16, precision="16-mixed"),
        TrainCase("base", 256, 16, precision="bf16-mixed", channels_last=True),
        TrainCase("base", 256, 16, precision="bf16-mixed", channels_last=True, compile=True),
        TrainCase("tiny", 256, 16, precision="bf16-mixed"),
    ),
    policy_case=TrainCase("base", 256, 16, precision="bf16-mixed"),
    stylize=(
        *(StylizeCase("base", s, 1, "bf16-mixed") for s in (256, 512, 1024)),
        StylizeCase("base", 256, 64, "bf16-mixed"),
        StylizeCase("base", 1024, 8, "bf16-mixed"),
        StylizeCase("base", 512, 64, "32-true"),
        StylizeCase("base", 512, 64, "bf16-mixed"),
        StylizeCase("base", 512, 64, "bf16-mixed", channels_last=True),
        StylizeCase("base", 512, 64, "bf16-mixed", channels_last=True, compile=True),
        StylizeCase("tiny", 512, 64, "bf16-mixed", channels_last=True, compile=True),
    ),
    warmup=10,
    steps=50,
    split_steps=10,
    repeats=2,
    policy_steps=50,
    log_every_n_steps=50,
    stylize_iters=10,
    stylize_min_seconds=2.0,
    notes=("Memory = torch.cuda.max_memory_allocated during the case.",
           "Target: >= 1000 stylizations/s at 512² bf16 (base, batch 64) on an H100."),
)

GPU_QUALITY = Preset(
    name="gpu_quality",
    device="cuda",
    train=(
        TrainCase("quality", 256, 16),
        TrainCase("quality", 256, 16, precision="bf16-mixed"),
        TrainCase("quality", 256, 16, precision="bf16-mixed", channels_last=True, bare=False),
    ),
    policy_case=TrainCase("quality", 256, 16, precision="bf16-mixed"),
    stylize=(
        StylizeCase("quality", 512, 1, "bf16-mixed", shared_style=True),
        StylizeCase("quality", 512, 64, "32-true", shared_style=True),
        StylizeCase("quality", 512, 64, "bf16-mixed", shared_style=True),
        StylizeCase("quality", 512, 64, "bf16-mixed", channels_last=True, shared_style=True),
        StylizeCase("quality", 512, 64, "bf16-mixed", channels_last=True, compile=True, shared_style=True),
        StylizeCase("quality", 512, 64, "bf16-mixed", channels_last=True, shared_style=True,
                    overrides=("model.generator.transform=adain",)),
        StylizeCase("quality", 512, 64, "bf16-mixed", channels_last=True),
        StylizeCase("base", 512, 64, "bf16-mixed", channels_last=True, shared_style=True),
    ),
    warmup=5,
    steps=30,
    split_steps=5,
    repeats=1,
    policies=(),
    log_every_n_steps=50,
    stylize_iters=5,
    stylize_min_seconds=1.5,
    notes=("The quality model (VGG encoder + WCT/AdaIN + decoder) on one H100/H200; run with --skip policies.",
           "Memory = torch.cuda.max_memory_allocated during the case.",
           "Target: >= 1000 stylizations/s at 512² bf16."),
)

SMOKE = Preset(
    name="smoke",
    device="cpu",
    train=(TrainCase("tiny", 32, 2), TrainCase("tiny", 32, 2, precision="bf16-mixed", bare=False)),
    policy_case=TrainCase("tiny", 32, 2),
    stylize=(StylizeCase("tiny", 64, 1), StylizeCase("tiny", 64, 2, channels_last=True)),
    warmup=1,
    steps=2,
    split_steps=1,
    policy_steps=2,
    policies=("constant", "grad_ratio"),
    log_every_n_steps=1,
    stylize_iters=1,
    threads=1,
    notes=("Smoke preset: exercises the code paths only; the numbers mean nothing.",),
)

PRESETS = {p.name: p for p in (CPU, GPU, GPU_QUALITY, SMOKE)}
