"""The gate's questions as a cycle asks them (``recft.loop.orchestration.judging``): which vectors go to which check."""

from types import SimpleNamespace

import numpy as np

from recft.eval.report import Report
from recft.loop.gate.promotion import SLICE, SLICE_VS_BASE
from recft.loop.orchestration.judging import Sides, judge
from recft.loop.orchestration.loop_settings import shipped_gate


def _loop(**gate) -> SimpleNamespace:
    golden = SimpleNamespace(spec=SimpleNamespace(gate_metric=None))
    cfg = shipped_gate(
        probe_metric=None, metric="ndcg@10", n_resamples=2000, slices=("seen_in_training:unseen",), **gate
    )
    return SimpleNamespace(gate=cfg, sets={"golden": golden}, golden="golden")


def _reports(values: dict[str, float]) -> dict[str, Report]:
    return {"golden": Report("golden", "test", {"ndcg@10": dict(values)})}


def test_a_cycle_holds_the_unseen_slice_against_the_base_as_well_as_the_incumbent():
    """Two promotions each gave up 0.015 on the unseen queries; the third candidate gives up another 0.015:
    within tolerance of its incumbent, 0.045 below the base — REJECTED on the base check alone."""
    rng = np.random.default_rng(1)
    ids = [f"q{i}" for i in range(300)]
    unseen = set(ids[:200])
    base = {q: float(rng.uniform(0.3, 0.7)) for q in ids}
    moved = lambda v, k: {q: x + k * (-0.015 if q in unseen else 0.06) for q, x in v.items()}  # noqa: E731
    incumbent, candidate = moved(base, 2), moved(base, 3)
    slice_ids = {"seen_in_training:unseen": unseen, "seen_in_training:seen": set(ids) - unseen}
    reports = Sides(_reports(incumbent), _reports(candidate), _reports(base))
    verdict = judge(_loop(), reports, [], slice_ids=slice_ids)
    against = {c.against: c for c in verdict.probes}
    assert set(against) == {SLICE, SLICE_VS_BASE}
    assert against[SLICE].outcome != "forgetting" and against[SLICE_VS_BASE].outcome == "forgetting"
    assert verdict.verdict == "REJECTED" and verdict.failing == ["slice seen_in_training:unseen vs base"]
    kept = judge(_loop(slices_against=("incumbent",)), reports, [], slice_ids=slice_ids)
    assert [c.against for c in kept.probes] == [SLICE] and kept.verdict == "PROMOTED"
    first = judge(_loop(), Sides(_reports(base), _reports(moved(base, 1)), None), [], slice_ids=slice_ids)
    assert [c.against for c in first.probes] == [SLICE]  # the incumbent is the base: one check, not two
