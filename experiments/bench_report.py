"""Markdown tables of a benchmark result (the dict ``benchmark.py`` also writes to ``bench.json``)."""

from __future__ import annotations

from typing import Any

from bench_train import PHASES


def _table(header: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 10 else f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _ratio(light: dict[str, Any], bare: dict[str, Any] | None, key: str) -> str:
    return f"{100 * (light[key] / bare[key] - 1):+.1f}%" if bare else "–"


def _case(c: dict[str, Any]) -> str:
    flags = [c["precision"]] + (["channels_last"] if c["channels_last"] else []) + (["compile"] if c["compile"] else [])
    flags += (["one style"] if c.get("shared_style") else []) + list(c.get("overrides", ()))
    return f"{c['model']} {c['size']}² b{c['batch']} " + "+".join(flags)


def render(result: dict[str, Any]) -> str:
    env = result["env"]
    mem = "peak RSS MiB" if result["preset"]["device"] == "cpu" else "peak CUDA MiB"
    out = [f"## adaptive_st benchmark — preset `{result['preset']['name']}` on {env['device_name']}",
           "", f"torch {env['torch']}, lightning {env['lightning']}, {env['threads']} torch threads on "
           f"{env['cpu_count']} CPUs, "
           f"load average at start {env['loadavg_start']}, at end {env.get('loadavg_end', '?')}.", ""]
    out += [f"- {n}" for n in result["preset"]["notes"]] + [""]

    cpu = result["preset"]["device"] == "cpu"
    rows = []
    for t in result["train"]:
        bare, light = t.get("bare"), t["lightning"]
        row = [_case(t["case"]), bare["ms_per_step"] if bare else "–", light["ms_per_step"], _ratio(light, bare, "ms_per_step")]
        if cpu:
            row += [bare["cpu_ms_per_step"] if bare else "–", light["cpu_ms_per_step"],
                    _ratio(light, bare, "cpu_ms_per_step"), f"{light['cpu_share']:.2f}"]
        rows.append([*row, light["images_per_s"], light["peak_mib"]])
    header = ["case", "bare ms/step", "Lightning ms/step", "overhead (wall)"]
    if cpu:
        header += ["bare CPU ms/step", "Lightning CPU ms/step", "overhead (CPU time)", "CPU share"]
    out += ["### Training step (G/S step + D step per batch)", "",
            _table([*header, "img/s", mem], rows), "",
            "ms/step = median wall time per step (img/s from it); overhead = Lightning module (constant λ) vs the "
            "bare-PyTorch loop of the same networks and losses."
            + (" CPU ms/step = process CPU time per step, the work done whatever else shares the cores; CPU "
               "share = CPU time / (wall × threads): well below 1 means other processes took the cores and "
               "wall times are pessimistic — compare CPU times then." if cpu else ""), ""]

    rows = [[_case(t["case"]), *(t["bare"]["split_ms"].get(p, 0.0) for p in PHASES),
             sum(t["bare"]["split_ms"].values())] for t in result["train"] if t.get("bare")]
    if rows:
        out += ["### Where a step goes (bare loop, ms, device synchronised between phases)", "",
                _table(["case", *PHASES, "sum"], rows), "",
                "gs_forward = G∘S forward; vgg_loss_forward = VGG on the output + content/style losses; "
                "adv_forward = D on the output; g_backward_step = backward through VGG, D and G/S + clip + "
                "Adam; d_step = D on real and fake (+ lazy R1) + backward + Adam.", ""]

    pol = result["policies"]
    if pol:
        key = "cpu_ms_per_step" if cpu else "ms_per_step"
        base = next(p for p in pol["results"] if p["policy"] == "constant")[key]
        rows = [[p["policy"], p["ms_per_step"], p[key], p[key] - base, f"{100 * (p[key] / base - 1):+.1f}%"]
                for p in pol["results"]]
        what = "CPU ms/step" if cpu else "ms/step"
        out += [f"### Policy overhead vs constant (Lightning, {_case(pol['case'])}; Δ in {what})", "",
                _table(["policy", "ms/step", what, f"Δ {what}", "Δ %"], rows), ""]

    rows = [[_case(s["case"]), s["ms_per_batch"], s["images_per_s"], s["mpx_per_s"], s["peak_mib"]]
            for s in result["stylize"]]
    out += ["### Stylize (G∘S, no autograd)", "",
            _table(["case", "ms/batch", "images/s", "Mpx/s", mem], rows), ""]
    out.append(f"Total benchmark time: {result['seconds']:.0f} s.")
    return "\n".join(out)
