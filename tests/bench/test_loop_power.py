"""bench/loop_power.py: its p-values are the gate's, its deltas have the shape it says, and a small run is sane."""

import importlib.util
import math
import sys

import numpy as np
import pytest

from recft.eval.paired_tests import one_sided_p
from recft.loop.gate.looks import RULES, levels

from conftest import REPO


def load_bench():
    spec = importlib.util.spec_from_file_location("loop_power", REPO / "bench" / "loop_power.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["loop_power"] = module  # a dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


bench = load_bench()
SHAPES = {"mrr@10": bench.Shape(0.8, 0.3), "ndcg@10": bench.Shape(0.77, 0.25, 1.2)}


def test_the_vectorised_t_p_is_one_sided_p_of_each_row():
    rng = np.random.default_rng(0)
    d = np.where(rng.random((40, 120)) < 0.8, 0.0, rng.normal(0.01, 0.3, (40, 120)))
    d[0], d[1] = 0.0, 0.25  # no spread: p is certain
    for margin in (0.0, 0.01):
        expected = [one_sided_p(row, margin, "greater", "t") for row in d]
        assert bench.t_p_rows(d, margin) == pytest.approx(expected, abs=1e-9, rel=0)
    assert bench.t_p_rows(d)[:2].tolist() == [1.0, 0.0]


def test_deltas_have_the_calibrated_zeros_gain_and_reuse_correlation():
    rng = np.random.default_rng(1)
    (u1, e1), (u2, e2) = bench.draws(rng, 400, [300, 330], rho=0.8)
    null = np.zeros(400)
    first, second = bench.deltas(u1, e1, SHAPES["mrr@10"], null), bench.deltas(u2, e2, SHAPES["mrr@10"], null)
    assert np.mean(first == 0) == pytest.approx(0.8, abs=0.01)
    assert first[first != 0].std() == pytest.approx(0.3, abs=0.01)
    assert np.corrcoef(first.ravel(), second[:, :300].ravel())[0, 1] == pytest.approx(0.8, abs=0.02)
    better = bench.deltas(u1, e1, SHAPES["ndcg@10"], np.full(400, 0.02))
    assert better.mean() == pytest.approx(0.02 * 1.2, abs=3 * better.std() / math.sqrt(better.size))


def test_ndcg_gets_the_multiplier_of_standardised_effect():
    calibration = bench.calibrate(sorted(REPO.glob(bench.REPORTS)))
    assert calibration["pairs"] and all(abs(row["mrr@10_gap"]) <= bench.REGIME for row in calibration["pairs"])
    assert 0.5 < calibration["mrr@10"]["zeros"] < 0.95 and calibration["multiplier"] > 0
    mrr, ndcg = bench.shapes(calibration).values()
    assert (ndcg.per_mrr / ndcg.sigma) / (1 / mrr.sigma) == pytest.approx(math.sqrt(calibration["multiplier"]))


def test_score_applies_each_rules_levels_to_each_loop():
    p = np.array([[0.001, 0.5, 0.001]] * 2)
    null = np.array([[True, False, False]] * 2)
    scored = bench.score(p, null, alpha=0.025)
    promoted = np.array(p[0]) <= np.array(levels(0.025, "fallback", p[0]))
    assert promoted.tolist() == [True, False, True]  # look 3 promotes only on its own α·γ_3
    assert scored["fallback"]["fwer"] == 1.0 and scored["fallback"]["power"] == 0.5
    assert bench.score(p, np.ones_like(null), alpha=0.025)["pi2"]["power"] is None


def test_a_small_run_is_sane_and_only_spending_holds_the_error():
    rows = bench.run(50, 20, 42, 0.8, SHAPES)
    assert len(rows) == len(bench.GROWTHS) * len(bench.METRICS) * (1 + len(bench.PI0S) * len(bench.GAINS))
    for row in rows:
        assert set(row["rules"]) == set(RULES)
        assert all(0 <= r["fwer"] <= 1 and (r["power"] is None) == (row["pi0"] == 1.0) for r in row["rules"].values())
    nulls = [row["rules"] for row in rows if row["pi0"] == 1.0]
    assert sum(r["none"]["fwer"] for r in nulls) > 2 * sum(r["pi2"]["fwer"] for r in nulls)
    power = {(r["growth"], r["metric"], r["pi0"], r["gain"]): r["rules"]["fallback"]["power"] for r in rows}
    assert power[60, "ndcg@10", 0.5, 0.02] > power[0, "ndcg@10", 0.5, 0.02] > power[0, "ndcg@10", 0.5, 0.01]
    assert set(bench.verdict(rows)) >= {"fwer_holds", "power_holds", "power_at_0.02"}
    lines = bench.table(rows).splitlines()
    assert len(lines) == 2 + len(bench.GROWTHS) * len(bench.METRICS) * len(RULES) and "| proposed |" in "".join(lines)


def test_the_cross_check_runs_both_tests_on_the_same_deltas():
    check = bench.cross_check(3, 42, 0.8, SHAPES, loops=4)
    assert set(check["t"]) >= set(RULES) and set(check["permutation"]) >= set(RULES)
    assert 0 <= check["single_agree"] <= 1 and check["p_floor"] == 1 / (check["resamples"] + 1)
