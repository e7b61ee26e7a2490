"""bench/loop_gate.py: every cycle goes through dev's screen and the gate's own ``decide``, a promotion
changes the incumbent, and its rates are counted as it says."""

import importlib.util
import sys

import numpy as np
import pytest

from conftest import REPO


def load(name: str):
    """A bench script as a module, registered under its name (a dataclass looks its module up there, and
    loop_gate's ``from loop_power import`` finds it) — never by putting bench/ on sys.path, where
    bench/nudge.py would shadow the reference package ``nudge``."""
    spec = importlib.util.spec_from_file_location(name, REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


load("loop_power")  # what loop_gate imports its calibration from
bench = load("loop_gate")
SHAPE = bench.Shape(0.77, 0.25)


def test_rates_count_loops_that_promote_a_null_and_the_share_of_real_candidates_promoted():
    loops = [
        [(False, True, False), (True, True, False)],  # a null promoted: counts for FWER; 1 of 1 real
        [(True, False, True), (True, True, False)],  # 1 of 2 real, one SKIPPED
        [(False, False, False), (False, False, True)],  # no real candidate: no power share
    ]
    rates = bench.rates(loops)
    assert rates["fwer"] == pytest.approx(1 / 3) and rates["power"] == pytest.approx(0.75)
    assert rates["fwer_se"] == pytest.approx(np.sqrt((1 / 3) * (2 / 3) / 3))
    assert rates["skipped"] == pytest.approx(2 / 6) and rates["looks_per_loop"] == pytest.approx(4 / 3)


def test_a_cycle_runs_the_gates_decide_and_after_a_promotion_checks_probe_and_slice_against_the_base(monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_decide(*args, **kwargs)

    real_decide = bench.decide
    monkeypatch.setattr(bench, "decide", spy)
    gate = bench.shipped_gate(probe_metric=None, metric="ndcg@10", test="t", slices=("unseen",))
    design = bench.Design("test", screen=False)
    out = bench.run_loop(np.random.default_rng(0), design, SHAPE, gate, pi0=0.0, gain=0.2, cycles=3, rho=0.8)
    assert [real for real, _, _ in out] == [True] * 3 and out[0][1]  # a +0.2 candidate is promoted at look 1
    assert len(calls) == 3 and calls[0]["base"] is None
    assert set(calls[1]["base"].slices) == {"unseen"} and set(calls[1]["base"].probes) == {"trecdl"}
    assert calls[1]["alpha"] > calls[0]["alpha"] * 0.25  # the fallback hands a promoting look's level on
    base, candidate = calls[1]["base"].slices["unseen"][:2]
    incumbent = calls[1]["slices"]["unseen"][0]
    assert incumbent != base and set(base) == set(candidate)  # the incumbent moved; the base did not


def test_dev_screen_keeps_null_candidates_from_spending_looks():
    gate = bench.shipped_gate(probe_metric=None, metric="ndcg@10", test="t", slices=("unseen",))
    out = [
        bench.run_loop(np.random.default_rng(s), bench.DESIGNS[0], SHAPE, gate, pi0=1.0, gain=0.0, cycles=2, rho=0.8)
        for s in range(20)
    ]
    skipped = [s for loop in out for _, _, s in loop]
    assert 0 < sum(skipped) < len(skipped)  # the screen at 0.25 lets some nulls through, not all


def test_a_loop_is_the_same_whichever_worker_runs_it_and_a_small_run_has_every_cell():
    gate = bench.shipped_gate(probe_metric=None, metric="ndcg@10", test="t", slices=("unseen",))
    job = (3, bench.DESIGNS[0], SHAPE, gate, 0.5, 0.02, 3, 0.8)
    assert bench.one_loop(job) == bench.one_loop(job)
    rows = bench.run(2, 2, 42, 0.8, SHAPE, workers=1)
    assert len(rows) == len(bench.DESIGNS) * len(bench.TESTS) * len(bench.CELLS)
    assert {(r["test"], r["pi0"]) for r in rows} == {(t, pi0) for t in bench.TESTS for pi0, _ in bench.CELLS}
    assert all(0 <= r["fwer"] <= 1 and r["loops"] == 2 for r in rows)
