"""Module docstrings as ``--help`` text, and one-line command summaries read without importing modules."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``|`([^`]+)`")


def plain(doc: str | None) -> str:
    """``doc`` without reST markup (``x``, `x`, :class:`x` → x): it is printed to a terminal."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], doc or "")
    return _LITERAL.sub(lambda m: m.group(1) or m.group(2), text)


def summary(module: str) -> str:
    """First docstring line of ``module`` after its ``usage:`` part, parsed from source, not imported:
    ``adaptive-st --help`` must not pay for torch."""
    try:
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            return ""
        with open(spec.origin, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read()))
    except (ImportError, OSError, SyntaxError, ValueError):
        return ""
    first = plain(doc).strip().splitlines()[0] if doc and doc.strip() else ""
    if first.startswith(("adaptive-st ", "python -m ")) and ": " in first:
        first = first.split(": ", 1)[1]
    return first[:1].upper() + first[1:]


def config_groups(config_dir: Path) -> dict[str, list[str]]:
    """``{group: [options]}`` of a Hydra config folder (nested groups as ``a/b``), Hydra's own excluded."""
    groups: dict[str, list[str]] = {}
    for yaml in sorted(config_dir.rglob("*.yaml")):
        group = yaml.parent.relative_to(config_dir).as_posix()
        if group != "." and group.split("/")[0] != "hydra":
            groups.setdefault(group, []).append(yaml.stem)
    return groups


def train_help(command: str = "train", module: str = "adaptive_st.cli.train") -> str:
    """``adaptive-st train --help`` (and ``eval --help``) without Hydra: its help composes every config
    group (seconds)."""
    config_dir = Path(__file__).resolve().parents[2] / "conf"
    spec = importlib.util.find_spec(module)
    doc = ""
    if spec is not None and spec.origin is not None:
        with open(spec.origin, encoding="utf-8") as f:
            doc = ast.get_docstring(ast.parse(f.read())) or ""
    lines = [f"usage: adaptive-st {command} [group=option ...] [key=value ...] [--cfg job] [--multirun]", "",
             plain(doc), "", f"config groups (group=option), from {config_dir}:"]
    lines += [f"  {group}: {', '.join(options)}" for group, options in config_groups(config_dir).items()]
    lines += ["", f"'adaptive-st {command} [overrides] --cfg job' prints the composed config; "
              f"'python -m adaptive_st.{command} --help' is Hydra's full help, '--hydra-help' its flags."]
    return "\n".join(lines)
