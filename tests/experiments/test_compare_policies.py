"""The policy comparison: aggregation / Pareto functions on synthetic numbers, one tiny end-to-end run."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from experiments.compare.evaluate import held_out_pairs
from experiments.compare.report import (
    aggregate,
    ci95,
    compare_to_baseline,
    front_distances,
    front_verdict,
    front_y,
    lambda_sweep,
    markdown_table,
    mean_std,
    paired_delta,
    pareto_front,
    plot_pareto,
)
from experiments.compare_policies import (
    NUMERIC,
    baseline_name,
    compose_cfg,
    contenders,
    fingerprint,
    log_wandb_summary,
    main,
    policy_overrides,
)
from tests.conftest import finished_wandb_record

nan = math.nan


def test_pareto_front_minimises_x_and_maximises_y():
    xs = [1.0, 2.0, 3.0, 2.0, 1.5, nan, 0.5]
    ys = [0.5, 0.8, 0.9, 0.7, 0.5, 1.0, 0.4]
    # (2, .7) is dominated by (2, .8); (1.5, .5) by (1, .5); NaN is never on the front.
    assert pareto_front(xs, ys) == [True, True, True, False, False, False, True]


def test_pareto_front_lower_y_and_ties():
    xs, ys = [1.0, 1.0, 2.0, 0.5], [0.3, 0.3, 0.1, 0.5]
    # Identical points do not dominate each other; (2, .1) wins on y when lower y is better.
    assert pareto_front(xs, ys, y_higher=False) == [True, True, True, True]
    assert pareto_front(xs, ys, y_higher=True) == [False, False, False, True]


def test_mean_std_is_sample_std_over_finite_values():
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0, 3)
    mean, std, n = mean_std([4.0, nan, "n/a"])
    assert (mean, n) == (4.0, 1) and math.isnan(std)
    assert all(math.isnan(v) for v in mean_std([nan, nan])[:2])


def test_aggregate_groups_by_policy_and_skips_failed_runs():
    rows = [
        {"policy": "a", "seed": 0, "status": "ok", "ssim": 0.80, "lpips": nan},
        {"policy": "b", "seed": 0, "status": "ok", "ssim": 0.50, "lpips": nan},
        {"policy": "a", "seed": 1, "status": "ok", "ssim": 0.90, "lpips": nan},
        {"policy": "a", "seed": 2, "status": "failed: boom", "ssim": nan, "lpips": nan},
    ]
    a, b = aggregate(rows, ["ssim", "lpips"])
    assert (a["policy"], a["n"], a["runs"]) == ("a", 2, 3)
    assert a["ssim_mean"] == pytest.approx(0.85)
    assert a["ssim_std"] == pytest.approx(math.sqrt(0.005))  # ddof=1: ((.05² + .05²) / 1) ** .5
    assert b["ssim_mean"] == 0.5 and math.isnan(b["ssim_std"])
    assert math.isnan(a["lpips_mean"])
    columns = [("SSIM", "ssim"), ("LPIPS", "lpips")]
    table = markdown_table([a, b], columns=columns, unavailable={"lpips": "n/a"})
    assert "| a | 2 | 0.8500 ± 0.0707 | n/a |" in table


def test_compare_to_baseline_uses_paired_per_seed_differences():
    def runs(policy: str, style: list[float], ssim: list[float]) -> list[dict]:
        return [{"policy": policy, "seed": s, "status": "ok", "style_meanstd": x, "ssim": y}
                for s, (x, y) in enumerate(zip(style, ssim))]

    # Seeds move every policy alike (seed 1 is much more stylized); paired, `better` wins on both seeds.
    rows = (runs("constant", [3.1, 2.9], [0.95, 0.93]) + runs("better", [3.0, 2.8], [0.951, 0.931])
            + runs("mixed", [3.2, 2.7], [0.95, 0.93]) + runs("tradeoff", [3.0, 2.8], [0.90, 0.88]))
    verdict, deltas = compare_to_baseline(rows, "better", "constant")
    assert verdict == "beats baseline"
    mean, std, consistent = deltas["style_meanstd"]
    assert mean == pytest.approx(-0.1) and std == pytest.approx(0.0, abs=1e-9) and consistent
    assert compare_to_baseline(rows, "mixed", "constant")[0] == "within seed noise"  # signs disagree
    assert compare_to_baseline(rows, "tradeoff", "constant")[0] == "more stylized, less faithful"
    assert paired_delta(rows[:1] + rows[2:3], "better", "constant", "ssim")[2] is None  # one seed: unknown


def test_held_out_pairs_cover_the_grid_or_a_fixed_subset():
    assert held_out_pairs(2, 3, None) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    sub = held_out_pairs(10, 10, 7)
    assert len(set(sub)) == 7 and sub == sorted(sub) and sub == held_out_pairs(10, 10, 7)


TINY = (
    "data.crop_size=32",
    "data.batch_size=2",
    "data.num_val_pairs=2",
    "model.style_generator.image_size=32",
    "trainer.max_steps=4",
    "trainer.val_check_interval=2",
    "module.val_metrics=null",
    "compare.eval.max_pairs=6",
)


@pytest.mark.slow
def test_main_writes_tables_and_plot(tmp_path: Path, shared_dir: Path):
    out = main(["--preset", "small", "--policies", "constant,conditional,no_such_policy", "--seeds", "0",
                "--jobs", "1", "--out", str(tmp_path / "cmp"), f"paths.shared_dir={shared_dir}", *TINY])
    for name in ("results.csv", "summary.csv", "summary.md", "pareto.png"):
        assert (out / name).is_file(), name
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    main_rows = {r["policy"]: r for r in rows if r["policy"] == r["base_policy"]}
    assert sorted(main_rows) == ["conditional", "constant", "no_such_policy"]
    assert main_rows["no_such_policy"]["status"].startswith("failed")  # reported, not fatal
    for name in ("constant", "conditional"):
        r = main_rows[name]
        assert r["status"] == "ok"
        assert math.isfinite(float(r["ssim"])) and math.isfinite(float(r["psnr"]))
        assert r["lpips"] == "n/a"  # no LPIPS backbone weights on this machine: never faked
        assert float(r["lambda_style"]) > 0
    # The conditional (YOTO) generator is also scored at the ends of its λ range.
    sweep = sorted(float(r["lambda_eval"]) for r in rows if r["base_policy"] == "conditional")
    assert sweep == [0.5, 5.0, 50.0]
    with open(out / "summary.csv") as f:
        summary = [r["policy"] for r in csv.DictReader(f)]
    assert summary.count("constant") == 1 and summary.count("conditional") == 1
    md = (out / "summary.md").read_text()
    assert "n/a (unavailable)" in md and "Pareto front" in md and "no_such_policy" in md
    # A moved OUT folder is reused as it is: nothing retrained, and the rows point at the runs' new place.
    moved = out.rename(tmp_path / "moved")
    again = main(["--preset", "small", "--policies", "constant,conditional", "--seeds", "0", "--jobs", "1",
                  "--out", str(moved), f"paths.shared_dir={shared_dir}", *TINY])
    assert "0 runs to train (2 reused)" in (again / "compare.log").read_text()
    with open(again / "results.csv") as f:
        assert all(r["run_dir"].startswith(str(moved)) for r in csv.DictReader(f))


def test_plot_and_wandb_summary_run_from_synthetic_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    rows = [{"policy": p, "base_policy": p, "seed": s, "lambda_eval": "", "status": "ok",
             **{k: 0.5 + 0.1 * i + 0.01 * s for k in NUMERIC}, "lpips": nan}
            for i, p in enumerate(["constant", "schedule"]) for s in (0, 1)]
    summary = aggregate(rows, NUMERIC)
    out = tmp_path / "cmp"
    out.mkdir()
    plot_pareto(summary, out / "pareto.png")
    assert (out / "pareto.png").stat().st_size > 0
    cfg = OmegaConf.create({"logger": {"wandb": {"project": "adaptive_st", "offline": True}},
                            "compare": {"policies": ["constant", "schedule"], "seeds": [0, 1]}})
    log_wandb_summary(cfg, out, rows, summary)
    (run,) = (out / "wandb").glob("offline-run-*")
    assert b"cmp_summary" in finished_wandb_record(run)  # the run name
    media = run / "files" / "media"
    assert list(media.glob("table/summary_*.table.json")) and list(media.glob("table/results_*.table.json"))
    assert list(media.glob("images/pareto_*.png"))


def test_front_is_piecewise_linear_and_extended_beyond_its_ends():
    pts = [(3.0, 1.0), (1.0, 3.0), (2.0, 2.0)]  # any order: sorted by content loss
    assert front_y(pts, 1.5) == pytest.approx(2.5)
    assert front_y(pts, 2.0) == pytest.approx(2.0)
    assert front_y(pts, 4.0) == pytest.approx(0.0)  # the last segment extended
    assert front_y(pts, 0.0) == pytest.approx(4.0)
    assert front_y([(1.0, 2.0)], 5.0) == 2.0 and math.isnan(front_y([], 1.0))


def test_front_distances_pair_each_run_with_its_own_seeds_front():
    def row(policy, seed, content, style):
        return {"policy": policy, "seed": seed, "status": "ok", "content_loss": content, "style_meanstd": style}

    rows = []
    for seed, shift in ((0, 0.0), (1, 0.5), (2, 1.0)):  # a seed moves the whole front: pairing removes it
        rows += [row("constant@λ=3", seed, 1.0, 3.0 + shift), row("constant@λ=30", seed, 3.0, 1.0 + shift)]
        rows += [row("beyond", seed, 2.0, 1.8 + shift), row("behind", seed, 2.0, 2.1 + shift + 0.05 * seed)]
        rows += [row("noisy", seed, 2.0, 2.0 + shift + (-0.3, 0.0, 0.3)[seed])]
    rows.append({"policy": "failed", "seed": 0, "status": "failed: x"})
    dist = front_distances(rows)
    assert set(dist) == {"beyond", "behind", "noisy"}
    assert dist["beyond"]["deltas"] == pytest.approx([-0.2, -0.2, -0.2]) and dist["beyond"]["inside"]
    assert dist["beyond"]["half"] == pytest.approx(0.0, abs=1e-12)
    mean, half, n = ci95([0.1, 0.15, 0.2])
    assert (dist["behind"]["mean"], dist["behind"]["half"], dist["behind"]["n"]) == pytest.approx((mean, half, n))
    assert half == pytest.approx(4.303 * 0.05 / math.sqrt(3))
    verdicts = {k: front_verdict(v["mean"], v["half"]) for k, v in dist.items()}
    assert verdicts == {"beyond": "beyond the front", "behind": "behind the front",
                        "noisy": "on the front (CI spans 0)"}


def test_lambda_sweep_monotonicity_over_means_and_seeds():
    rows = [{"policy": f"conditional@λ={lam}", "base_policy": "conditional", "seed": s, "status": "ok",
             "lambda_eval": lam, "style_meanstd": y}
            for s, ys in ((0, (3.0, 2.0, 1.0)), (1, (3.0, 2.5, 2.6))) for lam, y in zip((1, 10, 100), ys)]
    sweep = lambda_sweep(rows)
    assert sweep["lambdas"] == [1.0, 10.0, 100.0] and sweep["means"] == pytest.approx([3.0, 2.25, 1.8])
    assert sweep["monotone"] and (sweep["seeds_monotone"], sweep["seeds"]) == (1, 2)
    assert not lambda_sweep(rows[:1] + rows[3:4])["monotone"]  # one λ: no trend to speak of


def test_quality_protocol_composes_with_its_front_and_warm_start(shared_dir):
    cfg = compose_cfg("quality", [f"paths.shared_dir={shared_dir}"])
    assert cfg.model.generator._target_ == "adaptive_st.models.MicroGenerator"
    assert cfg.trainer.max_steps == 300 and cfg.compare.warm_start.batches > 0
    assert len(cfg.compare.seeds) >= 3 and len(cfg.compare.front) >= 3
    names = contenders(cfg.compare.policies, cfg.compare.front)
    assert names[:3] == ["constant@λ=3", "constant@λ=10", "constant@λ=30"] and "constant" not in names
    assert baseline_name(names, float(cfg.loss.weights.style)) == "constant@λ=10"
    # Scored on paintings the model never trained on.
    assert set(cfg.data.holdout_styles) and cfg.compare.eval.crop_size == 256
    assert len(cfg.compare.eval.conditional_lambdas) >= 5


def test_contender_settings_reach_only_that_contender_and_keep_the_others_cached(shared_dir):
    """A ``compare.policy_overrides`` entry sets ``policy.*`` keys and, nested under ``model`` (etc.), settings
    of that contender's model; changing it, or the list of contenders, leaves every other run's fingerprint
    (its cache key) unchanged, while a setting that changes a run's result changes it."""
    shared = f"paths.shared_dir={shared_dir}"
    cfg = compose_cfg("quality", [shared, "+compare.policy_overrides.conditional.model.style_generator.strength_at=sites"])
    got = policy_overrides(cfg.compare, "conditional")
    assert "model.style_generator.strength_at=sites" in got and "policy.lambda_min=1.5" in got
    assert policy_overrides(cfg.compare, "constant") == []
    run = [shared, "policy=constant", "seed=0"]
    key = fingerprint("quality", run)
    assert key is not None
    assert fingerprint("quality", [*run, "compare.policies=[constant]", "compare.seeds=[0]",
                                   "compare.policy_overrides.conditional.lambda_max=99"]) == key
    assert fingerprint("quality", [*run, "compare.eval.crop_size=128"]) != key
    assert fingerprint("quality", [*run, "seed=1"]) != key
