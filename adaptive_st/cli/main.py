"""`adaptive-st <command>`: one console script dispatching to the sub-commands."""

from __future__ import annotations

import sys

COMMANDS = {
    "train": "adaptive_st.cli.train",
    "stylize": "adaptive_st.cli.stylize",
    "evaluate": "adaptive_st.cli.evaluate",
    "export": "adaptive_st.cli.export",
    "weights": "adaptive_st.cli.weights",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print("usage: adaptive-st {" + ",".join(sorted(COMMANDS)) + "} [args...]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"adaptive-st: unknown command {name!r}; choose from {sorted(COMMANDS)}", file=sys.stderr)
        return 2
    import importlib

    module = importlib.import_module(COMMANDS[name])
    sys.argv = [f"adaptive-st {name}", *rest]
    result = module.main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
