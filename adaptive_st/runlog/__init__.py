"""How a run reports itself: console (quiet library notices, a batch-counting progress bar, the config tree)
and W&B (run names and groups, the logger). Used by the training entry point (``cli/train.py``) and
``conf/logger/wandb.yaml``; nothing below ``cli/`` imports it."""
