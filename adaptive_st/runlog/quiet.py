"""Quiet by default: the entry points filter library notices that carry no information for this project.

Each filter names one message we checked is harmless here; anything else still prints. ``extras.
ignore_warnings=false`` keeps them all (for debugging a library upgrade).
"""

from __future__ import annotations

import logging
import os
import re
import warnings

#: Python warnings that are noise here (regexes matched against the start of the message).
HARMLESS_WARNINGS: tuple[str, ...] = (
    # Lightning's _pytree on torch >= 2.10: an internal deprecation, printed twice per run.
    r".*isinstance\(treespec, LeafSpec\)",
    # The frozen VGG (loss and feature-statistics models) is in eval mode on purpose.
    r"Found \d+ module\(s\) in eval mode",
    # Our G/D steps are checkpointed after both optimizer steps; Lightning's lecture does not apply.
    r"Using ModelCheckpoint with manual optimization",
    # Lightning's WandbLogger always passes `anonymous`.
    r"The anonymous setting has no effect",
)

#: Lightning INFO notices dropped from the console and train.log (start of message).
LIGHTNING_NOTICES: tuple[str, ...] = (
    "💡 Tip:",  # litlogger advertisement
    "GPU available:",
    "TPU available:",
    "HPU available:",
    "Seed set to",
    "`Trainer.fit` stopped:",  # our "outputs in ..." line ends the run
)

_NOTICE_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                   "lightning.fabric.utilities.seed", "lightning.pytorch.utilities.seed")


class _DropNotices(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not message.startswith(LIGHTNING_NOTICES)


_FILTER = _DropNotices()


def quiet_libraries(ignore_warnings: bool = True) -> None:
    """Silence W&B's console chatter, route Lightning's log lines through Hydra's handlers once, and (with
    ``ignore_warnings``) drop :data:`HARMLESS_WARNINGS` and :data:`LIGHTNING_NOTICES`. Idempotent."""
    os.environ.setdefault("WANDB_SILENT", "true")
    for name in ("lightning.pytorch", "lightning.fabric"):
        # Lightning adds its own stream handler when imported before logging is configured; Hydra's root
        # handlers (console + train.log) then print every line twice.
        logger = logging.getLogger(name)
        if logging.getLogger().handlers:
            for handler in [h for h in logger.handlers if type(h) is logging.StreamHandler]:
                logger.removeHandler(handler)
            logger.propagate = True
    if not ignore_warnings:
        return
    for pattern in HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
    for name in _NOTICE_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def is_noise(line: str) -> bool:
    """Whether a console line is a warning or library notice (what a default run keeps to ≤ 3 lines)."""
    return bool(re.search(r"warn|deprecat|tip:|wandb:|eval mode|available:|litlogger", line, re.IGNORECASE))
