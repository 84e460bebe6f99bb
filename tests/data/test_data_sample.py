"""The procedural sample dataset: deterministic, idempotent, and made of structured images (not noise)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adaptive_st.data import ensure_sample_dataset, list_images
from adaptive_st.data.sample import GENERATOR_VERSION, MARKER_NAME

# Small but covering every scene kind (5) and every style kind (9).
PARAMS = {"n_content": 5, "n_style": 9, "size": 64, "seed": 0}


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    ensure_sample_dataset(root, **PARAMS)
    return root


def _bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _grey(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64).mean(axis=-1) / 255.0


def _structure(grey: np.ndarray) -> tuple[float, float, float]:
    """(std, lag-1 autocorrelation, share of variance in 8x8 block means): noise scores ~(.., 0, 1/64)."""
    x = grey - grey.mean()
    var = x.var()
    autocorr = min((x[:, 1:] * x[:, :-1]).mean(), (x[1:] * x[:-1]).mean()) / var
    h, w = x.shape
    blocks = x[: h // 8 * 8, : w // 8 * 8].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))
    return float(grey.std()), float(autocorr), float(blocks.var() / var)


def test_layout_names_and_marker(sample_root: Path) -> None:
    content = list_images(sample_root / "content", config_key="data.content_dir")
    style = list_images(sample_root / "style", config_key="data.style_dir")
    assert len(content) == 5 and len(style) == 9
    assert all(Image.open(p).size == (64, 64) and Image.open(p).mode == "RGB" for p in content + style)
    kinds = {p.stem.split("_", 2)[2] for p in content}
    assert kinds == {"landscape", "village", "city", "still_life", "seaside"}
    marker = json.loads((sample_root / MARKER_NAME).read_text())
    assert marker == {**PARAMS, "generator_version": GENERATOR_VERSION}


def test_generation_is_deterministic(sample_root: Path, tmp_path: Path) -> None:
    content, style = ensure_sample_dataset(tmp_path, **PARAMS)
    assert _bytes(content) == _bytes(sample_root / "content")
    assert _bytes(style) == _bytes(sample_root / "style")
    other_content, _ = ensure_sample_dataset(tmp_path / "seed1", **{**PARAMS, "seed": 1, "n_style": 1})
    assert _bytes(other_content) != _bytes(content)


def test_second_call_is_a_noop_and_parameter_change_regenerates(tmp_path: Path) -> None:
    params = {"n_content": 3, "n_style": 2, "size": 48}
    content, style = ensure_sample_dataset(tmp_path, **params)
    first = content / "content_0000_landscape.png"
    Image.new("RGB", (48, 48), (1, 2, 3)).save(first)  # sentinel: a regeneration would overwrite it
    sentinel = first.read_bytes()
    assert ensure_sample_dataset(tmp_path, **params) == (content, style)
    assert first.read_bytes() == sentinel

    ensure_sample_dataset(tmp_path, **{**params, "n_content": 2})
    assert sorted(p.name for p in content.iterdir()) == [
        "content_0000_landscape.png",
        "content_0001_village.png",
    ]
    assert first.read_bytes() != sentinel
    assert json.loads((tmp_path / MARKER_NAME).read_text())["n_content"] == 2

    (content / "content_0001_village.png").unlink()  # a missing file also triggers regeneration
    ensure_sample_dataset(tmp_path, **{**params, "n_content": 2})
    assert (content / "content_0001_village.png").is_file()


def test_images_are_structured_not_noise(sample_root: Path) -> None:
    noise = np.random.default_rng(0).random((64, 64))
    _, noise_autocorr, noise_blocks = _structure(noise)
    assert noise_autocorr < 0.1 and noise_blocks < 0.05  # the metrics do separate noise
    for path in sorted((sample_root / "content").iterdir()):
        std, autocorr, blocks = _structure(_grey(path))
        assert std > 0.08, path.name  # not flat
        assert autocorr > 0.5, path.name  # neighbouring pixels agree
        assert blocks > 0.25, path.name  # large coherent regions (sky, ground, objects); noise: 1/64
    for path in sorted((sample_root / "style").iterdir()):
        std, autocorr, blocks = _structure(_grey(path))
        assert std > 0.06 and autocorr > 0.4 and blocks > 0.05, path.name  # textures: finer, still not noise


def test_images_are_all_different(sample_root: Path) -> None:
    arrays = [
        np.asarray(Image.open(p), dtype=np.float64) / 255.0
        for folder in ("content", "style")
        for p in sorted((sample_root / folder).iterdir())
    ]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert np.abs(arrays[i] - arrays[j]).mean() > 0.05, (i, j)


def test_invalid_parameters(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_content"):
        ensure_sample_dataset(tmp_path, n_content=0)
    with pytest.raises(ValueError, match="size"):
        ensure_sample_dataset(tmp_path, size=8)
