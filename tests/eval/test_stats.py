import numpy as np
import pytest

from recft.eval.paired_tests import bootstrap_ci
from recft.eval.stats import cohens_dz, compare


def test_compare_reports_delta_ci_effect_and_n():
    rng = np.random.default_rng(0)
    a = {f"q{i}": float(v) for i, v in enumerate(rng.uniform(0, 1, 200))}
    b = {q: v + 0.05 + rng.normal(0, 0.05) for q, v in a.items()}
    result = compare(a, b, "ndcg@10")
    assert result.n == 200
    assert result.delta == pytest.approx(np.mean([b[q] - a[q] for q in a]))
    assert result.ci_low < result.delta < result.ci_high
    assert 0.03 < result.ci_low and result.ci_high < 0.07  # the true shift 0.05 is inside, 0 is not
    assert result.effect_size > 0.5


def test_seeded_and_reproducible():
    values = np.random.default_rng(1).normal(size=80)
    assert bootstrap_ci(values, seed=42) == bootstrap_ci(values, seed=42)
    assert bootstrap_ci(values, seed=42) != bootstrap_ci(values, seed=7)


def test_ci_narrows_with_n():
    rng = np.random.default_rng(2)
    small, large = rng.normal(0, 1, 40), rng.normal(0, 1, 800)
    width = lambda v: np.subtract(*bootstrap_ci(v)[::-1])  # noqa: E731
    assert width(large) < width(small) / 3


def test_identical_systems_give_a_zero_point_interval():
    a = {"q1": 0.2, "q2": 0.9}
    result = compare(a, dict(a))
    assert (result.delta, result.ci_low, result.ci_high, result.effect_size) == (0, 0, 0, 0)


def test_unpaired_queries_are_refused():
    with pytest.raises(ValueError, match="1 only in A, 1 only in B"):
        compare({"q1": 1.0, "q2": 0.0}, {"q1": 1.0, "q3": 0.0})


def test_cohens_dz():
    assert cohens_dz(np.array([1.0, 2.0, 3.0])) == pytest.approx(2.0)
    assert np.isnan(cohens_dz(np.array([1.0])))


def test_a_comparison_carries_its_two_sided_p_by_its_own_test():
    from scipy import stats

    rng = np.random.default_rng(3)
    a = {f"q{i}": float(v) for i, v in enumerate(rng.uniform(0, 1, 80))}
    b = {q: v + float(rng.normal(0.03, 0.1)) for q, v in a.items()}
    t = compare(a, b, test="t")
    assert t.p == pytest.approx(stats.ttest_rel(list(b.values()), list(a.values())).pvalue, rel=1e-9)
    deltas = np.array([b[q] - a[q] for q in a])
    exact = stats.permutation_test((deltas,), np.mean, permutation_type="samples", n_resamples=20_000, random_state=0)
    assert compare(a, b, test="permutation", n_resamples=20_000).p == pytest.approx(exact.pvalue, abs=0.01)
    assert "p=" in str(t) and "(t)" in str(t)
