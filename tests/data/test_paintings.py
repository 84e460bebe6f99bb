"""The painting fetcher, offline: tiny synthetic .deb / sdist / Qt rcc archives served from file:// URLs."""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import zlib
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from adaptive_st.data import paintings as P

HEADER = "\t".join(P.MANIFEST_COLUMNS)
BOARD = "/gcompris/src/activities/paintings/resource/board/board1_0.qml"
BABY = "/gcompris/src/activities/babyshapes/resource/board/board7_0.qml"
PHOTO = "/gcompris/src/activities/erase/resource/goat.png"


def _png(size: tuple[int, int], color: tuple[int, ...], mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def _tar(files: dict[str, bytes], mode: str = "w:xz", links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def _deb(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """An ``ar`` container like dpkg-deb writes: debian-binary, control.tar.xz, data.tar.xz (odd sizes padded)."""
    out = bytearray(b"!<arch>\n")
    data = _tar({"./" + k: v for k, v in files.items()}, links={"./" + k: v for k, v in (links or {}).items()})
    for name, body in [("debian-binary", b"2.0\n"), ("control.tar.xz", _tar({"./control": b"x"})),
                       ("data.tar.xz", data)]:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(body):<10}`\n".encode("ascii") + body
        out += b"\n" if len(body) % 2 else b""
    return bytes(out)


def _rcc(files: dict[str, bytes], version: int = 3, compressed: tuple[str, ...] = ()) -> bytes:
    """A minimal Qt binary resource (what ``rcc -binary`` writes): breadth-first tree, contiguous children."""
    root: dict = {}
    for path, data in files.items():
        node = root
        *dirs, leaf = path.strip("/").split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = (path, data)
    entries: list[tuple[str, object]] = [("", root)]
    children: dict[int, tuple[int, int]] = {}
    i = 0
    while i < len(entries):
        if isinstance(entries[i][1], dict):
            children[i] = (len(entries[i][1]), len(entries))
            entries.extend(sorted(entries[i][1].items()))  # type: ignore[union-attr]
        i += 1
    names, payload, tree = bytearray(), bytearray(), bytearray()
    for index, (name, item) in enumerate(entries):
        name_offset = len(names)
        names += struct.pack(">HI", len(name), 0) + name.encode("utf-16-be")
        if isinstance(item, dict):
            tree += struct.pack(">IHII", name_offset, 2, *children[index])
        else:
            path, data = item  # type: ignore[misc]
            flags = 1 if path in compressed else 0
            body = struct.pack(">I", len(data)) + zlib.compress(data) if flags else data
            tree += struct.pack(">IHHHI", name_offset, flags, 0, 0, len(payload))
            payload += struct.pack(">I", len(body)) + body
        tree += b"\0" * 8 if version >= 2 else b""
    head = 24 if version >= 3 else 20
    header = b"qres" + struct.pack(">IIII", version, head, head + len(tree), head + len(tree) + len(payload))
    return header + (b"\0" * 4 if version >= 3 else b"") + bytes(tree) + bytes(payload) + bytes(names)


def _jigsaw_rcc() -> bytes:
    """A 100×50 board with a red and a blue 10×10 piece side by side, and a plain 60×30 yellow photo."""
    qml = (
        '{"pixmapfile" : "image/bg.svg", "width": 100, "height": 50},\n'
        '{"pixmapfile" : "image/p-1.png", "x" : "0.1", "y" : "0.2"},\n'
        '{"pixmapfile" : "image/p-2.png", "x" : "0.2", "y" : "0.2"}\n'
    )
    res = "/gcompris/src/activities/paintings/resource"
    return _rcc({BOARD: qml.encode(), f"{res}/image/p-1.png": _png((10, 10), (255, 0, 0, 255), "RGBA"),
                 f"{res}/image/p-2.png": _png((10, 10), (0, 0, 255, 255), "RGBA"),
                 PHOTO: _png((60, 30), (250, 220, 0))}, compressed=(BOARD,))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def server(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Archives under tmp_path/server: name → (file:// URL, sha256)."""
    root = tmp_path / "server"
    root.mkdir()
    archives = {
        "pic_1.0-1_all.deb": _deb({"usr/share/pics/wide.png": _png((300, 200), (10, 200, 30)),
                                   "usr/share/gc/paintings.rcc": _jigsaw_rcc()},
                                  links={"usr/share/pics/alias.png": "wide.png"}),
        "pkg-1.0.tar.gz": _tar({"pkg-1.0/art.png": _png((200, 100), (200, 10, 30))}, mode="w:gz"),
    }
    for name, data in archives.items():
        (root / name).write_bytes(data)
    return {name: ((root / name).as_uri(), _sha(data)) for name, data in archives.items()}


def _manifest(path: Path, server: dict[str, tuple[str, str]], **override: str) -> Path:
    (deb_url, deb_sha), (sd_url, sd_sha) = server["pic_1.0-1_all.deb"], server["pkg-1.0.tar.gz"]
    rows = [
        ["wide.jpg", "pic", "1:1.0-1", "GPL-2+", deb_url, deb_sha, "usr/share/pics/wide.png", "plain"],
        ["alias.jpg", "pic", "1:1.0-1", "GPL-2+", deb_url, deb_sha, "usr/share/pics/alias.png", "plain"],
        ["jig.jpg", "pic", "1:1.0-1", "GPL-2+", deb_url, deb_sha, "usr/share/gc/paintings.rcc",
         f"gcompris-jigsaw:{BOARD}"],
        ["photo.jpg", "pic", "1:1.0-1", "GPL-2+", deb_url, deb_sha, "usr/share/gc/paintings.rcc",
         f"gcompris-file:{PHOTO}"],
        ["art.jpg", "pkg", "1.0", "AGPL-3.0", sd_url, sd_sha, "pkg-1.0/art.png", "crop=0,0,100,50"],
    ]
    for row in rows:
        for key, value in override.items():
            row[P.MANIFEST_COLUMNS.index(key)] = value
    path.write_text(HEADER + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    return path


def test_builds_every_recipe_and_rerun_is_a_noop(tmp_path, server, capsys) -> None:
    manifest, dest = _manifest(tmp_path / "m.tsv", server), tmp_path / "out"
    assert P.main(["--manifest", str(manifest), "--dest", str(dest)]) == 0
    assert sorted((dest / ".archives").iterdir()) == sorted(dest / ".archives" / n for n in server)
    sizes = {n: Image.open(dest / n).size for n in ("wide.jpg", "alias.jpg", "jig.jpg", "art.jpg", "photo.jpg")}
    assert sizes == {"wide.jpg": (768, 512), "alias.jpg": (768, 512), "jig.jpg": (1024, 512),
                     "art.jpg": (1024, 512), "photo.jpg": (1024, 512)}
    photo = Image.open(dest / "photo.jpg").convert("RGB").getpixel((500, 250))
    assert max(abs(a - b) for a, b in zip(photo, (250, 220, 0))) < 8  # the rcc's plain file, decoded
    art = Image.open(dest / "art.jpg").convert("RGB")
    assert max(abs(a - b) for a, b in zip(art.getpixel((900, 400)), (200, 10, 30))) < 8  # cropped, not padded
    jig = Image.open(dest / "jig.jpg").convert("RGB")
    assert jig.getpixel((200, 256))[0] > 200 and jig.getpixel((800, 256))[2] > 200  # red left, blue right
    sources = (dest / "SOURCES.txt").read_text().splitlines()
    assert len(sources) == 6 and "licence" in sources[0]
    assert "\tAGPL-3.0\tpkg-1.0/art.png (cropped 0,0,100,50)\t200x100\t" in sources[5]
    assert f"usr/share/gc/paintings.rcc:{PHOTO}\t60x30\t" in sources[4]
    out = capsys.readouterr().out
    assert "[1/2] pic_1.0-1_all.deb (downloading): 4 image(s)" in out

    for f in server.values():
        Path(f[0].removeprefix("file://")).unlink()  # offline now: must not need the server again
    stamp = (dest / "wide.jpg").stat().st_mtime_ns
    assert P.main(["--manifest", str(manifest), "--dest", str(dest)]) == 0
    assert capsys.readouterr().out.strip() == f"{dest}: all 5 images already present, nothing to do"
    assert (dest / "wide.jpg").stat().st_mtime_ns == stamp
    (dest / "wide.jpg").unlink()  # one missing: rebuilt from the cached archives
    assert P.main(["--manifest", str(manifest), "--dest", str(dest)]) == 0
    assert "cached" in capsys.readouterr().out and (dest / "wide.jpg").is_file()


def test_archives_dir_is_used_without_network(tmp_path, server) -> None:
    archives = tmp_path / "mine"
    archives.mkdir()
    for name, (url, _) in server.items():
        (archives / name).symlink_to(Path(url.removeprefix("file://")))
    manifest = _manifest(tmp_path / "m.tsv", server)
    text = manifest.read_text().replace("file://", "http://127.0.0.1:9")  # unreachable if ever tried
    manifest.write_text(text)
    P.fetch_paintings(tmp_path / "out", manifest=manifest, archives=archives, log=lambda _: None)
    assert len(list((tmp_path / "out").glob("*.jpg"))) == 5


def test_sha256_mismatch_names_the_archive_and_writes_nothing(tmp_path, server, capsys) -> None:
    manifest, dest = _manifest(tmp_path / "m.tsv", server, sha256="0" * 64), tmp_path / "out"
    assert P.main(["--manifest", str(manifest), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: sha256 mismatch for file://") and "pic_1.0-1_all.deb" in err
    assert "\n" not in err
    assert not list(dest.glob("*.jpg")) and not list(dest.rglob("*.part"))

    cached = _manifest(tmp_path / "ok.tsv", server)
    (dest / ".archives" / "pic_1.0-1_all.deb").write_bytes(b"not it")
    with pytest.raises(P.FetchError, match=r"sha256 mismatch for .*\.archives/pic_1\.0-1_all\.deb"):
        P.fetch_paintings(dest, manifest=cached, log=lambda _: None)


def test_missing_member_and_unreachable_url_name_the_problem(tmp_path, server) -> None:
    manifest = _manifest(tmp_path / "m.tsv", server, member="usr/share/pics/nope.png")
    with pytest.raises(P.FetchError, match=r"usr/share/pics/nope\.png is not in .*pic_1\.0-1_all\.deb"):
        P.fetch_paintings(tmp_path / "out", manifest=manifest, log=lambda _: None)
    assert not list((tmp_path / "out").glob("*.jpg"))
    gone = _manifest(tmp_path / "g.tsv", server, url=(tmp_path / "gone_1_all.deb").as_uri())
    with pytest.raises(P.FetchError, match=r"cannot download file://.*gone_1_all\.deb .*--archives DIR"):
        P.fetch_paintings(tmp_path / "out2", manifest=gone, log=lambda _: None)


@pytest.mark.parametrize("version", [1, 2, 3])
def test_rcc_reader(version: int) -> None:
    files = {"/a/b/one.txt": b"first", "/a/two.bin": bytes(range(256)) * 4, "/c.txt": b""}
    rcc = _rcc(files, version=version, compressed=("/a/two.bin",))
    assert P.read_rcc(rcc) == files
    with pytest.raises(P.FetchError, match="not a Qt resource"):
        P.read_rcc(b"PK\3\4" + rcc[4:])


def test_gcompris_assembly() -> None:
    jigsaw = P.assemble_jigsaw(P.read_rcc(_jigsaw_rcc()), BOARD)
    assert jigsaw.size == (20, 10)
    assert jigsaw.getpixel((2, 5)) == (255, 0, 0) and jigsaw.getpixel((17, 5)) == (0, 0, 255)

    res = "/gcompris/src/activities/babyshapes/resource"
    qml = ('{"pixmapfile" : "image/x_background.png", "type" : "SHAPE_BACKGROUND_IMAGE"},\n'
           '{"pixmapfile" : "image/x_dog.png", "dropAreaSize" : "10", "x" : "0.5", "y" : "0.5"}\n')
    files = P.read_rcc(_rcc({BABY: qml.encode(), f"{res}/image/x_background.png": _png((40, 20), (0, 255, 0)),
                             f"{res}/image/x_dog.png": _png((10, 10), (255, 0, 0, 255), "RGBA")}))
    baby = P.assemble_baby(files, BABY)
    assert baby.size == (40, 20) and baby.getpixel((20, 10)) == (255, 0, 0) and baby.getpixel((2, 2)) == (0, 255, 0)


@pytest.mark.parametrize(("name", "count"), [("paintings", 99), ("photos", 117)])
def test_committed_manifest(name: str, count: int) -> None:
    paintings = P.read_manifest(P.MANIFESTS[name])  # validates header, sha256, recipes, duplicates, exclusions
    assert len(paintings) == count == len({p.file for p in paintings})
    assert all(len(p.sha256) == 64 and int(p.sha256, 16) >= 0 for p in paintings)
    assert not [p for p in paintings if "mate-backgrounds" in p.package + p.url or "gnome-backgrounds" in
                p.package + p.url]
    for p in paintings:
        assert p.url.startswith(("http://deb.debian.org/debian/pool/main/", "https://files.pythonhosted.org/"))
        assert p.archive_name.startswith(p.package.replace("-", "_") if p.url.endswith(".tar.gz") else p.package)
    assert len({(p.url, p.sha256) for p in paintings}) == len({p.url for p in paintings})


def test_manifest_refuses_excluded_packages(tmp_path) -> None:
    row = ["x.jpg", "mate-backgrounds", "1", "GPL-2+", "http://x/y.deb", "0" * 64, "usr/a.jpg", "plain"]
    (tmp_path / "m.tsv").write_text(HEADER + "\n" + "\t".join(row) + "\n")
    with pytest.raises(P.FetchError, match="excluded package"):
        P.read_manifest(tmp_path / "m.tsv")


def test_photos_reuse_the_paintings_archives_and_avoid_the_held_out_subjects() -> None:
    """`make photos` downloads nothing `make paintings` has not; no photo shows a held-out photo's subject."""
    paintings, photos = (P.read_manifest(P.MANIFESTS[n]) for n in ("paintings", "photos"))
    assert {(p.url, p.sha256) for p in photos} <= {(p.url, p.sha256) for p in paintings}
    assert not {p.file for p in photos} & {p.file for p in paintings}
    recipe = OmegaConf.load(Path(__file__).parents[2] / "conf" / "experiment" / "cpu_quality.yaml")
    held_out = [h.lower().replace("_", "") for h in recipe.data.holdout_content]  # golden_gate, cornell, sailboat
    assert held_out  # (Brandenburg Gate and the Golden Temple are other subjects)
    assert not [p.file for p in photos if any(h in p.file.lower().replace("_", "") for h in held_out)]


def test_set_option_picks_the_packaged_manifest_and_default_dest(tmp_path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(P, "fetch_paintings", lambda dest, manifest, archives: calls.append((dest, manifest)))
    assert P.main(["--set", "photos"]) == 0 and calls[-1] == (Path("data/photos"), P.MANIFESTS["photos"])
    assert P.main([]) == 0 and calls[-1] == (Path("data/paintings"), P.MANIFEST)
