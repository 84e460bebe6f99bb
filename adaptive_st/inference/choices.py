"""Names and defaults the inference CLIs offer, in a module that imports nothing heavy.

``adaptive-st stylize --help`` builds its parser from these before torch is imported (start-up in well
under a second); the modules that implement each option import their defaults from here.
"""

from __future__ import annotations

#: Autocast precisions of G (``runtime.PRECISIONS`` maps them to dtypes).
PRECISION_NAMES: tuple[str, ...] = ("fp32", "bf16", "fp16")
#: Colour preservation modes (see ``inference.images``).
PRESERVE_COLOR: tuple[str, ...] = ("none", "luminance", "histogram")
#: ``tile=None`` ("auto") tiles only images whose longer side exceeds AUTO_TILE_ABOVE, with DEFAULT_TILE tiles.
AUTO_TILE_ABOVE = 2048
DEFAULT_TILE = 1024
#: Longer side of the thumbnail the AdaIN statistics are taken from (exact for images up to this size).
DEFAULT_STATS_SIZE = 1024
#: ONNX opset of ``adaptive-st export`` (Resize with antialias needs 18).
OPSET = 18
#: The newest opset torch's exporter writes (``torch.onnx._constants.ONNX_MAX_OPSET`` of the pinned torch;
#: a test keeps them equal). Outside OPSET..MAX_OPSET torch silently writes another opset.
MAX_OPSET = 23
#: What runs G∘S in ``stylize``: ``auto`` (ONNX Runtime without torch when the checkpoint's graph is cached and
#: the options allow, else torch), eager PyTorch, or ONNX Runtime on the graph ``adaptive-st export`` writes.
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime")
