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


def _case(c: dict[str, Any]) -> str:
    flags = [c["precision"]] + (["channels_last"] if c["channels_last"] else []) + (["compile"] if c["compile"] else [])
    return f"{c['model']} {c['size']}² b{c['batch']} " + "+".join(flags)


def render(result: dict[str, Any]) -> str:
    env = result["env"]
    mem = "peak RSS MiB" if result["preset"]["device"] == "cpu" else "peak CUDA MiB"
    out = [f"## adaptive_st benchmark — preset `{result['preset']['name']}` on {env['device_name']}",
           "", f"torch {env['torch']}, lightning {env['lightning']}, {env['threads']} threads, "
           f"load average at start {env['loadavg_start']}, at end {env.get('loadavg_end', '?')}.", ""]
    out += [f"- {n}" for n in result["preset"]["notes"]] + [""]

    rows = []
    for t in result["train"]:
        bare, light = t.get("bare"), t["lightning"]
        ratio = f"{100 * (light['ms_per_step'] / bare['ms_per_step'] - 1):+.1f}%" if bare else "–"
        ratio_min = f"{100 * (light['ms_min'] / bare['ms_min'] - 1):+.1f}%" if bare else "–"
        share = f"{light['cpu_share']:.2f}" + (f" / {bare['cpu_share']:.2f}" if bare else "")
        rows.append([_case(t["case"]), bare["ms_per_step"] if bare else "–", light["ms_per_step"], ratio, ratio_min,
                     light["images_per_s"], light["peak_mib"], share])
    out += ["### Training step (G/S step + D step per batch)", "",
            _table(["case", "bare ms/step", "Lightning ms/step", "framework overhead (median)", "(fastest step)",
                    "img/s", mem, "CPU share L / bare"], rows), "",
            "ms/step = median step; img/s from it. CPU share = CPU time / (wall × threads): below ~0.9 the "
            "cores were shared with other processes and absolute numbers are pessimistic.", ""]

    rows = [[_case(t["case"]), *(t["bare"]["split_ms"].get(p, 0.0) for p in PHASES),
             sum(t["bare"]["split_ms"].values())] for t in result["train"] if t.get("bare")]
    if rows:
        out += ["### Where a step goes (bare loop, ms, device synchronised between phases)", "",
                _table(["case", *PHASES, "sum"], rows), "",
                "gs_forward = G∘S forward; vgg_loss_forward = VGG on the output + content/style losses; "
                "adv_forward = D on the output; g_backward_step = backward through VGG, D and G/S + clip + "
                "Adam; d_step = D on real and fake (+ lazy R1) + backward + Adam.", ""]

    pol = result["policies"]
    base = next(p for p in pol["results"] if p["policy"] == "constant")["ms_per_step"]
    rows = [[p["policy"], p["ms_per_step"], p["ms_per_step"] - base, f"{100 * (p['ms_per_step'] / base - 1):+.1f}%"]
            for p in pol["results"]]
    out += [f"### Policy overhead vs constant (Lightning, {_case(pol['case'])})", "",
            _table(["policy", "ms/step", "Δ ms/step", "Δ %"], rows), ""]

    rows = [[_case(s["case"]), s["ms_per_batch"], s["images_per_s"], s["mpx_per_s"], s["peak_mib"]]
            for s in result["stylize"]]
    out += ["### Stylize (G∘S, no autograd)", "",
            _table(["case", "ms/batch", "images/s", "Mpx/s", mem], rows), ""]
    out.append(f"Total benchmark time: {result['seconds']:.0f} s.")
    return "\n".join(out)
