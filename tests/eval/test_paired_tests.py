"""The gate's one-sided paired tests against scipy's, their intervals, Holm and the power formula."""

import numpy as np
import pytest
from scipy import stats

from recft.eval.paired_tests import (
    EXACT_MAX,
    confidence_interval,
    holm,
    one_sided_p,
    queries_needed,
    sign_flip_p,
    two_sided_p,
)


def scipy_sign_flip(deltas, theta, alternative, n_resamples=100_000):
    x = np.asarray(deltas) - theta
    result = stats.permutation_test(
        (x,), lambda v, axis: v.sum(axis=axis), permutation_type="samples", alternative=alternative,
        n_resamples=n_resamples, random_state=0,
    )  # fmt: skip
    return result.pvalue


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_exact_sign_flip_equals_scipy_on_sparse_deltas(alternative):
    deltas = np.array([1.0, 0.5, -0.25, 0.5, 1.0, 0.2] + [0.0] * 34)  # 6 non-zero: 64 patterns, all enumerated
    nonzero = deltas[deltas != 0]
    assert sign_flip_p(deltas, 0.0, alternative) == pytest.approx(scipy_sign_flip(nonzero, 0.0, alternative))


def test_monte_carlo_sign_flip_is_close_to_scipy():
    deltas = np.random.default_rng(3).normal(0.02, 0.15, 120)
    assert deltas[deltas != 0].size > EXACT_MAX
    ours = sign_flip_p(deltas, 0.0, "greater", n_resamples=20_000)
    assert ours == pytest.approx(scipy_sign_flip(deltas, 0.0, "greater"), abs=0.01)


def test_four_improved_of_forty_has_p_one_sixteenth():
    deltas = [1.0, 0.5, 0.5, 1.0] + [0.0] * 36
    assert one_sided_p(deltas, 0.0, "greater", "permutation") == 1 / 16
    assert one_sided_p(deltas, 0.0, "greater", "t") == pytest.approx(
        stats.ttest_1samp(deltas, 0, alternative="greater").pvalue
    )
    assert one_sided_p(deltas, 0.0, "greater", "bootstrap") < 0.025  # why the bootstrap is not the default


@pytest.mark.parametrize("test", ["permutation", "t", "bootstrap"])
def test_interval_ends_are_where_the_one_sided_tests_flip(test):
    deltas = np.random.default_rng(5).normal(0.03, 0.1, 200)
    low, high = confidence_interval(deltas, test, 0.95, n_resamples=5000)
    assert low < deltas.mean() < high
    p_at = lambda theta, side: one_sided_p(deltas, theta, side, test, n_resamples=5000)  # noqa: E731
    assert p_at(low - 0.003, "greater") <= 0.025 < p_at(low + 0.003, "greater")
    assert p_at(high + 0.003, "less") <= 0.025 < p_at(high - 0.003, "less")


@pytest.mark.parametrize("test", ["permutation", "t", "bootstrap"])
@pytest.mark.parametrize("shift", [0.03, -0.01, 0.0])
def test_two_sided_p_is_twice_the_smaller_one_sided_p(test, shift):
    deltas = np.random.default_rng(7).normal(shift, 0.1, 150)
    sides = [one_sided_p(deltas, 0.0, side, test, n_resamples=4000) for side in ("greater", "less")]
    assert two_sided_p(deltas, test, n_resamples=4000) == min(1.0, 2 * min(sides))


def test_no_spread_gives_a_certain_answer():
    assert one_sided_p([0.0] * 50, 0.0, "greater", "t") == 1.0
    assert one_sided_p([0.1] * 50, 0.0, "greater", "t") == 0.0
    assert one_sided_p([0.0] * 50, 0.0, "greater", "permutation") == 1.0
    assert confidence_interval([0.2] * 9, "permutation") == (0.2, 0.2)


def test_holm_step_down():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.001, 0.2]) == pytest.approx([0.002, 0.2])
    assert holm([]) == []


def test_queries_needed_for_power():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert queries_needed(0.15, 0.01, 0.025, 0.8) == int(np.ceil((z * 0.15 / 0.01) ** 2))
    assert queries_needed(0.15, 0.01, 0.025, 0.9) > queries_needed(0.15, 0.01, 0.025, 0.8)
    assert queries_needed(0.0, 0.01, 0.025) is None and queries_needed(float("nan"), 0.01, 0.025) is None


@pytest.mark.parametrize("test", ["permutation", "bootstrap"])
def test_a_resampled_p_is_never_zero(test):
    """(1 + count) / (1 + B): with every resample on the right side, p is 1/(B + 1), not 0 — a 0 would pass
    any level. Under the old count / B the bootstrap answered 0.0 here."""
    deltas = np.random.default_rng(3).normal(0.5, 0.05, 200)  # far above 0: no resample crosses it
    assert one_sided_p(deltas, 0.0, "greater", test, n_resamples=999) == pytest.approx(1 / 1000)
    assert two_sided_p(deltas, test, n_resamples=999) == pytest.approx(2 / 1000)
