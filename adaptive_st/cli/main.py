"""`adaptive-st <command>`: one console script dispatching to the sub-commands.

Only the chosen command's module is imported, and each command parses its arguments before importing
torch, so ``--help`` and ``--version`` answer in well under a second.
"""

from __future__ import annotations

import sys

COMMANDS = {
    "train": "adaptive_st.cli.train",
    "stylize": "adaptive_st.cli.stylize",
    "evaluate": "adaptive_st.cli.evaluate",
    "eval": "adaptive_st.cli.eval_hydra",
    "export": "adaptive_st.cli.export",
    "weights": "adaptive_st.cli.weights",
    "judge": "adaptive_st.cli.judge",
}


def usage() -> str:
    """Top-level help: every command with the first line of its module docstring."""
    from adaptive_st.cli.helptext import summary

    width = max(map(len, COMMANDS))
    lines = ["usage: adaptive-st [-h] [--version] <command> [args...]", "",
             "GAN-based adaptive image style transfer: train, stylize, evaluate and export models.", "",
             "commands:"]
    lines += [f"  {name:<{width}}  {summary(module)}" for name, module in COMMANDS.items()]
    lines += ["", "Run 'adaptive-st <command> --help' for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] in {"-V", "--version"}:
        from adaptive_st import __version__

        print(f"adaptive-st {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"adaptive-st: unknown command {name!r}; choose from {', '.join(COMMANDS)} "
              "(adaptive-st --help lists them)", file=sys.stderr)
        return 2
    if name in {"train", "eval"} and any(arg in {"-h", "--help"} for arg in rest):
        from adaptive_st.cli.helptext import train_help

        print(train_help(name, COMMANDS[name]))
        return 0
    import importlib

    module = importlib.import_module(COMMANDS[name])
    sys.argv = [f"adaptive-st {name}", *rest]
    result = module.main()
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
