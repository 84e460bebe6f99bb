"""Aggregation and reporting of a policy comparison: mean ± std over seeds, Pareto front, CSV/Markdown, plot.

Pure functions over plain rows (``dict`` per run) so they can be unit-tested on synthetic numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from adaptive_st.evaluation.scoring import mean_std as mean_std

Row = Mapping[str, Any]

#: Columns of the Markdown summary (label, key); every numeric results.csv column is in summary.csv.
TABLE_COLUMNS = (
    ("SSIM ↑", "ssim"),
    ("PSNR ↑", "psnr"),
    ("LPIPS ↓", "lpips"),
    ("style mean/std ↓", "style_meanstd"),
    ("style Gram ↓", "style_gram"),
    ("content loss ↓", "content_loss"),
    ("stylized % ↑", "style_gain_pct"),
    ("λ content", "lambda_content"),
    ("λ style", "lambda_style"),
    ("λ adv", "lambda_adv"),
    ("train s", "train_time_s"),
)
#: The Pareto axes: x (style distance, lower is better) against y (content fidelity).
STYLE_KEY = "style_meanstd"
FIDELITY_KEYS = (("ssim", True), ("content_loss", False))  # (key, higher is better)
#: Differences below this share of the baseline's own move away from the unstylized input are
#: negligible: stylization in a short run closes only a few % of the style distance, so the floor is
#: relative to that, not to the distance itself.
NEGLIGIBLE = 0.05


def aggregate(rows: Sequence[Row], keys: Sequence[str], by: str = "policy") -> list[dict[str, Any]]:
    """One row per ``by`` value (first-seen order): ``n`` finished runs, ``<key>_mean``, ``<key>_std``."""
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(str(row[by]), []).append(row)
    out = []
    for name, members in groups.items():
        ok = [r for r in members if r.get("status", "ok") == "ok"]
        summary: dict[str, Any] = {by: name, "n": len(ok), "runs": len(members)}
        for extra in ("base_policy", "lambda_eval"):
            if extra in members[0]:
                summary[extra] = members[0][extra]
        for key in keys:
            mean, std, _ = mean_std([r.get(key) for r in ok])
            summary[f"{key}_mean"], summary[f"{key}_std"] = mean, std
        out.append(summary)
    return out


def pareto_front(xs: Sequence[float], ys: Sequence[float], x_lower: bool = True,
                 y_higher: bool = True) -> list[bool]:
    """Non-dominated mask: a point is off the front if another is at least as good on both axes and
    strictly better on one. NaN points are never on the front (and dominate nothing)."""
    sx = 1.0 if x_lower else -1.0
    sy = -1.0 if y_higher else 1.0  # minimise sx·x and sy·y
    pts = [(sx * float(x), sy * float(y)) for x, y in zip(xs, ys)]
    valid = [math.isfinite(a) and math.isfinite(b) for a, b in pts]
    mask = []
    for i, (a, b) in enumerate(pts):
        dominated = any(valid[j] and j != i and c <= a and d <= b and (c < a or d < b)
                        for j, (c, d) in enumerate(pts))
        mask.append(valid[i] and not dominated)
    return mask


# ---------------------------------------------------------------------------------------------- tables
#: Number formats of the Markdown table (std uses the mean's, so digits line up); default ``.4g``.
FORMATS = {"ssim": ".4f", "ssim_y": ".4f", "psnr": ".2f", "psnr_y": ".2f", "lpips": ".4f",
           "train_time_s": ".0f"}


def fmt(mean: float, std: float, spec: str = ".4g") -> str:
    """``0.9120 ± 0.0040``; ``n/a`` when there is no value, no ``±`` part with a single seed."""
    if not math.isfinite(mean):
        return "n/a"
    text = f"{mean:{spec}}"
    return f"{text} ± {std:{spec.lstrip('+')}}" if math.isfinite(std) else text


def markdown_table(summary: Sequence[Row], columns: Sequence[tuple[str, str]] = TABLE_COLUMNS,
                   unavailable: Mapping[str, str] | None = None) -> str:
    """Per-policy mean ± std table; ``unavailable`` maps a key to the text shown when all runs lack it."""
    unavailable = unavailable or {}
    header = ["policy", "seeds", *[label for label, _ in columns]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in summary:
        cells = [str(row["policy"]), str(row["n"])]
        for _, key in columns:
            mean, std = row.get(f"{key}_mean", math.nan), row.get(f"{key}_std", math.nan)
            missing = key in unavailable and not math.isfinite(mean)
            cells.append(unavailable[key] if missing else fmt(mean, std, FORMATS.get(key, ".4g")))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- reading
def paired_delta(rows: Sequence[Row], policy: str, baseline: str,
                 key: str) -> tuple[float, float, bool | None]:
    """Per-seed paired difference policy − baseline: (mean, std, consistent).

    Pairing by seed removes what a seed does to every policy alike (initialisation, data order), which
    dominates the spread of either policy alone. ``consistent``: every seed's difference has the same
    sign and |mean| > std (None with fewer than two common seeds, where noise cannot be judged).
    """
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    base = {r["seed"]: float(r[key]) for r in ok if r["policy"] == baseline}
    deltas = [float(r[key]) - base[r["seed"]] for r in ok if r["policy"] == policy and r["seed"] in base]
    deltas = [d for d in deltas if math.isfinite(d)]
    if not deltas:
        return math.nan, math.nan, None
    mean = float(np.mean(deltas))
    if len(deltas) < 2:
        return mean, math.nan, None
    std = float(np.std(deltas, ddof=1))
    same_sign = all(d > 0 for d in deltas) or all(d < 0 for d in deltas)
    return mean, std, same_sign and abs(mean) > std


def compare_to_baseline(rows: Sequence[Row], policy: str, baseline: str,
                        floors: Mapping[str, float] | None = None) -> tuple[str, dict[str, tuple]]:
    """Verdict of a policy against the baseline on (style distance ↓, SSIM ↑) from paired differences.

    A difference counts if it is consistent over seeds (see ``paired_delta``; with one seed the raw
    difference is used and the caller flags it) and at least ``floors[key]`` in size.
    """
    deltas = {key: paired_delta(rows, policy, baseline, key) for key in (STYLE_KEY, "ssim")}
    better, worse = [], []
    for key, lower in ((STYLE_KEY, True), ("ssim", False)):
        d, _, consistent = deltas[key]
        if consistent is False or not math.isfinite(d) or abs(d) <= (floors or {}).get(key, 0.0):
            continue
        (better if (d < 0) == lower else worse).append(key)
    if better and not worse:
        verdict = "beats baseline"
    elif worse and not better:
        verdict = "worse than baseline"
    elif better and worse:
        verdict = "more stylized, less faithful" if STYLE_KEY in better else "more faithful, less stylized"
    else:
        verdict = "within seed noise"
    return verdict, deltas


def reading(summary: Sequence[Row], rows: Sequence[Row], baseline: str = "constant",
            identity: Mapping[str, float] | None = None, lpips_available: bool = True) -> str:
    """A short auto-written interpretation: the front, each policy vs the baseline, and the noise level."""
    names = [str(r["policy"]) for r in summary]
    xs = [r[f"{STYLE_KEY}_mean"] for r in summary]
    front = [n for n, on in zip(names, pareto_front(xs, [r["ssim_mean"] for r in summary])) if on]
    front_cd = [n for n, on in zip(names, pareto_front(xs, [r["content_loss_mean"] for r in summary],
                                                         y_higher=False)) if on]
    seeds = max((int(r["n"]) for r in summary), default=0)
    lines = [
        "- **Pareto front** (style mean/std distance ↓ vs SSIM ↑, means over seeds): "
        f"{', '.join(front) or '—'}.",
        f"- Front with VGG content loss ↓ instead of SSIM: {', '.join(front_cd) or '—'}.",
    ]
    base = next((r for r in summary if r["policy"] == baseline), None)
    if base is None or not math.isfinite(base["ssim_mean"]):
        lines.append(f"- No `{baseline}` result to compare against.")
        return "\n".join(lines)
    lines.append(f"- `{baseline}` is {'on' if baseline in front else 'not on'} the front.")
    floors: dict[str, float] = {}
    if identity is not None and math.isfinite(identity.get(STYLE_KEY, math.nan)):
        d0 = identity[STYLE_KEY]
        gains = {str(r["policy"]): 100 * (d0 - r[f"{STYLE_KEY}_mean"]) / d0 for r in summary}
        lo, hi = min(gains, key=gains.get), max(gains, key=gains.get)
        lines.append(f"- Scale: the unstylized input is at style distance {d0:.4g}; the policies close "
                     f"{gains[lo]:.1f}% (`{lo}`) to {gains[hi]:.1f}% (`{hi}`) of it (`{baseline}`: "
                     f"{gains[baseline]:.1f}%).")
        # Smallest difference worth a verdict: a share of how far the baseline itself moved from the input.
        floors = {STYLE_KEY: NEGLIGIBLE * abs(d0 - base[f"{STYLE_KEY}_mean"]),
                  "ssim": NEGLIGIBLE * abs(identity["ssim"] - base["ssim_mean"])}
    table, verdicts = [], {}
    mark = {True: " *", False: "", None: " ?"}
    for r in summary:
        name = str(r["policy"])
        if name == baseline or not math.isfinite(r["ssim_mean"]):
            continue
        verdict, deltas = compare_to_baseline(rows, name, baseline, floors)
        verdicts.setdefault(verdict, []).append(name)
        (ds, ds_std, ds_ok), (dq, dq_std, dq_ok) = deltas[STYLE_KEY], deltas["ssim"]
        rel = 100 * ds / base[f"{STYLE_KEY}_mean"]
        ds_ok = ds_ok and abs(ds) > floors.get(STYLE_KEY, 0.0) if ds_ok is not None else None
        dq_ok = dq_ok and abs(dq) > floors.get("ssim", 0.0) if dq_ok is not None else None
        verdict = verdict.replace("baseline", f"`{baseline}`")
        table.append(f"| {name} | {fmt(ds, ds_std, '+.4f')} ({rel:+.1f}%){mark[ds_ok]} | "
                     f"{fmt(dq, dq_std, '+.4f')}{mark[dq_ok]} | {verdict} |")
    winners = [r for r in summary if r["policy"] in verdicts.get("beats baseline", [])]
    if winners:
        best = min(winners, key=lambda r: r[f"{STYLE_KEY}_mean"])
        _, deltas = compare_to_baseline(rows, str(best["policy"]), baseline, floors)
        caveat = " (one seed: not checked against noise)." if seeds < 2 else "."
        lines.append(f"- **Headline**: `{best['policy']}` beats `{baseline}`: style distance "
                     f"{100 * deltas[STYLE_KEY][0] / base[f'{STYLE_KEY}_mean']:+.1f}%, SSIM "
                     f"{deltas['ssim'][0]:+.4f}{caveat}")
    else:
        lines.append(f"- **Headline**: no policy beats `{baseline}` (better on one axis and not worse on the "
                     "other, consistently over seeds).")
    for verdict in ("beats baseline", "more stylized, less faithful", "more faithful, less stylized",
                    "worse than baseline", "within seed noise"):
        if verdict in verdicts:
            lines.append(f"- {verdict.replace('baseline', f'`{baseline}`')}: {', '.join(verdicts[verdict])}.")
    noise = ("`*` = counted: consistent over seeds (every seed's paired difference has the same sign and "
             f"|mean| > std) and not negligible. With {seeds} seeds this is a weak test: read it as "
             "indicative, not as significance." if seeds > 1
             else "`?` = one seed only: no difference can be told from noise.")
    if floors:
        noise += (f" Negligible: under {NEGLIGIBLE:.0%} of how far `{baseline}` itself moved from the "
                  f"unstylized input (style {floors[STYLE_KEY]:.3g}, SSIM {floors['ssim']:.3g}).")
    lines += ["", f"Paired differences to `{baseline}` (same seed, policy − {baseline}; mean ± std over "
              "seeds; lower style distance = more stylized):", "",
              "| policy | Δ style mean/std | Δ SSIM | verdict |", "|---|---|---|---|", *table, "", noise]
    if not lpips_available:
        lines.append("LPIPS is unavailable on this machine (no backbone weights): reported as n/a, never "
                     "computed with a random backbone.")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- the front
#: A contender is a conf/policy name, or ``<policy>@λ=<λ_style>``: that policy at another base λ_style
#: (compare_policies names the λ front's runs and the conditional sweep's points this way).
AT = "@λ="
#: The trade-off plane of the front: content loss (x, ↓) against style distance (y, ↓).
FRONT_X, FRONT_Y = "content_loss", STYLE_KEY
#: Two-sided 95 % Student t quantiles by degrees of freedom (n − 1); few seeds need the t, not 1.96.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def ci95(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, half-width of the 95 % t interval, n) of the finite values; half-width NaN below 2 values."""
    v = [float(x) for x in values if math.isfinite(float(x))]
    if not v:
        return math.nan, math.nan, 0
    if len(v) < 2:
        return v[0], math.nan, 1
    return float(np.mean(v)), T95.get(len(v) - 1, 1.96) * float(np.std(v, ddof=1)) / math.sqrt(len(v)), len(v)


def front_y(points: Sequence[tuple[float, float]], x: float) -> float:
    """The front's y at x: piecewise linear through the (x, y) points in x order; beyond its ends the
    nearest segment is extended (a front of one point is flat)."""
    pts = sorted((float(a), float(b)) for a, b in points if math.isfinite(float(a)) and math.isfinite(float(b)))
    if not pts or not math.isfinite(x):
        return math.nan
    if len(pts) == 1:
        return pts[0][1]
    i = min(max(int(np.searchsorted([a for a, _ in pts], x)), 1), len(pts) - 1)
    (x0, y0), (x1, y1) = pts[i - 1], pts[i]
    return min(y0, y1) if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def front_distances(rows: Sequence[Row], front: str = "constant") -> dict[str, dict[str, Any]]:
    """Each contender's vertical distance to the ``front`` policy's λ front, paired by seed.

    Seed s's front runs through that seed's ``<front>@λ=…`` points in the (content loss, style distance)
    plane; a run's distance is its style distance minus the front's at its content loss. Negative: more
    stylized at equal content fidelity, i.e. beyond the front. Returns, per contender (λ-sweep points
    included), the per-seed ``deltas``, their ``mean`` and 95 % ``half`` width, ``n``, and ``inside``:
    whether every run's content loss lies within its front's range (else the front is extrapolated).
    """
    ok = [r for r in rows if r.get("status", "ok") == "ok"]
    fronts: dict[Any, list[tuple[float, float]]] = {}
    for r in ok:
        if str(r["policy"]).startswith(front + AT):
            fronts.setdefault(r["seed"], []).append((float(r[FRONT_X]), float(r[FRONT_Y])))
    out: dict[str, dict[str, Any]] = {}
    for r in ok:
        name, pts = str(r["policy"]), fronts.get(r["seed"])
        if name.startswith(front + AT) or not pts:
            continue
        x = float(r[FRONT_X])
        entry = out.setdefault(name, {"deltas": [], "inside": True})
        entry["deltas"].append(float(r[FRONT_Y]) - front_y(pts, x))
        entry["inside"] &= min(a for a, _ in pts) <= x <= max(a for a, _ in pts)
    for entry in out.values():
        entry["mean"], entry["half"], entry["n"] = ci95(entry["deltas"])
    return out


def front_verdict(mean: float, half: float) -> str:
    """Beyond / behind the front when the 95 % interval excludes 0, else on it."""
    if not math.isfinite(mean):
        return "no result"
    if not math.isfinite(half):
        return "one seed: untested"
    if mean + half < 0:
        return "beyond the front"
    if mean - half > 0:
        return "behind the front"
    return "on the front (CI spans 0)"


def lambda_sweep(rows: Sequence[Row], base: str = "conditional", key: str = FRONT_Y) -> dict[str, Any]:
    """The λ-conditioned model's inference sweep: mean ``key`` per λ (over seeds), whether it falls
    strictly as λ rises (on the means, and for how many seeds), and its range."""
    ok = [r for r in rows if r.get("status", "ok") == "ok" and r.get("base_policy") == base
          and r.get("lambda_eval") not in (None, "")]
    by_lam: dict[float, list[float]] = {}
    by_seed: dict[Any, list[tuple[float, float]]] = {}
    for r in ok:
        lam = float(r["lambda_eval"])
        by_lam.setdefault(lam, []).append(float(r[key]))
        by_seed.setdefault(r["seed"], []).append((lam, float(r[key])))
    lams = sorted(by_lam)
    means = [float(np.mean(by_lam[lam])) for lam in lams]

    def falling(ys: Sequence[float]) -> bool:
        return len(ys) > 1 and all(b < a for a, b in itertools.pairwise(ys))

    seeds_ok = sum(falling([y for _, y in sorted(v)]) for v in by_seed.values())
    return {"lambdas": lams, "means": means, "monotone": falling(means), "seeds_monotone": seeds_ok,
            "seeds": len(by_seed), "range": (min(means), max(means)) if means else (math.nan, math.nan)}


def front_section(summary: Sequence[Row], rows: Sequence[Row], identity: Mapping[str, float],
                  front: str = "constant") -> str:
    """summary.md's verdicts against the ``front`` policy's λ front and the λ sweep's monotonicity."""
    points = [r for r in summary if str(r["policy"]).startswith(front + AT)]
    if len(points) < 2:
        return ""
    d0 = identity[FRONT_Y]
    dist = front_distances(rows, front)
    lines = [f"Front: `{front}` at λ_style " + ", ".join(str(r["policy"]).split(AT)[1] for r in points)
             + " (content loss → style distance: " + "; ".join(
                 f"{r[f'{FRONT_X}_mean']:.3f} → {r[f'{FRONT_Y}_mean']:.3f}" for r in points) + ").",
             "Δ = style distance − the same seed's front at the contender's content loss (negative: beyond "
             "the front); mean and 95 % t interval over seeds; % of the unstylized input's distance "
             f"({d0:.4g}).", "",
             "| contender | seeds | content loss | style mean/std | Δ to front (95 % CI) | Δ % of input | verdict |",
             "|---|---|---|---|---|---|---|"]
    for r in summary:
        name = str(r["policy"])
        if name not in dist:
            continue
        e = dist[name]
        ci = f"{e['mean']:+.4f} ± {e['half']:.4f}" if math.isfinite(e["half"]) else f"{e['mean']:+.4f}"
        where = "" if e["inside"] else " (extrapolated)"
        lines.append(f"| {name} | {e['n']} | {fmt(r[f'{FRONT_X}_mean'], r[f'{FRONT_X}_std'])} | "
                     f"{fmt(r[f'{FRONT_Y}_mean'], r[f'{FRONT_Y}_std'])} | {ci} | {100 * e['mean'] / d0:+.1f}% | "
                     f"{front_verdict(e['mean'], e['half'])}{where} |")
    sweep = lambda_sweep(rows)
    if sweep["lambdas"]:
        lo, hi = min(r[f"{FRONT_Y}_mean"] for r in points), max(r[f"{FRONT_Y}_mean"] for r in points)
        covers = sweep["range"][0] <= lo and sweep["range"][1] >= hi
        lines += ["", "λ sweep of the conditional (YOTO) model at inference, style mean/std (mean over seeds): "
                  + ", ".join(f"λ={lam:g}: {m:.4f}" for lam, m in zip(sweep["lambdas"], sweep["means"]))
                  + f". Monotone (falls as λ rises): {'yes' if sweep['monotone'] else 'no'} on the means, "
                  f"{sweep['seeds_monotone']} of {sweep['seeds']} seeds. Range {sweep['range'][0]:.4f}–"
                  f"{sweep['range'][1]:.4f} against the front's {lo:.4f}–{hi:.4f}: "
                  f"{'covers' if covers else 'does not cover'} it."]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- plot
def plot_pareto(summary: Sequence[Row], path: Path, title: str = "",
                identity: Mapping[str, float] | None = None) -> None:
    """Two panels (style distance vs SSIM, vs content loss): one marker per policy with ±std error
    bars, the Pareto front ringed and joined, the conditional λ sweep as a dashed curve, and the
    unstylized input (``identity``) as a star for scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    cmap = plt.get_cmap("tab20")
    bases = list(dict.fromkeys(str(r.get("base_policy", r["policy"])) for r in summary))
    color = {b: cmap(i % 20) for i, b in enumerate(bases)}  # a policy and its λ sweep share a colour
    xs = np.array([r[f"{STYLE_KEY}_mean"] for r in summary], dtype=float)
    xerr = np.nan_to_num(np.array([r[f"{STYLE_KEY}_std"] for r in summary], dtype=float))
    # λ-conditioned rows (the default inference λ and the sweep) form one trade-off curve.
    sweep = [i for i, r in enumerate(summary) if r.get("lambda_eval") not in (None, "")]
    for ax, (key, higher) in zip(axes, FIDELITY_KEYS):
        ys = np.array([r[f"{key}_mean"] for r in summary], dtype=float)
        yerr = np.nan_to_num(np.array([r[f"{key}_std"] for r in summary], dtype=float))
        front = np.array(pareto_front(xs, ys, y_higher=higher))
        for i, r in enumerate(summary):
            if not (math.isfinite(xs[i]) and math.isfinite(ys[i])):
                continue
            base = str(r.get("base_policy", r["policy"]))
            extra = base != r["policy"]  # a sweep point, not the policy's default
            ax.errorbar(xs[i], ys[i], xerr=xerr[i], yerr=yerr[i], fmt="s" if extra else "o",
                        ms=5 if extra else 7, color=color[base], capsize=3, alpha=0.9)
            ax.annotate(str(r["policy"]), (xs[i], ys[i]), textcoords="offset points", xytext=(5, 4),
                        fontsize=7)
        if sweep:
            order = sorted(sweep, key=lambda i: float(summary[i]["lambda_eval"]))
            ax.plot(xs[order], ys[order], "--", color="gray", lw=1, label="conditional: λ sweep")
        lam_front = [i for i, r in enumerate(summary) if str(r["policy"]).startswith("constant" + AT)]
        if len(lam_front) > 1:  # the baseline's λ front, which an adaptive policy must get beyond
            order = sorted(lam_front, key=lambda i: xs[i])
            ax.plot(xs[order], ys[order], ":", color="red", lw=1.5, label="constant: λ front")
        if front.any():
            idx = np.flatnonzero(front)
            idx = idx[np.argsort(xs[idx])]
            ax.plot(xs[idx], ys[idx], "-", color="black", lw=1.2, alpha=0.6, label="Pareto front")
            ax.scatter(xs[idx], ys[idx], s=180, facecolors="none", edgecolors="black", linewidths=1.5)
        if identity is not None and math.isfinite(identity.get(STYLE_KEY, math.nan)):
            ax.plot(identity[STYLE_KEY], identity[key], "*", ms=14, color="gray",
                    label="input (no stylization)")
        ax.set_xlabel("style distance (VGG mean/std, vs style image) ↓")
        ax.set_ylabel("SSIM to content ↑" if key == "ssim" else "content loss (VGG) ↓")
        ax.ticklabel_format(useOffset=False)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
    fig.suptitle(title or "Adaptive λ policies: content fidelity vs stylization (mean ± std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
