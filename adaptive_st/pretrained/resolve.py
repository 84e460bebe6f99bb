"""Offline resolution of a weights file: explicit path, then the torch hub cache, else a clear error.

Nothing here downloads. Callers resolve the file first and only then build the network with
``weights=None`` and load the state dict, so a missing file can never turn into a network request.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from adaptive_st.pretrained.errors import MissingWeightsError


def hub_dir_or_default(hub_dir: str | Path | None) -> Path:
    """``hub_dir``, else torch's hub dir (torch is imported only then: ``weights check --hub-dir`` and
    ``--help`` stay light)."""
    if hub_dir is not None:
        return Path(hub_dir)
    import torch

    return Path(torch.hub.get_dir())


def hub_checkpoint_path(filename: str, hub_dir: str | Path | None = None) -> Path:
    """Where torchvision/torch.hub caches ``filename`` (``<hub dir>/checkpoints/<filename>``)."""
    root = hub_dir_or_default(hub_dir)
    return root / "checkpoints" / filename


def package_file_path(package: str, relative: str) -> Path | None:
    """Path of a data file shipped inside an installed package, or None; never imports the package."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / relative


def resolve_weights(
    name: str,
    explicit_path: str | Path | None,
    hub_filename: str | Sequence[str] | None,
    config_key: str,
    hub_dir: str | Path | None = None,
    *,
    hint: str = "",
    extra_candidates: Sequence[Path] = (),
) -> Path:
    """Return an existing weights file: ``explicit_path`` if given (it must exist), else the first hit
    among ``extra_candidates`` and the hub cache file(s); raise :class:`MissingWeightsError` otherwise.

    An explicit path that does not exist is an error, not a reason to fall back silently: the user asked
    for that file, and quietly using another one would make runs irreproducible.
    """
    hub_names = [hub_filename] if isinstance(hub_filename, str) else list(hub_filename or ())
    hub_root = hub_dir_or_default(hub_dir)
    if explicit_path is not None and str(explicit_path) != "":
        path = Path(explicit_path).expanduser()
        if path.is_file():
            return path
        raise MissingWeightsError(
            name,
            config_key,
            explicit_path=path,
            searched=[path],
            hub_filenames=hub_names,
            hub_dir=hub_root,
            hint=hint,
        )
    candidates = [*extra_candidates, *(hub_checkpoint_path(f, hub_root) for f in hub_names)]
    for path in candidates:
        if path.is_file():
            return path
    raise MissingWeightsError(
        name, config_key, searched=candidates, hub_filenames=hub_names, hub_dir=hub_root, hint=hint
    )
