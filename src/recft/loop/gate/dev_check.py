"""Whether a cycle's dev split says a candidate beats the incumbent: a paired test, never a bare mean.

Dev mirrors the golden set's mix (``recft.loop.intake.sealing``): claims whose documents something in this
loop trained on (``seen``: what memorising and moved vectors gain) and claims whose documents nothing
did (``unseen``: what a new query on a new document sees). A candidate goes to the gate only when

- on the **whole** dev split, in the gate's metric, a one-sided paired test (the gate's own test:
  sign-flip by default) rejects "Δ ≤ 0" at ``dev.level``; and
- on the **unseen** stratum, the same test does not show a loss beyond the forgetting budget
  (H0 "Δ ≥ −budget" rejected at ``dev.level`` would show it).

A dev split of ~60 claims moves by ~0.006 nDCG@10 when one claim drops one place: a rule on the
mean (Δ > 0, loss ≤ 0.005) is decided by that one claim, and a week of cycles then differs between
CPUs by their rounding. A test at a level is not: one claim moving moves p a little. What it costs
is power, which ``recft manage power`` states for the dev split as it grows (the dev rows of the
history). The level is a screen, not the decision: the gate still decides on the golden set at its
own, spent level; a candidate dev sends in vain spends one look.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np

from recft.common.errors import ConfigError
from recft.eval.paired_tests import confidence_interval, one_sided_p
from recft.eval.report import Report

STRATA = ("seen", "unseen")


@dataclass(frozen=True)
class DevRule:
    """How dev screens a candidate: ``level`` for both one-sided tests, ``budget`` the unseen stratum's
    allowed loss (``train.forgetting_budget``; None: not held), the gate's ``test`` and resamples."""

    level: float
    budget: float | None
    test: str
    confidence: float
    n_resamples: int
    seed: int

    @classmethod
    def for_gate(cls, level: float, budget: float | None, gate) -> DevRule:
        """Dev's screen at ``level`` with the gate's own test, confidence, resamples and seed (``GateConfig``)."""
        return cls(level, budget, gate.test, gate.confidence, gate.n_resamples, gate.seed)

    def __post_init__(self):
        if not 0 < self.level < 0.5:
            raise ConfigError(f"dev.level must be in (0, 0.5), got {self.level}: a one-sided test's level")
        if self.budget is not None and not float(self.budget) >= 0:
            raise ConfigError(f"dev.unseen_budget must be >= 0 or null, got {self.budget}")


def dev_strata(entries: Iterable[dict], trained_docs: set[str]) -> dict[str, set[str]]:
    """Dev query ids by stratum: ``seen`` when a judged document is in ``trained_docs``, else ``unseen``."""
    strata: dict[str, set[str]] = {name: set() for name in STRATA}
    for entry in entries:
        seen = any(doc in trained_docs for doc in entry["qrels"])
        strata["seen" if seen else "unseen"].add(entry["query_id"])
    return strata


def _deltas(incumbent: Mapping[str, float], candidate: Mapping[str, float], ids: Iterable[str]) -> np.ndarray:
    ids = sorted(set(ids) & set(incumbent) & set(candidate))
    return np.array([candidate[q] - incumbent[q] for q in ids], dtype=np.float64)


def _row(deltas: np.ndarray, rule: DevRule) -> dict:
    if deltas.size == 0:
        return {"n": 0}
    low, high = confidence_interval(deltas, rule.test, rule.confidence, rule.n_resamples, rule.seed)
    sd = float(deltas.std(ddof=1)) if deltas.size > 1 else None  # what ``recft manage power`` sizes dev with
    return {"n": int(deltas.size), "delta": float(deltas.mean()), "sd": sd, "ci_low": low, "ci_high": high}


def dev_evidence(
    incumbent: Report, candidate: Report, strata: Mapping[str, set[str]], metric: str, rule: DevRule
) -> dict:
    """The screen's record: the whole split's Δ, CI and one-sided p (H0 Δ ≤ 0), each stratum's Δ and
    CI, the unseen stratum's p of a loss beyond the budget, and ``send``: both tests say go."""
    before, after = incumbent.per_query[metric], candidate.per_query[metric]
    whole = _deltas(before, after, before)
    p_better = one_sided_p(whole, 0.0, "greater", rule.test, rule.n_resamples, rule.seed) if whole.size else 1.0
    record = {
        "metric": metric,
        "test": rule.test,
        "level": rule.level,
        **_row(whole, rule),
        "p": p_better,
        "beats_incumbent": bool(whole.size) and p_better <= rule.level,
    }
    for name in STRATA:
        record[name] = _row(_deltas(before, after, strata.get(name, ())), rule)
    unseen = _deltas(before, after, strata.get("unseen", ()))
    within = True
    if rule.budget is not None and unseen.size:
        p_loss = one_sided_p(unseen, -rule.budget, "less", rule.test, rule.n_resamples, rule.seed)
        within = p_loss > rule.level
        record["unseen"].update({"budget": rule.budget, "p_beyond_budget": p_loss, "within_budget": within})
    record["send"] = bool(record["beats_incumbent"] and within)
    return record


def dev_reason(record: Mapping) -> str:
    """Why dev kept the incumbent, in one line with n, Δ, its CI, the test, p and the level."""
    line = (
        f"dev Δ {record['metric']} {record.get('delta', 0.0):+.4f} "
        f"[{record.get('ci_low', 0.0):+.4f}, {record.get('ci_high', 0.0):+.4f}], n={record.get('n', 0)}, "
        f"one-sided {record['test']} p {record['p']:.3g} at level {record['level']:g}"
    )
    unseen = record.get("unseen") or {}
    if not record["beats_incumbent"]:
        return f"dev does not show the candidate beats the incumbent ({line}): nothing to gate, no look spent"
    return (
        f"dev shows a loss beyond the forgetting budget {unseen['budget']:g} on its unseen stratum "
        f"(n={unseen['n']}, Δ {unseen['delta']:+.4f} [{unseen['ci_low']:+.4f}, {unseen['ci_high']:+.4f}], "
        f"p {unseen['p_beyond_budget']:.3g} at level {record['level']:g}; whole split {line}): nothing to gate, "
        "no look spent"
    )
