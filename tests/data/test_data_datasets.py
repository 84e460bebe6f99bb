"""UnpairedStyleDataset: shapes, deterministic pairing, epoch-dependent augmentation, bad-file tolerance."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

import adaptive_st.data.datasets as datasets_module
from adaptive_st.data import DataConfigError, UnpairedStyleDataset

MakeFolder = Callable[..., list[Path]]


def _style_indices(ds: UnpairedStyleDataset) -> list[int]:
    return [ds[i]["style_index"] for i in range(len(ds))]


def test_items_have_crop_shape_unit_range_and_indices(make_folder: MakeFolder) -> None:
    content = make_folder("content", 3, size=(60, 40))
    style = make_folder("style", 5, size=(40, 70), seed=1)
    ds = UnpairedStyleDataset(content, style, crop_size=32, train=True)
    assert len(ds) == 5  # max(Nc, Ns)
    assert ds.load_size == 37  # round(32 * 1.15)
    for i in range(len(ds)):
        item = ds[i]
        for key in ("content", "style"):
            t = item[key]
            assert t.shape == (3, 32, 32) and t.dtype == torch.float32
            assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0 and float(t.std()) > 0.01
        assert item["content_index"] == i % 3 and 0 <= item["style_index"] < 5


def test_tiny_image_is_resized_up_to_fill_the_crop(tmp_path: Path, make_folder: MakeFolder) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 4), (200, 30, 30)).save(tiny)
    ds = UnpairedStyleDataset([tiny], make_folder("style", 2), crop_size=64, train=False)
    content = ds[0]["content"]
    assert content.shape == (3, 64, 64)
    assert content[0].mean() == pytest.approx(200 / 255, abs=0.02)


def test_eval_pairing_is_deterministic_and_seeded(make_folder: MakeFolder) -> None:
    content, style = make_folder("content", 4), make_folder("style", 12, seed=1)
    a = UnpairedStyleDataset(content, style, crop_size=24, train=False, seed=3, length=12)
    b = UnpairedStyleDataset(content, style, crop_size=24, train=False, seed=3, length=12)
    c = UnpairedStyleDataset(content, style, crop_size=24, train=False, seed=4, length=12)
    assert _style_indices(a) == _style_indices(b)
    assert sorted(_style_indices(a)) == list(range(12))  # a permutation: every style once
    assert _style_indices(a) != _style_indices(c)
    assert torch.equal(a[5]["style"], b[5]["style"]) and torch.equal(a[5]["content"], b[5]["content"])
    a.set_epoch(7)  # eval pairing ignores the epoch
    assert _style_indices(a) == _style_indices(b)


def test_set_epoch_changes_train_pairing_and_crops(make_folder: MakeFolder) -> None:
    content, style = make_folder("content", 3, size=(80, 60)), make_folder("style", 10, size=(70, 90), seed=1)
    ds = UnpairedStyleDataset(content, style, crop_size=32, train=True, seed=0)
    epoch0 = [ds[i] for i in range(len(ds))]
    again = [ds[i] for i in range(len(ds))]
    # Same epoch: same data.
    assert all(torch.equal(a["content"], b["content"]) for a, b in zip(epoch0, again))
    ds.set_epoch(1)
    assert ds.epoch == 1
    epoch1 = [ds[i] for i in range(len(ds))]
    assert [x["style_index"] for x in epoch1] != [x["style_index"] for x in epoch0]
    assert sorted(x["style_index"] for x in epoch1) == list(range(10))  # each style once per epoch
    assert any(not torch.equal(a["content"], b["content"]) for a, b in zip(epoch0, epoch1))  # new crops/flips
    assert all(a["content_index"] == b["content_index"] for a, b in zip(epoch0, epoch1))  # content i % Nc


def test_crop_larger_than_load_size_names_config_key(make_folder: MakeFolder) -> None:
    with pytest.raises(ValueError, match=r"data\.crop_size=64 .*data\.load_size=48"):
        UnpairedStyleDataset(make_folder("c", 1), make_folder("s", 1), crop_size=64, load_size=48)


def test_cache_decodes_each_file_once(make_folder: MakeFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Path] = []
    real = datasets_module.load_rgb

    def counting(path: Path, *args: object, **kwargs: object) -> Image.Image:
        calls.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(datasets_module, "load_rgb", counting)
    content, style = make_folder("content", 2), make_folder("style", 3, seed=1)
    cached = UnpairedStyleDataset(content, style, crop_size=16, cache=True)
    for epoch in range(3):
        cached.set_epoch(epoch)
        _ = [cached[i] for i in range(len(cached))]
    assert sorted(calls) == sorted(content + style)
    calls.clear()
    uncached = UnpairedStyleDataset(content, style, crop_size=16, cache=False)
    _ = [uncached[i] for i in range(len(uncached))]
    _ = [uncached[i] for i in range(len(uncached))]
    assert len(calls) == 2 * 2 * len(uncached)


def test_bad_files_are_skipped_counted_and_warned_once(
    tmp_path: Path, make_folder: MakeFolder, real_jpeg_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    content = make_folder("content", 3)
    text = tmp_path / "content" / "broken.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "content" / "cut.jpg"
    truncated.write_bytes(real_jpeg_bytes[: len(real_jpeg_bytes) // 2])
    paths = [content[0], text, content[1], truncated, content[2]]
    ds = UnpairedStyleDataset(paths, make_folder("style", 2, seed=1), crop_size=16, train=True)
    with caplog.at_level(logging.WARNING, logger="adaptive_st.data.datasets"):
        for _ in range(2):
            items = [ds[i] for i in range(len(ds))]
    assert ds.num_bad_files == 2
    assert ds.bad_files == {text, truncated}
    assert {items[1]["content_index"], items[3]["content_index"]} == {2, 4}  # next valid index substituted
    for bad in (text, truncated):
        assert sum(bad.name in record.getMessage() for record in caplog.records) == 1


def test_all_bad_files_raise_config_error(tmp_path: Path, make_folder: MakeFolder) -> None:
    bad = [tmp_path / f"bad{k}.png" for k in range(2)]
    for path in bad:
        path.write_text("junk")
    ds = UnpairedStyleDataset(bad, make_folder("style", 1), crop_size=8)
    with pytest.raises(DataConfigError, match=r"All 2 content images failed.*data\.content_dir"):
        ds[0]


def test_persistent_workers_see_set_epoch_and_report_bad_files(
    tmp_path: Path, make_folder: MakeFolder
) -> None:
    content = make_folder("content", 4)
    bad = tmp_path / "content" / "zzz_bad.png"
    bad.write_text("junk")
    ds = UnpairedStyleDataset([*content, bad], make_folder("style", 6, seed=1), crop_size=16, length=12)
    loader = DataLoader(ds, batch_size=4, num_workers=2, persistent_workers=True, shuffle=False)

    def styles() -> list[int]:
        return torch.cat([batch["style_index"] for batch in loader]).tolist()

    seen0 = styles()
    assert ds.bad_files == {bad}  # found inside a worker, visible in the main process
    ds.set_epoch(5)
    seen5 = styles()
    assert seen0 != seen5
    assert seen5 == _style_indices(ds)  # the persistent workers used the epoch set in the main process


def test_style_augment_changes_training_styles_only(make_folder: MakeFolder) -> None:
    content = make_folder("content", 2, size=(60, 40))
    style = make_folder("style", 3, size=(80, 50), seed=1)
    plain = UnpairedStyleDataset(content, style, crop_size=32, train=True, style_size=40)
    augmented = UnpairedStyleDataset(content, style, crop_size=32, train=True, style_size=40, style_augment=True)
    val = UnpairedStyleDataset(content, style, crop_size=32, train=False, style_size=40, style_augment=True)
    changed = 0
    for i in range(len(plain)):
        a, p = augmented[i], plain[i]
        assert a["style"].shape == p["style"].shape == (3, 40, 40)
        assert float(a["style"].min()) >= 0 and float(a["style"].max()) <= 1
        assert a["style_index"] == p["style_index"] and torch.equal(a["content"], p["content"])
        changed += not torch.allclose(a["style"], p["style"], atol=1e-3)
        assert torch.equal(augmented[i]["style"], a["style"]), "an item is a function of (seed, epoch, index)"
    assert changed >= 2
    assert torch.equal(val[0]["style"], UnpairedStyleDataset(content, style, crop_size=32, train=False,
                                                             style_size=40)[0]["style"]), "validation is never augmented"
    with pytest.raises(ValueError, match="style_size"):
        UnpairedStyleDataset(content, style, crop_size=32, style_augment=True)


def test_style_variants_are_fixed_augmentations_named_by_style_key(make_folder: MakeFolder) -> None:
    """Variants widen the style set, yet one ``style_key`` is always one image: cached targets stay valid."""
    content = make_folder("content", 2, size=(60, 40))
    style = make_folder("style", 3, size=(80, 50), seed=1)
    plain = UnpairedStyleDataset(content, style, crop_size=32, train=True, style_size=40, length=48)
    varied = UnpairedStyleDataset(content, style, crop_size=32, train=True, style_size=40, length=48,
                                  style_variants=4)
    by_key: dict[int, torch.Tensor] = {}
    for epoch in range(3):
        varied.set_epoch(epoch)
        plain.set_epoch(epoch)
        for i in range(len(varied)):
            item, base = varied[i], plain[i]
            key, index = int(item["style_key"]), int(item["style_index"])
            assert key // 4 == index == base["style_index"] and base["style_key"] == index
            assert item["style"].shape == (3, 40, 40) and float(item["style"].max()) <= 1
            if key % 4 == 0:
                assert torch.equal(item["style"], base["style"]), "variant 0 is the painting itself"
            if key in by_key:
                assert torch.equal(by_key[key], item["style"]), "one key, one image, in every epoch"
            by_key[key] = item["style"]
    assert len(by_key) >= 10, "all 12 (painting, variant) pairs are drawn, not just the 3 paintings"
    distinct = {tuple(v.flatten()[::97].tolist()) for v in by_key.values()}
    assert len(distinct) == len(by_key), "different keys are different images"
    val = UnpairedStyleDataset(content, style, crop_size=32, train=False, style_size=40, style_variants=4)
    assert all(int(val[i]["style_key"]) == int(val[i]["style_index"]) for i in range(len(val)))
    for bad in ({"style_variants": 0, "style_size": 40}, {"style_variants": 2},
                {"style_variants": 2, "style_size": 40, "style_augment": True}):
        with pytest.raises(ValueError, match="style_variants"):
            UnpairedStyleDataset(content, style, crop_size=32, **bad)


def test_hue_rotation_keeps_greys_and_is_a_rotation() -> None:
    import numpy as np

    r = datasets_module.hue_rotation(2.0)
    assert np.allclose(r @ r.T, np.eye(3)) and np.allclose(r @ np.ones(3), np.ones(3))
    assert not np.allclose(r @ np.array([1.0, 0, 0]), [1.0, 0, 0])
