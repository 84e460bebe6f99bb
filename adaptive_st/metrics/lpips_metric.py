"""LPIPS distance as a torchmetrics Metric, built only from a real, locally present backbone.

``lpips.LPIPS`` (and torchmetrics' wrapper) download the torchvision backbone on construction. Offline we
build it with a random trunk (``pnet_rand=True``: no download), then load the real ImageNet backbone from
the resolved file. Without that file there is no LPIPS: the builder warns once and returns None, because
LPIPS with a random trunk is not LPIPS.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn
from torchmetrics import Metric

from adaptive_st.checkpoint.files import load_file
from adaptive_st.pretrained import KNOWN_WEIGHTS, LPIPS_BACKBONE_KEY, LPIPS_BACKBONES, MissingWeightsError

log = logging.getLogger(__name__)
_warned: set[str] = set()  # nets whose "LPIPS unavailable" warning was already logged


class LPIPSMetric(Metric):
    """Mean LPIPS between outputs and targets in [0, 1]; sum/count states, so it syncs under DDP.

    The LPIPS network is kept out of the module tree (no checkpoint entries, no DDP parameters) and moved
    lazily to the inputs' device.
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, net: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self.__dict__["_lpips"] = net.eval().requires_grad_(False)
        self.add_state("sum_scores", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @property
    def net(self) -> nn.Module:
        return self.__dict__["_lpips"]

    @torch.no_grad()
    def per_sample(self, output: Tensor, target: Tensor) -> Tensor:
        """(B,) LPIPS of each pair, computed in float32."""
        net = self.net
        param = next(net.parameters())
        if param.device != output.device:
            net.to(output.device)
        with torch.autocast(device_type=output.device.type, enabled=False):
            d = net(output.float() * 2 - 1, target.float() * 2 - 1)
        return d.flatten()

    def update(self, output: Tensor, target: Tensor) -> None:
        d = self.per_sample(output, target)
        self.sum_scores += d.double().sum()
        self.total += d.numel()

    def compute(self) -> Tensor:
        return (self.sum_scores / self.total).float()


def load_lpips_network(net: str, backbone_file: str | Path) -> nn.Module:
    """``lpips.LPIPS`` with its calibrated linear layers and the torchvision backbone read from a file.

    torchvision keys ``features.N.*`` map to lpips's ``sliceK.N.*`` (the slices keep torchvision's module
    indices as names); classifier keys in the file are ignored.
    """
    import lpips

    with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False`
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(net=net, pretrained=True, pnet_rand=True, verbose=False)
    state = load_file(backbone_file)
    mapped = {}
    for key in model.net.state_dict():
        source = "features." + key.split(".", 1)[1]
        if source not in state:
            raise ValueError(f"{backbone_file} lacks {source}: not a torchvision {LPIPS_BACKBONES[net]} file")
        mapped[key] = state[source]
    model.net.load_state_dict(mapped, strict=True)
    return model.eval().requires_grad_(False)


def build_lpips(
    net: str = "alex", backbone_path: str | Path | None = None, hub_dir: str | Path | None = None
) -> LPIPSMetric | None:
    """LPIPS metric, or None (with one logged warning per ``net``) when the backbone file is missing."""
    if net not in LPIPS_BACKBONES:
        raise ValueError(
            f"module.val_metrics.lpips_net must be one of {sorted(LPIPS_BACKBONES)}, got {net!r}"
        )
    spec = KNOWN_WEIGHTS[LPIPS_BACKBONES[net]]
    try:
        path = spec.resolve(backbone_path, hub_dir)
    except MissingWeightsError as err:
        if net not in _warned:
            _warned.add(net)
            # One line, once per process (a multirun's jobs share it): `adaptive-st weights check` says more.
            looked = [*([err.explicit_path] if err.explicit_path else []), *err.searched]
            log.warning("LPIPS (net=%s) unavailable, not reported (never with a random backbone): %s not in %s; "
                        "set `%s` (`adaptive-st weights check` lists the files)", net, spec.hub_filenames[0],
                        ", ".join(map(str, looked)) or "the torch hub cache", LPIPS_BACKBONE_KEY)
        return None
    return LPIPSMetric(load_lpips_network(net, path))
