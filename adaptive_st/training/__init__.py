"""Training: the LightningModule (``module``, with ``steps`` and ``validation``), its callbacks
(``callbacks``), the DDP strategy (``ddp``), rank averaging (``distributed``), the EMA of G∘S (``ema``)
and the continuous CSV log across resumes (``csv_resume``)."""

from adaptive_st.training.callbacks import ImageGridCallback
from adaptive_st.training.module import NonFiniteLossError, StyleTransferModule

__all__ = ["ImageGridCallback", "NonFiniteLossError", "StyleTransferModule"]
