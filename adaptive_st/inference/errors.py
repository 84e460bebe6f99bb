"""Errors the inference path raises instead of raw stack traces; each message names what to fix."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, not from adaptive_st, or inconsistent with its own saved config."""


class ConditionError(ValueError):
    """λ was asked of a model that cannot take it (or a per-image λ cannot be computed)."""
