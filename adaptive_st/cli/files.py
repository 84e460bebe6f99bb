"""Files and folders the CLIs are given: input images (folders expanded), and ``--out`` checked to be
writable before any model is loaded. Torch-free, like every CLI module imported for ``--help``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class OutputPathError(ValueError):
    """``--out`` cannot receive files; the message names the option, the path and what to do."""


def check_out_dir(out: Path, option: str = "--out") -> None:
    """Fail now, naming ``option``, if no file can be written under ``out`` (checked before any model is
    loaded; nothing is created). Python's own errors come late and name neither the option nor the fix:
    ``[Errno 17] File exists`` for a file, ``NotADirectoryError`` below one, ``[Errno 30]`` read-only."""
    import os

    if out.exists() and not out.is_dir():
        raise OutputPathError(f"{option} {out}: is a file, not a folder; give a folder (created if missing)")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{option} {out}: {existing} is a file, so no folder can be created below it; "
                              f"choose another {option}")
    read_only = _read_only(existing)
    if read_only or not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == out else f" (it would be created in {existing})"
        reason = "read-only file system" if read_only else "permission denied"
        raise OutputPathError(f"{option} {out}: cannot write there{where}: {reason}; choose a writable {option}")


def _read_only(path: Path) -> bool:
    import os

    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): os.access alone decides
        return False


def os_error_line(err: OSError) -> str:
    """One line for an OSError the CLIs did not foresee (a disk filling up mid-run): the path and the reason."""
    where = f"{err.filename}: " if err.filename else ""
    return f"{where}{err.strerror or err}; check the disk and permissions of --out"


def collect_images(paths: Sequence[Path], what: str) -> list[Path]:
    """Files as given, folders expanded (sorted, recursive)."""
    from adaptive_st.data.images import ImageLoadError, list_images

    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += list_images(path, what)
        elif path.exists():
            out.append(path)
        else:
            raise ImageLoadError(f"{path}: {what} file does not exist.")
    return out
