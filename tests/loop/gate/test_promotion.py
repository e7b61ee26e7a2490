"""Each verdict from synthetic per-query vectors (deterministic: seeded draws), and each refusal."""

import numpy as np
import pytest

from recft.eval.paired_tests import queries_needed
from recft.loop.gate.promotion import (
    FORGETTING_DETECTED,
    INCONCLUSIVE,
    PENDING_APPROVAL,
    PROMOTED,
    REJECTED,
    ROLLBACK,
    BaseVectors,
    GateConfig,
    GateError,
    check_golden,
    decide,
)
from recft.loop.orchestration.loop_settings import shipped_gate


def vectors(n, mean_delta, sd=0.1, seed=0, base=0.5):
    """Incumbent and candidate per-query vectors whose deltas have exactly this mean and sd."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n)
    noise = (noise - noise.mean()) / noise.std(ddof=1)
    incumbent = {f"q{i}": base for i in range(n)}
    candidate = {f"q{i}": base + mean_delta + sd * noise[i] for i in range(n)}
    return incumbent, candidate


def with_deltas(deltas):
    incumbent = {f"q{i}": 0.5 for i in range(len(deltas))}
    return incumbent, {q: 0.5 + d for q, d in zip(incumbent, deltas)}


CFG = shipped_gate(
    slices=(),
    probe_metric=None,
    metric="mrr@10",
    margin=0.0,
    forgetting_tolerance=0.02,
    min_queries=20,
    n_resamples=4000,
)
SAFE_PROBE = {"trecdl": vectors(200, 0.0, sd=0.02, seed=9)}


def cfg(**changes) -> GateConfig:
    return GateConfig(**{**CFG.__dict__, **changes})


@pytest.mark.parametrize("test", ["permutation", "t", "bootstrap"])
def test_promoted_and_pending_approval_with_every_test(test):
    golden = vectors(300, 0.05, seed=1)
    verdict = decide(*golden, SAFE_PROBE, cfg(test=test))
    assert verdict.verdict == PROMOTED and verdict.golden.p <= 0.025 and verdict.failing == []
    assert verdict.golden.comparison.test == test and verdict.golden.comparison.ci_low > 0
    approval = decide(*golden, SAFE_PROBE, cfg(test=test, require_approval=True))
    assert approval.verdict == PENDING_APPROVAL and approval.passed


def test_an_identical_model_is_rejected_as_equivalent_not_inconclusive_forever():
    verdict = decide(*vectors(300, 0.0, sd=0.0), SAFE_PROBE, CFG)
    assert verdict.verdict == REJECTED and "equivalent to the incumbent" in verdict.reasons[0]
    without_band = decide(*vectors(300, 0.0, sd=0.0), SAFE_PROBE, cfg(equivalence=None))
    assert without_band.verdict == INCONCLUSIVE
    assert without_band.golden.n_needed is None  # no spread at all: nothing to size n with


def test_equivalence_needs_both_one_sided_tests():
    tight = vectors(2000, 0.0005, sd=0.02, seed=3)  # |Δ| ≪ 0.005 and well measured
    assert decide(*tight, SAFE_PROBE, CFG).verdict == REJECTED
    loose = vectors(60, 0.0005, sd=0.2, seed=3)  # the same mean, far too noisy to show equivalence
    assert decide(*loose, SAFE_PROBE, CFG).verdict == INCONCLUSIVE


def test_rejected_when_shown_below_a_positive_margin():
    verdict = decide(*vectors(300, 0.05, sd=0.05, seed=2), SAFE_PROBE, cfg(margin=0.1))
    assert verdict.verdict == REJECTED and "not better than the incumbent by 0.1" in verdict.reasons[0]


def test_a_negative_margin_is_refused():
    with pytest.raises(GateError, match="gate.margin must be >= 0, got -0.01"):
        shipped_gate(margin=-0.01)
    with pytest.raises(GateError, match="gate.test must be one of"):
        shipped_gate(test="wilcoxon")


def test_rollback_when_worse():
    verdict = decide(*vectors(300, -0.05, seed=3), SAFE_PROBE, CFG)
    assert verdict.verdict == ROLLBACK and verdict.golden.outcome == "worse"
    assert verdict.golden.comparison.ci_high < 0 and verdict.golden.comparison.n == 300


def test_a_rollback_that_also_forgot_lists_both_failing_checks():
    probes = {"trecdl": vectors(400, -0.06, sd=0.1, seed=4)}
    verdict = decide(*vectors(300, -0.05, seed=3), probes, CFG)
    assert verdict.verdict == ROLLBACK and verdict.failing == ["golden", "trecdl"]
    assert verdict.probes[0].outcome == "forgetting"


def test_forgetting_detected_when_the_loss_is_shown_beyond_the_tolerance():
    probes = {"trecdl": vectors(400, -0.06, sd=0.1, seed=4)}
    verdict = decide(*vectors(300, 0.05, seed=5), probes, CFG)
    assert verdict.verdict == FORGETTING_DETECTED
    assert verdict.probes[0].comparison.ci_high < -0.02 and verdict.probes[0].p <= 0.025


def test_published_alarm_at_n40_is_inconclusive_not_forgetting():
    """Δ −0.027 at n=40: the interval straddles −0.02, so the gate must not call it forgetting."""
    probes = {"trecdl": vectors(40, -0.027, sd=0.08, seed=6)}
    verdict = decide(*vectors(300, 0.05, seed=7), probes, CFG)
    probe = verdict.probes[0]
    assert probe.comparison.delta == pytest.approx(-0.027)
    assert probe.comparison.ci_low < -0.02 < probe.comparison.ci_high
    assert verdict.verdict == INCONCLUSIVE and verdict.failing == ["trecdl"]
    assert probe.n_needed == queries_needed(0.08, 0.01, 0.025, 0.8) and "queries would decide it" in probe.reason


def test_four_improved_of_forty_is_not_promoted():
    """+1, +0.5, +0.5, +1 and 36 ties: exact sign-flip p = 1/16; the percentile bootstrap would promote."""
    golden = with_deltas([1.0, 0.5, 0.5, 1.0] + [0.0] * 36)
    verdict = decide(*golden, SAFE_PROBE, cfg(min_queries=30))
    assert verdict.verdict == INCONCLUSIVE and verdict.golden.p == pytest.approx(1 / 16)
    assert decide(*golden, SAFE_PROBE, cfg(min_queries=30, test="t")).verdict == INCONCLUSIVE
    assert decide(*golden, SAFE_PROBE, cfg(min_queries=30, test="bootstrap")).verdict == PROMOTED  # liberal


def test_inconclusive_golden_says_how_many_queries_give_the_power_asked():
    verdict = decide(*vectors(50, 0.01, sd=0.1, seed=8), SAFE_PROBE, CFG)
    assert verdict.verdict == INCONCLUSIVE
    assert verdict.golden.n_needed == queries_needed(0.1, 0.01, 0.025, 0.8) == 785
    assert "~785 queries give 80% power for Δ = 0.01" in verdict.reasons[0]


def test_queries_needed_is_finite_when_delta_is_zero_and_uses_past_spread():
    zero = check_golden(*vectors(100, 0.0, sd=0.15, seed=2), cfg(equivalence=None))
    assert zero.outcome == "inconclusive" and zero.n_needed == queries_needed(0.15, 0.01, 0.025) == 1766
    pooled = check_golden(*vectors(100, 0.0, sd=0.15, seed=2), cfg(equivalence=None), past_sds=[0.05])
    assert pooled.n_needed == queries_needed(np.sqrt((0.15**2 + 0.05**2) / 2), 0.01, 0.025)


def test_a_spent_look_needs_a_smaller_p():
    golden = vectors(300, 0.012, sd=0.1, seed=11)
    first = decide(*golden, SAFE_PROBE, CFG)
    assert first.verdict == PROMOTED and 0.0015 < first.golden.p <= 0.025
    tenth = decide(*golden, SAFE_PROBE, CFG, alpha=0.025 * 6 / (np.pi**2 * 100))
    assert tenth.verdict == INCONCLUSIVE and tenth.golden.alpha == pytest.approx(0.000152, abs=1e-6)


def test_too_few_queries_cannot_decide():
    verdict = decide(*vectors(10, 0.3, seed=1), SAFE_PROBE, CFG)
    assert verdict.verdict == INCONCLUSIVE and "gate.min_queries" in verdict.reasons[0]


def test_forgetting_flags_are_holm_adjusted_across_probes():
    """Two probes, each with a loss whose raw p is below α but not below α/2: one survives Holm."""
    losing = {name: vectors(400, -0.0305, sd=0.1, seed=seed) for name, seed in (("a", 21), ("b", 22))}
    raw = [decide(*vectors(300, 0.05, seed=1), {n: v}, CFG).probes[0] for n, v in losing.items()]
    assert all(c.outcome == "forgetting" for c in raw) and all(0.0125 < c.p <= 0.025 for c in raw)
    both = decide(*vectors(300, 0.05, seed=1), losing, CFG)
    assert [c.outcome for c in both.probes] == ["inconclusive", "inconclusive"]
    assert both.verdict == INCONCLUSIVE


def test_cumulative_forgetting_against_the_base_blocks_whatever_the_last_step():
    """Each step loses 0.010 (ruled-out forgetting against the incumbent); against the base it is 0.04."""
    step = {"trecdl": vectors(97, -0.010, sd=0.035, seed=31)}
    base = {"trecdl": vectors(97, -0.040, sd=0.035, seed=32)}
    verdict = decide(*vectors(300, 0.05, seed=1), step, CFG, base=BaseVectors(base))
    assert [(c.against, c.outcome) for c in verdict.probes] == [("incumbent", "ok"), ("base", "forgetting")]
    assert verdict.verdict == FORGETTING_DETECTED and verdict.failing == ["trecdl vs base"]
    assert "vs base dropped by more than 0.02" in verdict.reasons[2]
    alone = decide(*vectors(300, 0.05, seed=1), step, cfg(against_base=False), base=BaseVectors(base))
    assert alone.verdict == PROMOTED  # what the gate said before it compared with the base


def test_every_check_carries_its_test_p_ci_dz_and_n():
    record = decide(*vectors(300, 0.05, seed=1), SAFE_PROBE, CFG).to_dict()
    for check in [record["golden"], *record["probes"]]:
        assert {"n", "delta", "ci_low", "ci_high", "effect_size", "p", "alpha", "test", "threshold"} <= set(check)
        assert check["test"] == "permutation"


def test_a_probe_can_be_judged_on_its_own_metric():
    """NevIR-style: the gate checks paired accuracy on one probe and nDCG on another."""
    probes = {"trecdl": SAFE_PROBE["trecdl"], "nevir": (*vectors(1383, -0.05, sd=0.2, seed=6), "paired_accuracy")}
    verdict = decide(*vectors(300, 0.05, seed=1), probes, cfg(probe_metric="ndcg@10"))
    assert verdict.verdict == FORGETTING_DETECTED
    assert [p.comparison.metric for p in verdict.probes] == ["ndcg@10", "paired_accuracy"]
    assert "paired_accuracy" in verdict.reasons[2]


def test_a_protected_slice_that_regresses_rejects_a_candidate_better_on_average():
    from recft.loop.gate.promotion import REJECTED

    rng = np.random.default_rng(3)
    ids = [f"q{i}" for i in range(200)]
    incumbent = {q: float(rng.uniform(0.2, 0.8)) for q in ids}
    candidate = {q: v + (-0.1 if i < 60 else 0.15) for i, (q, v) in enumerate(incumbent.items())}
    tail = set(ids[:60])
    cut = lambda vector: {q: v for q, v in vector.items() if q in tail}  # noqa: E731
    cfg = shipped_gate(probe_metric=None, n_resamples=2000, slices=("tail",))
    plain = decide(incumbent, candidate, {}, cfg=cfg)
    assert plain.verdict == "PROMOTED"
    guarded = decide(incumbent, candidate, {}, cfg=cfg, slices={"tail": (cut(incumbent), cut(candidate), "mrr@10")})
    assert guarded.verdict == REJECTED and guarded.failing == ["slice tail"]
    assert any(r.startswith("golden slice tail mrr@10 dropped by more than 0.02") for r in guarded.reasons)
    fine = {q: v + 0.15 for q, v in incumbent.items()}
    ok = decide(incumbent, fine, {}, cfg=cfg, slices={"tail": (cut(incumbent), cut(fine), "mrr@10")})
    assert ok.verdict == "PROMOTED" and ok.probes[0].against == "slice" and ok.probes[0].outcome == "ok"


def test_a_late_looks_small_level_stays_reachable_by_the_permutation_test():
    """At look 20 the pi2 level is 3.8e-5, below the 1/10,001 floor of a 10,000-resample p: the gate sizes
    the superiority test's resamples from the level, so a clear gain still promotes."""
    from recft.loop.gate.looks import alpha_for_look
    from recft.loop.gate.promotion import superiority_resamples

    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(300)]
    incumbent = {q: 0.5 for q in ids}
    candidate = {q: 0.5 + (0.1 + 0.05 * rng.standard_normal() if i < 80 else 0.0) for i, q in enumerate(ids)}
    level = alpha_for_look(20, 0.025, "pi2")
    cfg = shipped_gate(slices=(), probe_metric=None, metric="ndcg@10", n_resamples=10_000)
    assert superiority_resamples(level, cfg) >= 100 / level > 10_000
    check = check_golden(incumbent, candidate, cfg, alpha=level)
    assert check.outcome == "better" and check.p <= level < 1 / 10_001


def test_a_protected_slice_is_held_against_the_base_so_promotions_cannot_slide_it():
    """Three promotions, each giving up 0.015 of the slice (inside the 0.02 tolerance against the incumbent):
    against the base the slice has lost 0.045 by the third, and the gate rejects it. Held only against the
    incumbent (``slices_against=[incumbent]``), the third passes like the first two."""
    from recft.loop.gate.promotion import REJECTED, SLICE_VS_BASE

    rng = np.random.default_rng(5)
    ids = [f"q{i}" for i in range(400)]
    tail = set(ids[:200])
    base = {q: float(rng.uniform(0.3, 0.7)) for q in ids}
    step = lambda v: {q: x + (-0.015 if q in tail else 0.05) for q, x in v.items()}  # noqa: E731
    cut = lambda vector: {q: v for q, v in vector.items() if q in tail}  # noqa: E731
    incumbent = step(step(base))  # two promotions already made
    candidate = step(incumbent)
    kept = {"tail": (cut(incumbent), cut(candidate), "mrr@10")}
    against_base = BaseVectors(slices={"tail": (cut(base), cut(candidate), "mrr@10")})
    only_incumbent = shipped_gate(
        probe_metric=None, n_resamples=2000, slices=("tail",), slices_against=("incumbent",), against_base=True
    )
    assert decide(incumbent, candidate, {}, cfg=only_incumbent, slices=kept, base=against_base).verdict == PROMOTED
    both = shipped_gate(probe_metric=None, n_resamples=2000, slices=("tail",))
    assert tuple(both.slices_against) == ("incumbent", "base")
    verdict = decide(incumbent, candidate, {}, cfg=both, slices=kept, base=against_base)
    assert verdict.verdict == REJECTED and verdict.failing == ["slice tail vs base"]
    [held] = [c for c in verdict.probes if c.against == SLICE_VS_BASE]
    assert held.comparison.delta == pytest.approx(-0.045) and held.outcome == "forgetting"
    assert any(r.startswith("golden slice tail mrr@10 vs base dropped by more than 0.02") for r in verdict.reasons)
    with pytest.raises(GateError, match="gate.slices_against must name incumbent and/or base"):
        shipped_gate(slices_against=("golden",))
