"""One-sided paired tests on per-query deltas, each with the confidence interval that matches it.

A gate asks one-sided questions — is the candidate better than the incumbent by more than the
margin? is a probe's loss beyond the tolerance? — on deltas that are mostly exact zeros (most
queries rank their answer the same way under both models). Which test holds its level there was
measured, not assumed (``bench/gate_calibration.py``; IR practice agrees: Urbano, Lima and Hanjalic,
SIGIR 2019, find the t-test and permutation tests hold their level on reciprocal rank while the
bootstrap is liberal at small n):

- ``permutation``: the sign-flip test of "the deltas are symmetric about θ". Exact (every sign
  pattern of the non-zero deltas) when there are at most ``EXACT_MAX`` of them, Monte-Carlo with a
  seeded sign matrix otherwise; its interval inverts the same test.
- ``t``: Student's one-sample t on the deltas; the t interval.
- ``bootstrap``: the percentile bootstrap (scipy); p is the bootstrap mass on the wrong side of θ.

``p`` is always one-sided: ``alternative="greater"`` tests H0: mean Δ ≤ θ, ``"less"`` H0: mean Δ ≥ θ.
Written by hand only where scipy would be too slow for the calibration bench (thousands of
simulated gates): the sign-flip test, checked against ``scipy.stats.permutation_test`` in the tests.
"""

from __future__ import annotations

import itertools
import math
from typing import Literal, Sequence

import numpy as np
from scipy import stats as scipy_stats

from recft.common.errors import ConfigError

TESTS = ("permutation", "t", "bootstrap")
EXACT_MAX = 16  # up to 2**16 sign patterns are enumerated; beyond, Monte-Carlo
Alternative = Literal["greater", "less"]


def _check(test: str) -> None:
    if test not in TESTS:
        raise ValueError(f"test must be one of {', '.join(TESTS)}, got {test!r}")


def _flips(x: np.ndarray, n_resamples: int, rng: np.random.Generator, chunk: int = 1000):
    """(Σ s·x, Σ s) for ``n_resamples`` random sign vectors s, built a chunk at a time (bounded memory)."""
    sums, counts = [], []
    for start in range(0, n_resamples, chunk):
        signs = rng.choice((1.0, -1.0), size=(min(chunk, n_resamples - start), x.size))
        sums.append(signs @ x)
        counts.append(signs.sum(1))
    return np.concatenate(sums), np.concatenate(counts)


def sign_flip_p(deltas, theta: float, alternative: Alternative, n_resamples: int = 10_000, seed: int = 42) -> float:
    x = np.asarray(deltas, dtype=np.float64) - theta
    x = x[x != 0]  # a zero keeps its value under any sign: it cannot move the statistic
    if x.size == 0:
        return 1.0
    observed, tol = x.sum(), 1e-12 * max(1.0, np.abs(x).sum())
    exact = x.size <= EXACT_MAX
    if exact:  # every sign pattern
        flipped = np.array(list(itertools.product((1.0, -1.0), repeat=x.size))) @ np.abs(x)
    else:
        flipped, _ = _flips(np.abs(x), n_resamples, np.random.default_rng(seed))
    extreme = flipped >= observed - tol if alternative == "greater" else flipped <= observed + tol
    return float(extreme.mean()) if exact else resampled_p(int(extreme.sum()), len(flipped))


def sign_flip_ci(deltas, confidence: float, n_resamples: int = 10_000, seed: int = 42) -> tuple[float, float]:
    """The θ not rejected by either one-sided sign-flip test at (1 − confidence)/2, by bisection
    (the p of each side is monotone in θ); one seeded sign matrix serves every θ."""
    d = np.asarray(deltas, dtype=np.float64)
    if np.all(d == d[0]):
        return float(d[0]), float(d[0])
    alpha = (1 - confidence) / 2
    flipped_sum, n_plus = _flips(d, n_resamples, np.random.default_rng(seed))  # Σ s·(d − θ) = Σ s·d − θ·Σ s

    def p(theta: float, alternative: Alternative) -> float:
        stat, observed = flipped_sum - theta * n_plus, d.sum() - theta * d.size
        extreme = stat >= observed if alternative == "greater" else stat <= observed
        return resampled_p(int(extreme.sum()), len(stat))

    def bisect(alternative: Alternative) -> float:
        low, high = float(d.min()), float(d.max())  # greater: rejected at low, not at high; less: mirrored
        for _ in range(60):
            mid = (low + high) / 2
            rejected = p(mid, alternative) <= alpha
            if (alternative == "greater") == rejected:
                low = mid
            else:
                high = mid
        return (low + high) / 2

    return bisect("greater"), bisect("less")


def t_p(deltas, theta: float, alternative: Alternative) -> float:
    d = np.asarray(deltas, dtype=np.float64)
    if d.size < 2 or np.all(d == d[0]):  # no spread: the sign of the gap is certain (or there is none)
        gap = float(d.mean() - theta) if d.size else 0.0
        return 0.0 if (gap > 0 if alternative == "greater" else gap < 0) else 1.0
    return float(scipy_stats.ttest_1samp(d, theta, alternative=alternative).pvalue)


def t_ci(deltas, confidence: float) -> tuple[float, float]:
    d = np.asarray(deltas, dtype=np.float64)
    if d.size < 2 or np.all(d == d[0]):
        return float(d.mean()), float(d.mean())
    interval = scipy_stats.ttest_1samp(d, 0.0).confidence_interval(confidence)
    return float(interval.low), float(interval.high)


def bootstrap_ci(
    values: np.ndarray,
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 42,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (seeded, so reports are reproducible)."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        return float("nan"), float("nan")
    if np.all(values == values[0]):  # no spread: the bootstrap distribution is a point
        return float(values[0]), float(values[0])
    result = scipy_stats.bootstrap(
        (values,),
        np.mean,
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        batch=max(1, min(n_resamples, 20_000_000 // values.size)),
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def bootstrap_means(deltas, n_resamples: int, seed: int) -> np.ndarray:
    d = np.asarray(deltas, dtype=np.float64)
    result = scipy_stats.bootstrap(
        (d,),
        np.mean,
        n_resamples=n_resamples,
        method="percentile",
        vectorized=True,
        batch=max(1, min(n_resamples, 20_000_000 // max(d.size, 1))),
        rng=np.random.default_rng(seed),
    )
    return result.bootstrap_distribution


def bootstrap_p(deltas, theta: float, alternative: Alternative, n_resamples: int = 10_000, seed: int = 42) -> float:
    d = np.asarray(deltas, dtype=np.float64)
    if np.all(d == d[0]):
        return t_p(d, theta, alternative)
    means = bootstrap_means(d, n_resamples, seed)
    wrong_side = means <= theta if alternative == "greater" else means >= theta
    return resampled_p(int(wrong_side.sum()), len(means))


def resampled_p(count: int, resamples: int) -> float:
    """(1 + count) / (1 + B): the observed sample is one of the resamples, so a p from B resamples is
    never 0 — a 0 would pass any level (Phipson & Smyth, 2010)."""
    return float((1 + count) / (1 + resamples))


def two_sided_p(deltas, test: str, n_resamples: int = 10_000, seed: int = 42) -> float:
    """Twice the smaller one-sided p against 0, capped at 1. The bootstrap's two sides read one
    resampled distribution (the seed makes them the same draw), so it is drawn once."""
    _check(test)
    d = np.asarray(deltas, dtype=np.float64)
    if test == "bootstrap" and not np.all(d == d[0]):
        means = bootstrap_means(d, n_resamples, seed)
        sides = (resampled_p(int((means <= 0).sum()), len(means)), resampled_p(int((means >= 0).sum()), len(means)))
        return min(1.0, 2 * min(sides))
    return min(1.0, 2 * min(one_sided_p(d, 0.0, side, test, n_resamples, seed) for side in ("greater", "less")))


def one_sided_p(
    deltas, theta: float, alternative: Alternative, test: str, n_resamples: int = 10_000, seed: int = 42
) -> float:
    _check(test)
    if test == "permutation":
        return sign_flip_p(deltas, theta, alternative, n_resamples, seed)
    if test == "t":
        return t_p(deltas, theta, alternative)
    return bootstrap_p(deltas, theta, alternative, n_resamples, seed)


def confidence_interval(
    deltas, test: str, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 42
) -> tuple[float, float]:
    """The two-sided interval whose ends are where each one-sided test at (1 − confidence)/2 flips."""
    _check(test)
    if len(deltas) == 0:
        return float("nan"), float("nan")
    if test == "permutation":
        return sign_flip_ci(deltas, confidence, n_resamples, seed)
    if test == "t":
        return t_ci(deltas, confidence)
    return bootstrap_ci(np.asarray(deltas), confidence, n_resamples, seed)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control over several checks)."""
    order = np.argsort(p_values, kind="stable")
    m, running, adjusted = len(p_values), 0.0, [0.0] * len(p_values)
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def check_power(mde: float, power: float, alpha: float, prefix: str = "gate.") -> None:
    """The settings ``queries_needed`` is asked with (``gate.mde`` … or ``recft manage power --mde`` …)."""
    for key, value, low, high in (("mde", mde, 0, math.inf), ("power", power, 0, 1), ("alpha", alpha, 0, 0.5)):
        if not low < value < high:
            raise ConfigError(f"{prefix}{key} must be in ({low}, {high}), got {value}")


def queries_needed(sd: float, effect: float, alpha: float, power: float = 0.8) -> int | None:
    """Paired queries for a one-sided test at ``alpha`` to detect a true ``effect`` with ``power``
    (normal approximation, deltas' sd ``sd``); None only when nothing can be said (no spread known)."""
    if not (np.isfinite(sd) and sd > 0) or effect <= 0:
        return None
    z = scipy_stats.norm.ppf(1 - alpha) + scipy_stats.norm.ppf(power)
    return int(math.ceil((z * sd / effect) ** 2))
