"""Trained checkpoints shared with the CLI tests (trained once per session)."""

from tests.cli.conftest import (  # noqa: F401  (fixtures)
    _retain_freed_memory,
    checkpoint_factory,
    conditional_ckpt,
    constant_ckpt,
    ema_ckpt,
    images,
    per_image_ckpt,
)
