"""VGGFeatures: real truncated normalised file, torchvision layout, full AdaIN layout, factory errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from adaptive_st.losses import VGGFeatures, build_vgg
from adaptive_st.pretrained import MissingWeightsError, hub_checkpoint_path

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TRUNCATED = SHARED / "weights" / "vgg_normalised_conv3_1.pth"
needs_truncated = pytest.mark.skipif(not TRUNCATED.is_file(), reason=f"{TRUNCATED} missing")
FIVE = ("relu1_1", "relu1_2", "relu2_1", "relu2_2", "relu3_1")


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "download_url_to_file", fail)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fail)


def adain_vgg() -> nn.Sequential:
    """pytorch-AdaIN's ``net.vgg`` written out independently, as the reference layout."""

    def conv(i: int, o: int) -> list[nn.Module]:
        return [nn.ReflectionPad2d((1, 1, 1, 1)), nn.Conv2d(i, o, (3, 3)), nn.ReLU()]

    def pool() -> nn.Module:
        return nn.MaxPool2d((2, 2), (2, 2), (0, 0), ceil_mode=True)

    return nn.Sequential(
        nn.Conv2d(3, 3, (1, 1)),
        *conv(3, 64), *conv(64, 64), pool(),
        *conv(64, 128), *conv(128, 128), pool(),
        *conv(128, 256), *conv(256, 256), *conv(256, 256), *conv(256, 256), pool(),
        *conv(256, 512), *conv(512, 512), *conv(512, 512), *conv(512, 512), pool(),
        *conv(512, 512), *conv(512, 512), *conv(512, 512), *conv(512, 512),
    )  # fmt: skip


@needs_truncated
def test_real_truncated_file_shapes() -> None:
    vgg = VGGFeatures.from_normalised(TRUNCATED, FIVE)
    feats = vgg(torch.rand(2, 3, 64, 64))
    assert list(feats) == list(FIVE)
    expected = {"relu1_1": (64, 64), "relu1_2": (64, 64), "relu2_1": (128, 32), "relu2_2": (128, 32)}
    expected["relu3_1"] = (256, 16)
    for name, (c, s) in expected.items():
        assert feats[name].shape == (2, c, s, s), name
        assert (feats[name] >= 0).all()
    assert vgg.out_channels == {name: c for name, (c, _) in expected.items()}


@needs_truncated
def test_frozen_and_always_eval() -> None:
    vgg = VGGFeatures.from_normalised(TRUNCATED, ["relu2_1"])
    parent = nn.Sequential(vgg, nn.Conv2d(3, 3, 1)).train()
    assert parent.training and parent[1].training
    assert not vgg.training and not any(m.training for m in vgg.modules())
    assert not any(p.requires_grad for p in vgg.parameters())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    vgg(x)["relu2_1"].sum().backward()  # frozen weights, but gradients still reach the input
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in vgg.parameters())


@needs_truncated
def test_requesting_a_layer_deeper_than_the_file_is_a_clear_error() -> None:
    with pytest.raises(ValueError) as info:
        VGGFeatures.from_normalised(TRUNCATED, ["relu1_1", "relu4_1"])
    msg = str(info.value)
    for part in (
        "relu4_1",
        "relu3_1",
        "relu2_2",
        TRUNCATED.name,
        "loss.perceptual.vgg.layers",
        "loss.perceptual.content_layers",
    ):
        assert part in msg, part


def test_unknown_layer_name_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"relu6_1.*valid names: relu1_1"):
        VGGFeatures.random(["relu6_1"])


@needs_truncated
def test_preprocessing_conv_maps_red_to_bgr_minus_mean() -> None:
    vgg = VGGFeatures.from_normalised(TRUNCATED, ["relu1_1"])
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 1.0
    out = vgg.body[0](red)[0, :, 0, 0]
    expected = torch.tensor([0 - 103.939, 0 - 116.779, 255 - 123.68])  # (B, G, R) channels
    torch.testing.assert_close(out, expected, atol=1e-3, rtol=0)


@needs_truncated
def test_computes_only_up_to_the_deepest_requested_layer() -> None:
    vgg = VGGFeatures.from_normalised(TRUNCATED, FIVE)
    calls = []
    vgg.body[16].register_forward_hook(lambda *_: calls.append(1))  # conv3_1
    assert list(vgg(torch.rand(1, 3, 32, 32), ["relu1_2"])) == ["relu1_2"]
    assert calls == []
    assert len(VGGFeatures.from_normalised(TRUNCATED, ["relu1_1"]).body) == 4


@needs_truncated
def test_channels_last_and_bf16_autocast() -> None:
    vgg = VGGFeatures.from_normalised(TRUNCATED, ["relu3_1"])
    x = torch.rand(2, 3, 32, 32)
    ref = vgg(x)["relu3_1"]
    torch.testing.assert_close(
        vgg(x.to(memory_format=torch.channels_last))["relu3_1"], ref, rtol=1e-4, atol=1e-3
    )
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = vgg(x)["relu3_1"]
    assert low.dtype == torch.bfloat16 and torch.isfinite(low).all()
    assert (low.float() - ref).norm() / ref.norm() < 0.05


def test_full_normalised_file_loads_to_relu5_1(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = adain_vgg().eval()
    path = tmp_path / "vgg_normalised.pth"
    torch.save(ref.state_dict(), path)
    vgg = VGGFeatures.from_normalised(path, ["relu1_1", "relu4_1", "relu5_1"])
    x = torch.rand(1, 3, 40, 40)  # 40 -> 20 -> 10 -> 5 -> 3: exercises ceil-mode pooling
    feats = vgg(x)
    with torch.no_grad():
        torch.testing.assert_close(feats["relu4_1"], ref[:31](x))
        torch.testing.assert_close(feats["relu5_1"], ref[:44](x))
    assert feats["relu5_1"].shape == (1, 512, 3, 3)


def test_torchvision_without_cached_file_raises(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError) as info:
        VGGFeatures.from_torchvision(["relu2_1"], hub_dir=tmp_path)
    msg = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in msg and "loss.perceptual.vgg.weights_path" in msg and str(tmp_path) in msg


def test_torchvision_loads_cached_file_and_matches_reference(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = torchvision.models.vgg19(weights=None).features.eval()
    # The real file also holds classifier.* tensors; the loader ignores them, so a small one stands in.
    state = {f"features.{k}": v for k, v in ref.state_dict().items()} | {"classifier.6.bias": torch.zeros(10)}
    cached = hub_checkpoint_path("vgg19-dcbb9e9d.pth", tmp_path)
    cached.parent.mkdir(parents=True)
    torch.save(state, cached)
    vgg = VGGFeatures.from_torchvision(["relu2_1", "relu4_1"], hub_dir=tmp_path)
    x = torch.rand(2, 3, 32, 32)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = ref[:21]((x - mean) / std)  # features index 20 is relu4_1
    torch.testing.assert_close(vgg(x)["relu4_1"], expected)
    explicit = build_vgg("torchvision", cached, ["relu1_1"], tmp_path / "elsewhere")
    assert explicit.flavour == "torchvision" and explicit.layers == ("relu1_1",)


def test_build_vgg_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"loss\.perceptual\.vgg\.source"):
        build_vgg("caffe")
    with pytest.raises(MissingWeightsError) as info:
        build_vgg("normalised", hub_dir=tmp_path)
    assert "vgg_normalised.pth" in str(info.value) and "vgg_normalised_conv3_1.pth" in str(info.value)


@needs_truncated
def test_build_vgg_finds_truncated_file_in_hub_cache(tmp_path: Path) -> None:
    link = hub_checkpoint_path("vgg_normalised_conv3_1.pth", tmp_path)
    link.parent.mkdir(parents=True)
    link.symlink_to(TRUNCATED)
    vgg = build_vgg("normalised", None, ["relu1_1", "relu3_1"], tmp_path)
    assert vgg.layers == ("relu1_1", "relu3_1") and vgg.flavour == "normalised"
