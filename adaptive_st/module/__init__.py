"""Training: the LightningModule and the callbacks it works with."""

from adaptive_st.module.image_grid import ImageGridCallback
from adaptive_st.module.style_transfer import NonFiniteLossError, StyleTransferModule

__all__ = ["ImageGridCallback", "NonFiniteLossError", "StyleTransferModule"]
