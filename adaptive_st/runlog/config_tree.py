"""``extras.print_config=true``: the composed config as a Rich tree, one branch per group."""

from __future__ import annotations

from collections.abc import Sequence

from omegaconf import DictConfig, OmegaConf

#: Printed first, in this order; the remaining top-level keys follow.
ORDER: Sequence[str] = ("data", "model", "loss", "policy", "module", "trainer", "callbacks", "logger", "paths",
                        "extras")


def print_config_tree(cfg: DictConfig, resolve: bool = True) -> None:
    import rich
    import rich.syntax
    import rich.tree

    tree = rich.tree.Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in ORDER if k in cfg] + [str(k) for k in cfg if k not in ORDER]
    for key in keys:
        branch = tree.add(key, style="bold")
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=resolve) if OmegaConf.is_config(node) else str(node)
        branch.add(rich.syntax.Syntax(text, "yaml", theme="ansi_dark", background_color="default"))
    rich.print(tree)
