"""Statistics of pairwise answers: Bradley–Terry scores with bootstrap intervals, win rates, rater agreement,
and how often an automatic metric picks the output the humans picked.

Everything works on arrays of outcomes ``(i, j, s)``: models ``i`` and ``j`` were compared and ``i`` scored
``s`` (1 win, 0 loss, ½ for "can't tell" — a tie counts as half a win for each side).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

#: One virtual tie between every two models: keeps the score of a model that never (or always) won finite,
#: and identifies the scale when the comparison graph is not connected; negligible once pairs have answers.
DEFAULT_PRIOR = 0.5


@dataclass(frozen=True)
class Outcomes:
    first: np.ndarray  # model index i
    second: np.ndarray  # model index j
    score: np.ndarray  # what i scored against j: 1, 0 or 0.5
    models: int

    def __post_init__(self) -> None:
        if not (len(self.first) == len(self.second) == len(self.score)):
            raise ValueError("first, second and score must have the same length")
        if len(self.first) and (np.any(self.first == self.second) or
                                max(self.first.max(), self.second.max()) >= self.models):
            raise ValueError("outcomes must compare two different models among the given ones")

    @classmethod
    def from_lists(cls, first: Sequence[int], second: Sequence[int], score: Sequence[float], models: int) -> Outcomes:
        return cls(np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64),
                   np.asarray(score, dtype=np.float64), models)


def _tallies(outcomes: Outcomes, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Wins per model (B, K) and comparison counts (B, K, K) for B weightings of the outcomes (B, n)."""
    k, n = outcomes.models, len(outcomes.score)
    rows = np.arange(n)
    scored = np.zeros((n, k))
    np.add.at(scored, (rows, outcomes.first), outcomes.score)
    np.add.at(scored, (rows, outcomes.second), 1.0 - outcomes.score)
    met = np.zeros((n, k, k))
    met[rows, outcomes.first, outcomes.second] = 1.0
    met[rows, outcomes.second, outcomes.first] = 1.0
    return weights @ scored, (weights @ met.reshape(n, k * k)).reshape(-1, k, k)


def _mm(wins: np.ndarray, counts: np.ndarray, prior: float, tol: float, max_iter: int) -> np.ndarray:
    """Hunter's (2004) minorise–maximise updates p_i ← W_i / Σ_j n_ij / (p_i + p_j), batched over B fits;
    returns log-strengths centred to mean 0."""
    k = wins.shape[1]
    off_diagonal = 1.0 - np.eye(k)
    wins = wins + prior * (k - 1)
    counts = counts + 2.0 * prior * off_diagonal
    log_p = np.zeros_like(wins)
    for _ in range(max_iter):
        p = np.exp(log_p)
        denominator = (counts / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        new = np.log(np.maximum(wins, 1e-300)) - np.log(denominator)
        new -= new.mean(axis=1, keepdims=True)
        change = np.abs(new - log_p).max()
        log_p = new
        if change < tol:
            break
    return log_p


def bradley_terry(outcomes: Outcomes, prior: float = DEFAULT_PRIOR, tol: float = 1e-10,
                  max_iter: int = 20000) -> np.ndarray:
    """Maximum-likelihood log-strengths θ (mean 0): P(i beats j) = 1 / (1 + exp(θ_j − θ_i))."""
    if prior <= 0 and len(outcomes.score) == 0:
        raise ValueError("no answers to fit")
    wins, counts = _tallies(outcomes, np.ones((1, len(outcomes.score))))
    return _mm(wins, counts, prior, tol, max_iter)[0]


def bootstrap_intervals(outcomes: Outcomes, samples: int = 1000, level: float = 0.95, seed: int = 0,
                        prior: float = DEFAULT_PRIOR) -> tuple[np.ndarray, np.ndarray]:
    """Percentile intervals of θ over ``samples`` refits on answers resampled with replacement."""
    n = len(outcomes.score)
    if n == 0:
        return np.full(outcomes.models, np.nan), np.full(outcomes.models, np.nan)
    rng = np.random.default_rng(seed)
    thetas = []
    for start in range(0, samples, 100):  # in chunks: the resampling counts are samples × answers
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=min(100, samples - start)).astype(np.float64)
        thetas.append(_mm(*_tallies(outcomes, draws), prior, 1e-8, 20000))
    thetas = np.concatenate(thetas)
    tail = (1.0 - level) / 2 * 100
    low, high = np.percentile(thetas, [tail, 100 - tail], axis=0)
    return low, high


def win_rates(outcomes: Outcomes) -> tuple[np.ndarray, np.ndarray]:
    """Score rate of row model against column model (ties ½; NaN where never compared) and the counts."""
    k = outcomes.models
    pairwise, counts = np.zeros((k, k)), np.zeros((k, k), dtype=np.int64)
    np.add.at(pairwise, (outcomes.first, outcomes.second), outcomes.score)
    np.add.at(pairwise, (outcomes.second, outcomes.first), 1.0 - outcomes.score)
    np.add.at(counts, (outcomes.first, outcomes.second), 1)
    np.add.at(counts, (outcomes.second, outcomes.first), 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, pairwise / counts, np.nan), counts


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a proportion (sane at 0 or n successes, unlike the normal one)."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Agreement:
    items: int  # items rated by two raters or more
    raters: int
    percent: float  # mean over items of the share of agreeing rater pairs
    fleiss_kappa: float
    cohen: dict[tuple[str, str], tuple[int, float, float]]  # rater pair → (shared items, agreement, κ)


def _kappa(observed: float, expected: float) -> float:
    return math.nan if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def agreement(ratings: Mapping[Hashable, Mapping[str, Hashable]]) -> Agreement:
    """Agreement on the items several raters judged: ``ratings[item][rater] = category``.

    Fleiss' κ with a varying number of raters per item (per-item agreement over rater pairs, chance from
    the pooled category shares); Cohen's κ for every two raters on the items both judged.
    """
    shared = {item: r for item, r in ratings.items() if len(r) >= 2}
    raters = sorted({rater for r in shared.values() for rater in r})
    if not shared:
        return Agreement(0, len(raters), math.nan, math.nan, {})
    per_item, pooled = [], Counter()
    for by_rater in shared.values():
        tally = Counter(by_rater.values())
        n = len(by_rater)
        per_item.append((sum(c * c for c in tally.values()) - n) / (n * (n - 1)))
        pooled.update(tally)
    total = sum(pooled.values())
    observed = float(np.mean(per_item))
    expected = sum((c / total) ** 2 for c in pooled.values())
    cohen = {}
    for a, b in combinations(raters, 2):
        both = [(r[a], r[b]) for r in shared.values() if a in r and b in r]
        if not both:
            continue
        agree = sum(x == y for x, y in both) / len(both)
        share_a, share_b = Counter(x for x, _ in both), Counter(y for _, y in both)
        chance = sum(share_a[c] * share_b[c] for c in share_a) / len(both) ** 2
        cohen[(a, b)] = (len(both), agree, _kappa(agree, chance))
    return Agreement(len(shared), len(raters), observed, _kappa(observed, expected), cohen)


@dataclass(frozen=True)
class MetricAccuracy:
    metric: str
    correct: int
    n: int  # decisive human answers where the metric differs between the two outputs
    low: float
    high: float

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else math.nan


def metric_accuracy(metric: str, choices: Sequence[tuple[float | None, float | None, float]],
                    higher_is_better: bool) -> MetricAccuracy:
    """How often "the output with the better metric wins" matches the human choice.

    ``choices``: (metric of output A, metric of output B, what A scored with the humans); ties on either side
    (human "can't tell", or equal metric values) and missing values say nothing and are left out.
    """
    correct = n = 0
    for a, b, score in choices:
        if a is None or b is None or score == 0.5 or a == b or not (math.isfinite(a) and math.isfinite(b)):
            continue
        metric_prefers_a = (a > b) == higher_is_better
        correct += int(metric_prefers_a == (score == 1.0))
        n += 1
    low, high = wilson_interval(correct, n)
    return MetricAccuracy(metric, correct, n, low, high)


def group_by_item(rows: Sequence[tuple[Hashable, str, Hashable]]) -> dict[Hashable, dict[str, Hashable]]:
    """``(item, rater, category)`` rows → ``{item: {rater: category}}`` (the input of :func:`agreement`)."""
    out: dict[Hashable, dict[str, Hashable]] = defaultdict(dict)
    for item, rater, category in rows:
        out[item][rater] = category
    return dict(out)
