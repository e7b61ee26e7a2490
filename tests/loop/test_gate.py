"""Each verdict from synthetic per-query vectors (deterministic: seeded draws)."""

import numpy as np
import pytest

from recft.loop.gate import (
    FORGETTING_DETECTED,
    INCONCLUSIVE,
    PENDING_APPROVAL,
    PROMOTED,
    REJECTED,
    ROLLBACK,
    GateConfig,
    decide,
    queries_needed,
)


def vectors(n, mean_delta, sd=0.1, seed=0, base=0.5):
    """Incumbent and candidate per-query vectors whose deltas have exactly this mean and sd."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n)
    noise = (noise - noise.mean()) / noise.std(ddof=1)
    incumbent = {f"q{i}": base for i in range(n)}
    candidate = {f"q{i}": base + mean_delta + sd * noise[i] for i in range(n)}
    return incumbent, candidate


CFG = GateConfig(metric="mrr@10", margin=0.0, forgetting_tolerance=0.02, min_queries=20)
SAFE_PROBE = {"trecdl": vectors(200, 0.0, sd=0.02, seed=9)}


def test_promoted_and_pending_approval():
    golden = vectors(300, 0.05, seed=1)
    assert decide(*golden, SAFE_PROBE, CFG).verdict == PROMOTED
    verdict = decide(*golden, SAFE_PROBE, GateConfig(**{**CFG.__dict__, "require_approval": True}))
    assert verdict.verdict == PENDING_APPROVAL and verdict.passed


def test_rejected_when_not_better_by_the_margin():
    golden = vectors(300, 0.0, sd=0.0)  # an identical model
    verdict = decide(*golden, SAFE_PROBE, CFG)
    assert verdict.verdict == REJECTED and "not better" in verdict.reasons[0]
    strict = GateConfig(**{**CFG.__dict__, "margin": 0.1})
    assert decide(*vectors(300, 0.05, sd=0.05, seed=2), SAFE_PROBE, strict).verdict == REJECTED


def test_rollback_when_worse():
    verdict = decide(*vectors(300, -0.05, seed=3), SAFE_PROBE, CFG)
    assert verdict.verdict == ROLLBACK
    assert verdict.golden.comparison.ci_high < 0 and verdict.golden.comparison.n == 300


def test_forgetting_detected_when_the_whole_ci_is_below_the_tolerance():
    probes = {"trecdl": vectors(400, -0.06, sd=0.1, seed=4)}
    verdict = decide(*vectors(300, 0.05, seed=5), probes, CFG)
    assert verdict.verdict == FORGETTING_DETECTED
    assert verdict.probes[0].comparison.ci_high < -0.02


def test_published_alarm_at_n40_is_inconclusive_not_forgetting():
    """Δ −0.027 at n=40: the CI straddles −0.02, so the gate must not call it forgetting."""
    probes = {"trecdl": vectors(40, -0.027, sd=0.08, seed=6)}
    verdict = decide(*vectors(300, 0.05, seed=7), probes, CFG)
    probe = verdict.probes[0]
    assert probe.comparison.delta == pytest.approx(-0.027)
    assert probe.comparison.ci_low < -0.02 < probe.comparison.ci_high
    assert verdict.verdict == INCONCLUSIVE
    assert probe.n_needed > 40 and "queries would decide it" in probe.reason
    assert probe.comparison.n == 40 and probe.comparison.effect_size < 0


def test_golden_ci_straddling_the_margin_is_inconclusive_with_n_needed():
    verdict = decide(*vectors(50, 0.01, sd=0.1, seed=8), SAFE_PROBE, CFG)
    assert verdict.verdict == INCONCLUSIVE and verdict.golden.n_needed > 50


def test_too_few_queries_cannot_decide():
    verdict = decide(*vectors(10, 0.3, seed=1), SAFE_PROBE, CFG)
    assert verdict.verdict == INCONCLUSIVE and "gate.min_queries" in verdict.reasons[0]


def test_every_verdict_carries_n_deltas_cis_and_effect_sizes():
    record = decide(*vectors(300, 0.05, seed=1), SAFE_PROBE, CFG).to_dict()
    for check in [record["golden"], *record["probes"]]:
        assert {"n", "delta", "ci_low", "ci_high", "effect_size", "threshold", "outcome"} <= set(check)


def test_queries_needed():
    assert queries_needed(0.08, -0.027, -0.02) == int(np.ceil((1.96 * 0.08 / 0.007) ** 2))
    assert queries_needed(0.08, -0.02, -0.02) is None


def test_a_probe_can_be_judged_on_its_own_metric():
    """NevIR-style: the gate checks paired accuracy on one probe and nDCG on another."""
    probes = {"trecdl": SAFE_PROBE["trecdl"], "nevir": (*vectors(1383, -0.05, sd=0.2, seed=6), "paired_accuracy")}
    verdict = decide(*vectors(300, 0.05, seed=1), probes, GateConfig(**{**CFG.__dict__, "probe_metric": "ndcg@10"}))
    assert verdict.verdict == FORGETTING_DETECTED
    assert [p.comparison.metric for p in verdict.probes] == ["ndcg@10", "paired_accuracy"]
    assert "paired_accuracy" in verdict.reasons[2]
