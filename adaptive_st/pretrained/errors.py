"""The one error raised when a pretrained file cannot be found offline.

Training machines often have no network, so instead of letting torchvision start a download (which hangs
or fails deep inside a constructor) we stop early with a message that lists every way to provide the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class MissingWeightsError(FileNotFoundError):
    """Pretrained weights are not on disk; the message lists every option to provide them."""

    def __init__(
        self,
        name: str,
        config_key: str,
        *,
        explicit_path: str | Path | None = None,
        searched: Sequence[str | Path] = (),
        hub_filenames: Sequence[str] = (),
        hub_dir: str | Path | None = None,
        hint: str = "",
    ) -> None:
        self.name = name
        self.config_key = config_key
        self.explicit_path = None if explicit_path is None else Path(explicit_path)
        self.searched = tuple(Path(p) for p in searched)
        self.hub_filenames = tuple(hub_filenames)
        self.hub_dir = None if hub_dir is None else Path(hub_dir)
        self.hint = hint
        super().__init__(self._message())

    def __reduce__(self):  # keyword-only fields: keep the error picklable (spawned DDP workers)
        kwargs = {
            "explicit_path": self.explicit_path,
            "searched": self.searched,
            "hub_filenames": self.hub_filenames,
            "hub_dir": self.hub_dir,
            "hint": self.hint,
        }
        return (_rebuild, (self.name, self.config_key, kwargs))

    def _message(self) -> str:
        lines = [f"Pretrained weights '{self.name}' are not available (no download is attempted)."]
        if self.explicit_path is not None:
            lines.append(f"The explicit path `{self.config_key}={self.explicit_path}` does not exist.")
        if self.searched:
            lines.append("Looked in: " + ", ".join(str(p) for p in self.searched) + ".")
        lines.append("Options:")
        lines.append(f"  1. set `{self.config_key}=/path/to/file` (explicit path; it wins over every cache);")
        n = 2
        if self.hub_filenames:
            where = f"{self.hub_dir}/checkpoints/" if self.hub_dir else "<torch hub dir>/checkpoints/"
            names = " or ".join(f"`{f}`" for f in self.hub_filenames)
            lines.append(f"  {n}. put {names} under {where} (torch.hub cache; TORCH_HOME moves it);")
            n += 1
        how = self.hint or "run once on a machine with network access, or copy the file from one that has it"
        lines.append(f"  {n}. to get the file: {how}.")
        lines.append("Run `adaptive-st weights check` to list which pretrained files are present and where.")
        return "\n".join(lines)


def _rebuild(name: str, config_key: str, kwargs: dict) -> MissingWeightsError:
    return MissingWeightsError(name, config_key, **kwargs)
