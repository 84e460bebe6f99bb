"""load_rgb: every odd file becomes 8-bit RGB, or an ImageLoadError naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from adaptive_st.data import ImageLoadError, load_rgb, pil_to_tensor


def _rgb(img: Image.Image) -> np.ndarray:
    assert img.mode == "RGB"
    return np.asarray(img).astype(int)


def test_grayscale_becomes_rgb_with_equal_channels(tmp_path: Path) -> None:
    grey = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))
    Image.fromarray(grey).save(tmp_path / "g.png")
    out = _rgb(load_rgb(tmp_path / "g.png"))
    assert out.shape == (8, 64, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


def test_bilevel_becomes_black_and_white(tmp_path: Path) -> None:
    img = Image.new("1", (4, 2), 0)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "b.png")
    out = _rgb(load_rgb(tmp_path / "b.png"))
    assert out[0, 1].tolist() == [255, 255, 255]
    assert out[0, 0].tolist() == [0, 0, 0]


def test_rgba_is_composited_onto_white(tmp_path: Path) -> None:
    rgba = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 255, 128]]], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = _rgb(load_rgb(tmp_path / "a.png"))
    assert out[0, 0].tolist() == [255, 255, 255]  # fully transparent -> white paper, not black
    assert out[0, 1].tolist() == [255, 0, 0]  # opaque stays
    np.testing.assert_allclose(out[0, 2], [127, 127, 255], atol=2)  # half blue over white


def test_grey_alpha_is_composited_onto_white(tmp_path: Path) -> None:
    Image.fromarray(np.array([[[0, 0], [0, 255]]], dtype=np.uint8), "LA").save(tmp_path / "la.png")
    out = _rgb(load_rgb(tmp_path / "la.png"))
    assert out[0, 0].tolist() == [255, 255, 255]
    assert out[0, 1].tolist() == [0, 0, 0]


def test_palette_with_transparency_uses_white_for_transparent_index(tmp_path: Path) -> None:
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 200, 0] + [0] * (254 * 3))
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    img.save(tmp_path / "p.png", transparency=0)
    assert Image.open(tmp_path / "p.png").info.get("transparency") == 0
    out = _rgb(load_rgb(tmp_path / "p.png"))
    assert out[0, 0].tolist() == [255, 255, 255]  # transparent red index -> white
    assert out[0, 1].tolist() == [0, 200, 0]


def test_cmyk_tiff_and_jpeg_become_rgb(tmp_path: Path) -> None:
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red ink-wise
    cmyk.save(tmp_path / "c.tif")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    assert _rgb(load_rgb(tmp_path / "c.tif"))[8, 8].tolist() == [255, 0, 0]
    np.testing.assert_allclose(_rgb(load_rgb(tmp_path / "c.jpg"))[8, 8], [255, 0, 0], atol=12)


def test_16bit_png_is_scaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 257 * 100, 32896, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(tmp_path / "d.png")
    assert Image.open(tmp_path / "d.png").mode == "I;16"
    out = _rgb(load_rgb(tmp_path / "d.png"))
    # 1000/257 = 3.9 -> 4 (naive clipping would give 255), 25700 -> 100, 32896 -> 128, 65535 -> 255.
    np.testing.assert_array_equal(out[0, :, 0], [0, 4, 100, 128, 255])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_float_tiff_in_unit_range_is_scaled(tmp_path: Path) -> None:
    Image.fromarray(np.array([[0.0, 0.5, 1.0]], dtype=np.float32)).save(tmp_path / "f.tif")
    assert Image.open(tmp_path / "f.tif").mode == "F"
    np.testing.assert_array_equal(_rgb(load_rgb(tmp_path / "f.tif"))[0, :, 1], [0, 128, 255])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red
    stored[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": stored left edge becomes the top edge
    Image.fromarray(stored).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    img = load_rgb(tmp_path / "r.jpg")
    assert img.size == (20, 40)  # (w, h) transposed
    out = _rgb(img)
    assert out[5, 10, 0] > 200 and out[5, 10, 2] < 60  # top is red
    assert out[35, 10, 2] > 200 and out[35, 10, 0] < 60  # bottom is blue


def test_truncated_jpeg_raises_naming_the_file(tmp_path: Path, real_jpeg_bytes: bytes) -> None:
    data = real_jpeg_bytes
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageLoadError, match=r"half\.jpg") as info:
        load_rgb(path)
    assert "truncated or corrupt" in str(info.value)


def test_text_file_with_image_extension_raises(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_text("definitely not a JPEG\n")
    with pytest.raises(ImageLoadError, match=r"x\.jpg.*not a recognisable image"):
        load_rgb(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(ImageLoadError, match=r"gone\.png.*does not exist"):
        load_rgb(tmp_path / "gone.png")


def test_decompression_bomb_guard_names_limit(tmp_path: Path) -> None:
    Image.new("RGB", (100, 100), (10, 20, 30)).save(tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match=r"big\.png.*10000 pixels.*max_pixels=5000"):
        load_rgb(tmp_path / "big.png", max_pixels=5000)
    assert load_rgb(tmp_path / "big.png", max_pixels=10_000).size == (100, 100)


def test_unreadable_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    Image.new("RGB", (4, 4)).save(path)
    os.chmod(path, 0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: chmod 000 does not stop reads")
        with pytest.raises(ImageLoadError, match=r"secret\.png.*permission denied"):
            load_rgb(path)
    finally:
        os.chmod(path, 0o644)


def test_permission_error_is_mapped_even_as_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root can read chmod-000 files, so also simulate the OS refusing the read."""
    path = tmp_path / "locked.png"
    Image.new("RGB", (4, 4)).save(path)

    def refuse(fp: object, *args: object, **kwargs: object) -> Image.Image:
        raise PermissionError(13, "Permission denied", str(fp))

    monkeypatch.setattr(Image, "open", refuse)
    with pytest.raises(ImageLoadError, match=r"locked\.png.*permission denied.*chmod"):
        load_rgb(path)


def test_draft_decodes_large_jpeg_at_reduced_size_keeping_min_side(tmp_path: Path) -> None:
    Image.new("RGB", (1200, 800), (90, 160, 30)).save(tmp_path / "large.jpg")
    img = load_rgb(tmp_path / "large.jpg", draft_min_side=150)
    assert min(img.size) >= 150
    assert img.size[0] < 1200  # decoded at 1/2..1/8 scale
    assert img.size[0] * 800 == img.size[1] * 1200  # aspect ratio kept


def test_pil_to_tensor_is_float_chw_unit_range() -> None:
    img = Image.fromarray(np.array([[[0, 128, 255], [255, 255, 255]]], dtype=np.uint8))
    t = pil_to_tensor(img)
    assert t.dtype == torch.float32 and t.shape == (3, 1, 2)
    assert t[:, 0, 0].tolist() == pytest.approx([0.0, 128 / 255, 1.0])
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


def test_real_photos_decode_to_rgb(shared_images: Path) -> None:
    for name in ("content/golden_gate.jpg", "style/sketch.png"):
        img = load_rgb(shared_images / name)
        assert img.mode == "RGB" and min(img.size) >= 300
