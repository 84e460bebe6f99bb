"""Errors the inference path raises instead of raw stack traces; each message names what to fix."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file is unreadable, not from adaptive_st, or inconsistent with its own saved config."""


class NonFiniteError(CheckpointError):
    """A checkpoint's weights, or what they compute, hold NaN/inf: a diverged run, never an image to save."""


class ConditionError(ValueError):
    """λ was asked of a model that cannot take it (or a per-image λ cannot be computed)."""
