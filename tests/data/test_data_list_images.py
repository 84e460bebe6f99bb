"""list_images: recursive, sorted, extension-filtered discovery with config-key-naming errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from adaptive_st.data import IMAGE_EXTENSIONS, DataConfigError, list_images


def _touch_image(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (2, 2)).save(path, format="PNG")


def test_recursive_sorted_case_insensitive_and_skips_junk(tmp_path: Path) -> None:
    for rel in ("b.JPG", "a.png", "sub/c.Jpeg", "sub/deeper/d.webp", "z.TIFF"):
        _touch_image(tmp_path / rel)
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "._a.png").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork: hidden, not an image
    _touch_image(tmp_path / ".thumbs" / "e.png")  # hidden folder
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path, config_key="data.style_dir")]
    assert found == ["a.png", "b.JPG", "sub/c.Jpeg", "sub/deeper/d.webp", "z.TIFF"]


def test_missing_directory_names_path_key_and_extensions(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(DataConfigError) as info:
        list_images(missing, config_key="data.content_dir")
    message = str(info.value)
    assert str(missing) in message and "data.content_dir" in message and "does not exist" in message
    assert all(ext in message for ext in IMAGE_EXTENSIONS)


def test_file_instead_of_directory(tmp_path: Path) -> None:
    _touch_image(tmp_path / "one.png")
    with pytest.raises(DataConfigError, match=r"data\.style_dir=.*one\.png: is not a directory"):
        list_images(tmp_path / "one.png", config_key="data.style_dir")


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(DataConfigError, match=r"data\.content_dir=.*: is empty"):
        list_images(tmp_path, config_key="data.content_dir")


def test_directory_without_supported_images(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "clip.gif").write_bytes(b"GIF89a")
    with pytest.raises(DataConfigError, match=r"contains 2 file\(s\) but none with a supported extension"):
        list_images(tmp_path, config_key="data.content_dir")
