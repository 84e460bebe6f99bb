"""Run plumbing shared by the Hydra entry points (``train``, ``eval``): quiet output, progress, W&B naming."""
