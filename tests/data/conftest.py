"""Fixtures for the data-layer tests: the shared real photos/paintings and small synthetic image folders."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_IMAGES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "images"


@pytest.fixture(scope="session")
def shared_images() -> Path:
    """Real photos (content/) and paintings (style/); skipped where the shared folder is not mounted."""
    if not (SHARED_IMAGES / "content").is_dir() or not (SHARED_IMAGES / "style").is_dir():
        pytest.skip(f"shared test images not found at {SHARED_IMAGES}")
    return SHARED_IMAGES.resolve()


@pytest.fixture(scope="session")
def real_jpeg_bytes() -> bytes:
    """Bytes of a real photo (a synthetic JPEG where the shared images are not mounted)."""
    photo = SHARED_IMAGES / "content" / "golden_gate.jpg"
    if photo.is_file():
        return photo.read_bytes()
    buffer = io.BytesIO()
    gradient_image(512, 512, seed=1).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def gradient_image(width: int, height: int, seed: int) -> Image.Image:
    """Smooth, seed-dependent RGB image (so different files decode to different tensors)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    phase = rng.uniform(0, 6, 3)
    arr = 0.5 + 0.5 * np.sin(xx[..., None] / max(width, 1) * 6 + yy[..., None] / max(height, 1) * 3 + phase)
    return Image.fromarray((arr * 255).astype(np.uint8))


@pytest.fixture
def make_folder(tmp_path: Path) -> Callable[..., list[Path]]:
    """``make_folder(name, n, size=(w, h))`` writes ``n`` distinct PNGs into ``tmp_path/name``."""

    def make(name: str, n: int, size: tuple[int, int] = (48, 40), seed: int = 0) -> list[Path]:
        folder = tmp_path / name
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for k in range(n):
            path = folder / f"img_{k:03d}.png"
            gradient_image(*size, seed=seed * 1000 + k).save(path)
            paths.append(path)
        return paths

    return make
