"""adaptive_st: GAN-based adaptive style transfer with pluggable loss-weight policies."""

__version__ = "0.2.0"
