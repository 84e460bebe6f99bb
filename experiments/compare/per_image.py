"""How the ``per_image`` policy chooses λ, and whether that helps the hardest pairs.

Every per_image run and every run of the constant λ front is scored pair by pair on all photos × the
held-out paintings (more pairs than the main table's held-out photos, so that a worst decile exists;
the paintings stay unseen). Written: ``per_image.png`` (λ histogram, λ against the pair statistics it
reads) and a Markdown section: per seed, the worst decile of pairs (by the base-λ constant run's style
distance) is compared with the constant front interpolated at per_image's mean content loss, i.e. at
equal mean quality.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from adaptive_st.policies.pair_features import pair_features
from experiments.compare.evaluate import PairImages, _scorer, load_run_module, make_batches
from experiments.compare.report import AT, ci95, front_verdict, front_y

DECILE = 0.1


def all_pair_batches(cfg: DictConfig) -> list[dict[str, torch.Tensor]]:
    """All photos (trained-on and held-out) × the held-out paintings, at the evaluation crop."""
    datamodule = instantiate(cfg.data)
    contents, styles = datamodule.content_paths, datamodule.style_val_paths
    pairs = [(c, s) for c in range(len(contents)) for s in range(len(styles))]
    images = PairImages(int(cfg.compare.eval.crop_size or cfg.data.crop_size))
    return make_batches(images, contents, styles, pairs, int(cfg.compare.eval.batch_size))


@torch.no_grad()
def score_pairs(cfg: DictConfig, run_dir: Path, batches: Sequence[dict[str, torch.Tensor]]) -> dict[str, list[float]]:
    """Per pair: style distance, content loss, the λ the model ran at (NaN without one) and the two pair
    statistics per_image reads. Cached in ``run_dir/pairs.json`` next to the checkpoint it describes."""
    cache = run_dir / "pairs.json"
    ckpt = run_dir / "checkpoints" / "last.ckpt"
    if cache.is_file() and json.loads(cache.read_text()).get("mtime") == ckpt.stat().st_mtime:
        return json.loads(cache.read_text())["pairs"]
    module = load_run_module(cfg, ckpt)
    scorer, p = _scorer(module.perceptual, None), module.perceptual
    cols: dict[str, list[float]] = {k: [] for k in ("style_meanstd", "content_loss", "lambda", "style_gap",
                                                    "edge_density")}
    for batch in batches:
        out, cond = module.stylize_batch(batch)
        scores = scorer.score_batch(out, batch["content"], batch["style"])
        feats = pair_features(batch["content"], p.features(batch["content"], p.style_layers),
                              p.features(batch["style"], p.style_layers), p.style_layers)
        cols["style_meanstd"] += scores["style_meanstd"].tolist()
        cols["content_loss"] += scores["content_loss"].tolist()
        cols["lambda"] += (cond.reshape(-1).tolist() if cond is not None else [math.nan] * len(out))
        cols["style_gap"] += feats[:, 0].tolist()
        cols["edge_density"] += feats[:, 1].tolist()
    cache.write_text(json.dumps({"mtime": ckpt.stat().st_mtime, "pairs": cols}))
    return cols


def worst_decile(reference: Sequence[float], values: Sequence[float]) -> float:
    """Mean of ``values`` over the pairs where ``reference`` is largest (the top ``DECILE``, ≥ 1 pair)."""
    ref = np.asarray(reference, dtype=float)
    k = max(1, math.ceil(DECILE * len(ref)))
    return float(np.mean(np.asarray(values, dtype=float)[np.argsort(-ref)[:k]]))


def decile_deltas(runs: dict[str, dict[Any, dict[str, list[float]]]], base: str,
                  contender: str = "per_image") -> dict[str, Any]:
    """Per seed: the contender's worst-decile style distance minus the constant front's at the contender's
    mean content loss (front points: each constant λ's (mean content loss, worst-decile style)); the
    worst decile is fixed per seed by the ``base`` constant run. Also the raw worst-decile content loss."""
    fronts = sorted(name for name in runs if name.startswith("constant" + AT))
    out: dict[str, Any] = {"style": [], "content": {}, "style_raw": {}}
    for seed, mine in runs.get(contender, {}).items():
        if seed not in runs.get(base, {}):
            continue
        ref = runs[base][seed]["style_meanstd"]
        pts = [(float(np.mean(runs[f][seed]["content_loss"])), worst_decile(ref, runs[f][seed]["style_meanstd"]))
               for f in fronts if seed in runs[f]]
        out["style"].append(worst_decile(ref, mine["style_meanstd"]) - front_y(pts, float(np.mean(mine["content_loss"]))))
        for name in [*fronts, contender]:
            if seed in runs.get(name, {}):
                r = runs[name][seed]
                out["style_raw"].setdefault(name, []).append(worst_decile(ref, r["style_meanstd"]))
                out["content"].setdefault(name, []).append(
                    worst_decile(runs[base][seed]["content_loss"], r["content_loss"]))
    return out


def pooled(runs: dict[Any, dict[str, list[float]]], key: str) -> np.ndarray:
    """One per-pair column over all seeds' runs."""
    return np.concatenate([np.asarray(v[key], dtype=float) for v in runs.values()])


def plot(lam: np.ndarray, gap: np.ndarray, edge: np.ndarray, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    axes[0].hist(lam, bins=20, color="tab:blue")
    axes[0].set(xlabel="λ_style chosen per pair", ylabel="pairs", title="per_image: λ across pairs (all seeds)")
    for ax, x, label in ((axes[1], gap, "style gap (VGG mean/std, photo vs painting)"),
                         (axes[2], edge, "edge density of the photo (mean Sobel)")):
        ax.scatter(x, lam, s=12, alpha=0.7)
        ax.set(xlabel=label, ylabel="λ_style")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def per_image_section(out: Path, rows: Sequence[dict[str, Any]], compose: Callable[[list[str], Path], DictConfig],
                      base: str) -> str:
    """Score the per_image and front runs pair by pair; write per_image.png; return the Markdown section."""
    wanted = [r for r in rows if r.get("status") == "ok"
              and (r["policy"] == "per_image" or str(r["policy"]).startswith("constant" + AT))]
    if not any(r["policy"] == "per_image" for r in wanted) or base not in {r["policy"] for r in wanted}:
        return ""
    runs: dict[str, dict[Any, dict[str, list[float]]]] = {}
    batches = None
    for r in wanted:
        run_dir = Path(r["run_dir"])
        cfg = compose(json.loads((run_dir / "eval.json").read_text())["overrides"], run_dir)
        batches = batches if batches is not None else all_pair_batches(cfg)
        runs.setdefault(str(r["policy"]), {})[r["seed"]] = score_pairs(cfg, run_dir, batches)
    lam, gap, edge = (pooled(runs["per_image"], k) for k in ("lambda", "style_gap", "edge_density"))
    plot(lam, gap, edge, out / "per_image.png")
    d = decile_deltas(runs, base)
    n_pairs = len(next(iter(runs["per_image"].values()))["lambda"])
    mean, half, n = ci95(d["style"])
    lines = [f"{n_pairs} pairs per run (all photos × the held-out paintings). per_image's λ_style: "
             f"median {np.median(lam):.3g}, 10–90 % {np.quantile(lam, 0.1):.3g}–{np.quantile(lam, 0.9):.3g}; "
             f"Spearman ρ with the style gap {spearman(lam, gap):+.2f}, with edge density {spearman(lam, edge):+.2f} "
             "(per_image.png).", "",
             f"Worst decile ({math.ceil(DECILE * n_pairs)} pairs per seed, fixed by `{base}`'s style distance): "
             f"per_image − the constant front at its mean content loss = {mean:+.4f}"
             + (f" ± {half:.4f}" if math.isfinite(half) else "") + f" (95 % CI, {n} seeds): "
             f"{front_verdict(mean, half)}.", "",
             "Worst-decile means per run (mean ± 95 % CI half-width over seeds; the content-loss decile is "
             f"fixed by `{base}`'s content loss):", "",
             "| run | worst-decile style distance (mean/std) | worst-decile content loss |", "|---|---|---|"]
    for name in sorted(d["style_raw"], key=lambda x: (x == "per_image", x)):
        s, c = ci95(d["style_raw"][name]), ci95(d["content"][name])
        lines.append(f"| {name} | {s[0]:.4f} ± {s[1]:.4f} | {c[0]:.4f} ± {c[1]:.4f} |")
    (out / "per_image.json").write_text(json.dumps(d, indent=1))
    return "\n".join(lines)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Rank correlation (no ties expected in continuous statistics)."""
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1]) if len(a) > 1 and np.std(ra) > 0 and np.std(rb) > 0 else math.nan
