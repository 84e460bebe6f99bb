"""Unreadable and odd images in the training folders never stop a run; skipped files are counted in the logs."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adaptive_st.cli.train import train
from tests.conftest import IMAGES
from tests.reliability.conftest import TINY, read_csv

pytestmark = pytest.mark.slow


def add_odd_files(folder: Path) -> dict[str, bool]:
    """Odd files next to real images; value: whether the file is unreadable (must be skipped)."""
    photo = next(folder.glob("*.jpg")).read_bytes()
    (folder / "zz_truncated.jpg").write_bytes(photo[: len(photo) // 3])
    (folder / "zz_text.jpg").write_text("this is a text file, not a JPEG\n")
    (folder / "zz_empty.png").write_bytes(b"")
    ramp = np.linspace(0, 65535, 64 * 48, dtype=np.uint16).reshape(48, 64)
    Image.fromarray(ramp).save(folder / "zz_16bit.png")  # mode I;16
    Image.new("L", (50, 40), 90).save(folder / "zz_gray.jpg")
    Image.new("RGBA", (40, 50), (250, 0, 0, 60)).save(folder / "zz_rgba.png")
    Image.new("RGB", (9, 7), (0, 200, 0)).save(folder / "zz_tiny.png")  # smaller than the crop
    return {"zz_truncated.jpg": True, "zz_text.jpg": True, "zz_empty.png": True, "zz_16bit.png": False,
            "zz_gray.jpg": False, "zz_rgba.png": False, "zz_tiny.png": False}


def test_bad_files_are_skipped_logged_and_counted(compose_cfg, tmp_path: Path, caplog) -> None:
    if not IMAGES.is_dir():
        pytest.skip(f"shared images not found at {IMAGES}")
    content, style = tmp_path / "content", tmp_path / "style"
    shutil.copytree(IMAGES / "content", content)
    shutil.copytree(IMAGES / "style", style)
    odd = add_odd_files(content)
    n_bad = sum(odd.values())
    # num_workers=1: the cache is preloaded in the main process, so every file is tried before step 1
    # and bad files found in a worker are still counted (shared memory).
    cfg = compose_cfg(*TINY, "trainer.max_steps=4", f"data.content_dir={content}", f"data.style_dir={style}",
                      "data.num_workers=1", "data.val_fraction=0.0", "data.train_length=8")
    with caplog.at_level(logging.WARNING):
        metrics = train(cfg)

    assert metrics["train/bad_files"] == n_bad
    assert [float(r["train/bad_files"]) for r in read_csv(Path(cfg.paths.output_dir)) if r.get("train/bad_files")] \
        == [n_bad, n_bad]
    skipped = [r.getMessage() for r in caplog.records if "Skipping unreadable" in r.getMessage()]
    assert sorted(name for name, bad in odd.items() if bad) == sorted(
        name for name in odd if any(name in m for m in skipped))
    assert all(name not in " ".join(skipped) for name, bad in odd.items() if not bad)
    summary = [r.getMessage() for r in caplog.records if "unreadable image file(s) were skipped" in r.getMessage()]
    assert summary and all(name in summary[0] for name, bad in odd.items() if bad)
    for message in skipped:  # what the user sees, for the report
        print(message)
