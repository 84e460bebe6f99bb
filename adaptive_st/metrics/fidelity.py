"""Content fidelity of a stylised output to its content image: SSIM and PSNR on RGB and on luminance.

Stylisation changes colour on purpose, so the luminance (Y) variants say more about preserved structure
than RGB ones. ``data_range`` is fixed at 1.0 (images in [0, 1]); inferring it per batch makes values drift.
"""

from __future__ import annotations

from torch import Tensor
from torchmetrics import MetricCollection
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from torchmetrics.wrappers import LambdaInputTransformer

_BT601 = (0.299, 0.587, 0.114)


def rgb_to_y(x: Tensor) -> Tensor:
    """BT.601 luma (full range, as in JPEG YCbCr) of RGB (B,3,H,W) in [0,1] -> (B,1,H,W) in [0,1]."""
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return _BT601[0] * r + _BT601[1] * g + _BT601[2] * b


def _ssim() -> StructuralSimilarityIndexMeasure:
    return StructuralSimilarityIndexMeasure(data_range=1.0)


def _psnr() -> PeakSignalNoiseRatio:
    # dim=(1,2,3): mean of per-image PSNR (the usual report), not PSNR of the pooled MSE.
    return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))


class ContentFidelity(MetricCollection):
    """``update(output, content)``; ``compute()`` -> ``{ssim, psnr, ssim_y, psnr_y}``.

    A ``MetricCollection`` of torchmetrics metrics, so states sync across DDP ranks as usual. Identical
    images give SSIM 1 and PSNR ``inf``.
    """

    def __init__(self, prefix: str | None = None) -> None:
        super().__init__(
            {
                "ssim": _ssim(),
                "psnr": _psnr(),
                "ssim_y": LambdaInputTransformer(_ssim(), transform_pred=rgb_to_y, transform_target=rgb_to_y),
                "psnr_y": LambdaInputTransformer(_psnr(), transform_pred=rgb_to_y, transform_target=rgb_to_y),
            },
            prefix=prefix,
            compute_groups=False,
        )
