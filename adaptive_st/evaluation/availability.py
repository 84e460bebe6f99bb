"""LPIPS and FID only with their real pretrained weights; otherwise a reason the report can print.

``build_lpips`` / ``build_fid`` return None when the weights are missing; resolving the file first
gives the reason (which file, where it was looked for) instead of a bare "unavailable".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adaptive_st.metrics import FIDMetric, LPIPSMetric, build_fid, build_lpips
from adaptive_st.pretrained import KNOWN_WEIGHTS, LPIPS_BACKBONES, MissingWeightsError


@dataclass(frozen=True)
class Availability:
    available: bool
    reason: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"available": self.available, "reason": self.reason}


def _missing(name: str, explicit: str | Path | None, hub_dir: str | Path | None) -> str | None:
    spec = KNOWN_WEIGHTS[name]
    try:
        spec.resolve(explicit, hub_dir)
    except MissingWeightsError as err:
        looked = ", ".join(str(p) for p in err.searched)
        where = f"looked in: {looked}" if looked else "its package is not installed and no path was given"
        return (f"pretrained {name} weights not found ({where}); "
                f"never computed with random weights — {spec.how_to_get()}")
    return None


def load_lpips(net: str = "alex", backbone_path: str | Path | None = None,
               hub_dir: str | Path | None = None) -> tuple[LPIPSMetric | None, Availability]:
    if net not in LPIPS_BACKBONES:
        raise ValueError(f"LPIPS net {net!r}: expected one of {sorted(LPIPS_BACKBONES)}")
    reason = _missing(LPIPS_BACKBONES[net], backbone_path, hub_dir)
    if reason:
        return None, Availability(False, f"LPIPS ({net}): {reason}")
    return build_lpips(net, backbone_path, hub_dir), Availability(True)


def load_fid(weights_path: str | Path | None = None) -> tuple[FIDMetric | None, Availability]:
    reason = _missing("fid_inception", weights_path, None)
    if reason:
        return None, Availability(False, f"FID/ArtFID skipped: {reason}")
    return build_fid(weights_path), Availability(True)
