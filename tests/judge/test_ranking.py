"""Bradley–Terry fit, bootstrap intervals, win rates, rater agreement and metric accuracy on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from adaptive_st.judge.ranking import (
    Outcomes,
    agreement,
    bootstrap_intervals,
    bradley_terry,
    group_by_item,
    metric_accuracy,
    wilson_interval,
    win_rates,
)

TRUE_THETA = np.array([-1.2, -0.4, 0.0, 0.5, 1.1])  # mean 0, like the fit


def simulate(n: int, seed: int, theta: np.ndarray = TRUE_THETA) -> Outcomes:
    """``n`` answers between random distinct models, i beating j with probability σ(θ_i − θ_j)."""
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(theta), n)
    second = (first + rng.integers(1, len(theta), n)) % len(theta)
    wins = rng.random(n) < 1.0 / (1.0 + np.exp(theta[second] - theta[first]))
    return Outcomes(first, second, wins.astype(float), len(theta))


def test_bradley_terry_recovers_known_strengths():
    theta = bradley_terry(simulate(8000, seed=1))
    assert list(np.argsort(theta)) == list(np.argsort(TRUE_THETA))
    assert np.abs(theta - TRUE_THETA).max() < 0.12
    assert theta.mean() == pytest.approx(0.0, abs=1e-9)


def test_a_tie_counts_as_half_a_win_for_each_side():
    # A beats B 3×, B beats A 1×, 2 ties: A scores 4 of 6, so p_A / p_B = 4 / 2 exactly (no prior).
    outcomes = Outcomes.from_lists([0] * 6, [1] * 6, [1, 1, 1, 0, 0.5, 0.5], models=2)
    theta = bradley_terry(outcomes, prior=0.0)
    assert theta[0] - theta[1] == pytest.approx(math.log(2), abs=1e-8)
    rates, counts = win_rates(outcomes)
    assert rates[0, 1] == pytest.approx(4 / 6) and rates[1, 0] == pytest.approx(2 / 6)
    assert counts[0, 1] == counts[1, 0] == 6 and np.isnan(rates[0, 0])


def test_the_prior_keeps_an_unbeaten_model_finite_and_first():
    outcomes = Outcomes.from_lists([0, 0, 0, 1], [1, 1, 2, 2], [1, 1, 1, 0.5], models=3)
    theta = bradley_terry(outcomes)
    assert np.all(np.isfinite(theta)) and theta[0] == theta.max()
    assert theta[1] == pytest.approx(theta[2], abs=0.5)


def test_bootstrap_intervals_cover_the_truth_and_shrink_with_more_answers():
    many = simulate(8000, seed=2)
    low, high = bootstrap_intervals(many, samples=200, seed=0)
    assert np.all(low <= bradley_terry(many)) and np.all(bradley_terry(many) <= high)
    assert np.all(low - 0.05 <= TRUE_THETA) and np.all(high + 0.05 >= TRUE_THETA)
    few_low, few_high = bootstrap_intervals(simulate(300, seed=2), samples=200, seed=0)
    assert np.all(few_high - few_low > 2 * (high - low))
    again = bootstrap_intervals(many, samples=200, seed=0)
    assert np.array_equal(again[0], low)  # seeded: the report is reproducible


def test_outcomes_must_name_two_known_models():
    with pytest.raises(ValueError, match="two different models"):
        Outcomes.from_lists([0], [0], [1], models=2)
    with pytest.raises(ValueError, match="two different models"):
        Outcomes.from_lists([0], [2], [1], models=2)


def test_agreement_percent_fleiss_and_cohen_by_hand():
    ratings = group_by_item([
        ("q1", "r1", "A"), ("q1", "r2", "A"), ("q1", "r3", "A"),
        ("q2", "r1", "A"), ("q2", "r2", "A"), ("q2", "r3", "B"),
        ("q3", "r1", "B"), ("q3", "r2", "tie"),
        ("q4", "r1", "A"),  # one rater only: not an agreement item
    ])
    result = agreement(ratings)
    assert (result.items, result.raters) == (3, 3)
    assert result.percent == pytest.approx((1 + 1 / 3 + 0) / 3)
    # pooled shares A 5/8, B 2/8, tie 1/8 → chance 30/64
    assert result.fleiss_kappa == pytest.approx((4 / 9 - 30 / 64) / (1 - 30 / 64))
    shared, agree, kappa = result.cohen[("r1", "r2")]
    assert (shared, agree, kappa) == (3, pytest.approx(2 / 3), pytest.approx(0.4))
    assert agreement(group_by_item([("q1", "r1", "A")])).items == 0


def test_metric_accuracy_counts_only_decisive_differing_answers():
    lower_wins = [(1.0, 2.0, 1.0), (3.0, 2.0, 1.0), (1.0, 2.0, 0.0), (5.0, 4.0, 0.0),
                  (1.0, 1.0, 1.0), (1.0, 2.0, 0.5), (None, 2.0, 1.0), (math.nan, 2.0, 1.0)]
    result = metric_accuracy("style_meanstd", lower_wins, higher_is_better=False)
    assert (result.correct, result.n, result.accuracy) == (2, 4, 0.5)
    assert metric_accuracy("ssim_y", lower_wins, higher_is_better=True).correct == 2
    assert result.low < 0.5 < result.high


def test_wilson_interval():
    assert wilson_interval(0, 10)[0] == 0.0 and 0.2 < wilson_interval(0, 10)[1] < 0.35
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(1 - high) and 0.39 < low < 0.41
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
