"""Bad configs fail at start-up, before any training, with one error naming the key and the fix."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from hydra.errors import MissingConfigException
from PIL import Image

import adaptive_st.cli.validation as validation
from adaptive_st.cli.train import build, train
from adaptive_st.cli.validation import ConfigError, validate_config
from adaptive_st.data import DataConfigError
from adaptive_st.data.datamodule import StyleTransferDataModule
from tests.conftest import IMAGES
from tests.reliability.conftest import TINY


@pytest.mark.parametrize(("overrides", "expected"), [
    (["+trainer.gradient_clip_val=1.0"], r"trainer\.gradient_clip_val=1\.0: .* set module\.grad_clip_g / module\.grad_clip_d"),
    (["+trainer.accumulate_grad_batches=2"], r"trainer\.accumulate_grad_batches=2: .* raise data\.batch_size"),
    (["trainer=ddp_cpu", "trainer.devices=1"], r"trainer\.strategy is DDP but trainer\.devices=1"),
    (["ckpt_path=/no/such/file.ckpt"], r"ckpt_path=/no/such/file\.ckpt: no such checkpoint file"),
    (["checkpoint_every=5"], r"checkpoint_every=5: must be even; .* would save every 10 steps"),
    (["loss.weights.style=-1"], r"loss\.weights\.style=-1(\.0)?: loss weights must be finite and >= 0"),
    (["loss.weights.content=nan"], r"loss\.weights\.content=nan: loss weights must be finite"),
    (["+loss.weights.colour=1"], r"loss\.weights\.colour: unknown loss term"),
    (["module.max_consecutive_nonfinite=0"], r"module\.max_consecutive_nonfinite=0: must be an integer >= 1"),
    (["module.cache_style_targets=true"], r"module\.cache_style_targets=true needs data\.style_size"),
    (["module.cache_style_targets=true", "data.style_size=160", "data.style_augment=true"],
     r"data\.style_augment=true: augmented styles differ every time"),
])
def test_bad_setting_names_its_key(compose_cfg, overrides: list[str], expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        validate_config(compose_cfg(*overrides))


def test_all_problems_are_reported_together(compose_cfg) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(compose_cfg("+trainer.gradient_clip_val=1", "checkpoint_every=3", "loss.weights.adv=-2"))
    message = str(info.value)
    assert message.count("\n  - ") == 3
    assert all(k in message for k in ("trainer.gradient_clip_val", "checkpoint_every", "loss.weights.adv"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_gpu_accelerator_without_gpu(compose_cfg) -> None:
    with pytest.raises(ConfigError, match=r"trainer\.accelerator=gpu: no CUDA GPU is visible .* use trainer=cpu"):
        validate_config(compose_cfg("trainer=gpu"))


def test_bf16_on_cpu_is_checked_by_running_it(compose_cfg, monkeypatch) -> None:
    validate_config(compose_cfg("trainer.precision=bf16-mixed"))  # works on this CPU
    monkeypatch.setattr(validation, "_cpu_bf16_works", lambda: False)
    with pytest.raises(ConfigError, match=r"trainer\.precision=bf16-mixed: bfloat16 autocast does not work on this "
                                          r"CPU; use trainer\.precision=32-true"):
        validate_config(compose_cfg("trainer.precision=bf16-mixed"))


def test_validation_runs_before_anything_is_built(compose_cfg, monkeypatch) -> None:
    def no_instantiate(*args, **kwargs):
        raise AssertionError("instantiate called before the config was checked")

    monkeypatch.setattr("adaptive_st.cli.train.instantiate", no_instantiate)
    with pytest.raises(ConfigError):
        build(compose_cfg("+trainer.accumulate_grad_batches=4"))


@pytest.mark.parametrize(("group", "option"), [("policy", "no_such_policy"), ("loss", "vgg_nineteen")])
def test_unknown_group_option_lists_the_choices(compose_cfg, group: str, option: str) -> None:
    with pytest.raises(MissingConfigException) as info:
        compose_cfg(f"{group}={option}")
    message = str(info.value)
    assert f"Could not find '{group}/{option}'" in message
    assert f"Available options in '{group}'" in message
    assert {"policy": "\tconstant", "loss": "\tdefault"}[group] in message  # the valid choices are listed


def test_impossible_constraint_target_fails_at_build(compose_cfg) -> None:
    with pytest.raises(ValueError, match=r"policy\.target=-0\.5: the fidelity target τ must be finite and > 0"):
        build(compose_cfg("policy=constrained", "policy.target=-0.5"))


@pytest.mark.parametrize("problem", ["missing", "empty", "no_images"])
def test_bad_data_folder_fails_before_the_model_is_built(compose_cfg, tmp_path: Path, monkeypatch,
                                                         problem: str) -> None:
    folder = tmp_path / "content"
    if problem != "missing":
        folder.mkdir()
    if problem == "no_images":
        (folder / "notes.txt").write_text("not an image")
    built: list[str] = []
    monkeypatch.setattr("adaptive_st.training.StyleTransferModule.__init__",
                        lambda *a, **k: built.append("module"))
    with pytest.raises(DataConfigError) as info:
        build(compose_cfg(f"data.content_dir={folder}", f"data.style_dir={tmp_path}"))
    assert f"data.content_dir={folder}" in str(info.value) and not built
    assert {"missing": "does not exist", "empty": "is empty", "no_images": "none with a supported extension"}[
        problem] in str(info.value)


def test_crop_larger_than_load_size_names_both_keys(compose_cfg) -> None:
    with pytest.raises(ValueError, match=r"data\.crop_size=64 is larger than data\.load_size=40"):
        build(compose_cfg("data.load_size=40"))


@pytest.mark.slow
def test_images_smaller_than_the_crop_are_resized_up_and_train(compose_cfg, tmp_path: Path) -> None:
    """Documented in UnpairedStyleDataset: a tiny image is upscaled to fill the crop, never an error."""
    for kind, colour in (("content", (200, 30, 30)), ("style", (30, 30, 200))):
        (tmp_path / kind).mkdir()
        for k in range(3):
            Image.new("RGB", (12 + k, 9), colour).save(tmp_path / kind / f"tiny_{k}.png")
    cfg = compose_cfg(*TINY, "data.crop_size=48", "trainer.max_steps=2", f"data.content_dir={tmp_path / 'content'}",
                      f"data.style_dir={tmp_path / 'style'}")
    metrics = train(cfg)
    assert metrics["train/skipped_steps"] == 0 and metrics["train/bad_files"] == 0


def test_bad_type_values_name_their_key(compose_cfg) -> None:
    with pytest.raises(ConfigError) as info:
        validate_config(compose_cfg("loss.weights.style=abc", "data.crop_size=big", "+trainer.num_nodes=two"))
    message = str(info.value)
    assert "loss.weights.style='abc': not a number; loss weights must be finite and >= 0" in message
    assert "data.crop_size='big': expected an integer" in message
    assert "trainer.num_nodes='two': expected an integer" in message  # its own check would crash on int('two')


def test_a_folder_of_only_corrupt_images_fails_at_start_up_with_the_right_count(compose_cfg, tmp_path: Path,
                                                                                 monkeypatch) -> None:
    if not IMAGES.is_dir():
        pytest.skip(f"shared images not found at {IMAGES}")
    folder = tmp_path / "content"
    folder.mkdir()
    photo = (IMAGES / "content" / "sailboat.jpg").read_bytes()
    (folder / "a_truncated.jpg").write_bytes(photo[: len(photo) // 3])  # a valid header: only a decode tells
    (folder / "b_text.jpg").write_text("not a JPEG\n")
    (folder / "c_empty.png").write_bytes(b"")
    built: list[str] = []
    monkeypatch.setattr("adaptive_st.training.StyleTransferModule.__init__", lambda *a, **k: built.append("module"))
    with pytest.raises(DataConfigError) as info:
        build(compose_cfg(f"data.content_dir={folder}", f"data.style_dir={IMAGES / 'style'}"))
    message = str(info.value)
    assert message.startswith(f"data.content_dir={folder}: none of its 3 image file(s) can be read")
    assert "a_truncated.jpg: image is truncated or corrupt" in message and not built


def test_a_crop_larger_than_every_image_is_warned_about(tmp_path: Path, caplog) -> None:
    for kind in ("content", "style"):
        (tmp_path / kind).mkdir()
    for k, size in enumerate([(40, 30), (50, 36), (20, 44)]):
        Image.new("RGB", size, (200, 30, 30)).save(tmp_path / "content" / f"small_{k}.png")
    Image.new("RGB", (300, 200), (30, 30, 200)).save(tmp_path / "style" / "large.png")
    with caplog.at_level(logging.WARNING, logger="adaptive_st.data.datamodule"):
        StyleTransferDataModule(str(tmp_path / "content"), str(tmp_path / "style"), crop_size=64)
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["data.crop_size=64 is larger than every image in data.content_dir (the largest is 50x36): "
                        "all are upscaled to fill it, which is slower and blurrier; lower data.crop_size to at "
                        "most 36 or use larger images"]
    caplog.clear()
    StyleTransferDataModule(str(tmp_path / "content"), str(tmp_path / "style"), crop_size=32)
    assert not caplog.records
