"""Command-line entry points (training, and the `adaptive-st` console script)."""
