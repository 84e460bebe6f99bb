"""Presence report for every known pretrained file, for the ``adaptive-st weights check`` command."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from adaptive_st.pretrained.errors import MissingWeightsError
from adaptive_st.pretrained.registry import KNOWN_WEIGHTS


@dataclass(frozen=True)
class WeightStatus:
    """Whether one known file is usable; ``hint`` says how to get it when it is not."""

    name: str
    path: Path | None
    present: bool
    hint: str
    config_key: str
    optional: bool = False


def check_weights(
    search: Mapping[str, str | Path | None] | None = None, hub_dir: str | Path | None = None
) -> list[WeightStatus]:
    """Status of every entry of ``KNOWN_WEIGHTS``; ``search`` maps a name to an explicit path to try.

    Only looks at files; never builds a network or downloads.
    """
    search = dict(search or {})
    unknown = sorted(set(search) - set(KNOWN_WEIGHTS))
    if unknown:
        raise ValueError(f"unknown weights {unknown}; known: {sorted(KNOWN_WEIGHTS)}")
    out = []
    for name, spec in KNOWN_WEIGHTS.items():
        try:
            path: Path | None = spec.resolve(search.get(name), hub_dir)
            hint = ""
        except MissingWeightsError as err:
            path, hint = None, str(err)
        out.append(WeightStatus(name, path, path is not None, hint, spec.config_key, spec.optional))
    return out
