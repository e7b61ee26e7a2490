"""The promotion gate: may a candidate replace the incumbent?

A decision is made from paired per-query comparisons (candidate − incumbent), never from two means:

* **Golden set** (default MRR@10). Superiority with a margin: the candidate is *better* only if the
  whole 95 % CI of Δ lies above ``margin``; *worse* (→ ROLLBACK) if the whole CI lies below 0;
  *not better* (→ REJECTED) if even the CI's upper end does not exceed ``margin``.
* **Each generalist probe**. Non-inferiority: forgetting is *shown* (→ FORGETTING_DETECTED) only when
  the whole CI lies below ``-forgetting_tolerance``; it is *ruled out* only when the whole CI lies
  above it.
* A CI that straddles a threshold gives **INCONCLUSIVE**, with the number of queries that would
  decide it at the observed spread — a forgetting alarm at n=40 (Δ −0.027) that vanishes at n=80
  is exactly the case this protects against.

Order of precedence: ROLLBACK > FORGETTING_DETECTED > REJECTED > INCONCLUSIVE > PROMOTED, and a
passing candidate becomes PENDING_APPROVAL instead of PROMOTED when a human must sign off.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Mapping

import numpy as np

from recft.eval.stats import PairedComparison, compare

PROMOTED = "PROMOTED"
PENDING_APPROVAL = "PENDING_APPROVAL"
REJECTED = "REJECTED"
ROLLBACK = "ROLLBACK"
FORGETTING_DETECTED = "FORGETTING_DETECTED"
INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class GateConfig:
    metric: str = "mrr@10"
    margin: float = 0.0  # golden Δ the candidate must exceed (whole CI above it)
    forgetting_tolerance: float = 0.02  # probe Δ allowed below zero
    probe_metric: str | None = None  # default: same as `metric`
    require_approval: bool = False
    min_queries: int = 30  # fewer paired queries than this can never decide
    confidence: float = 0.95
    n_resamples: int = 10_000
    seed: int = 42


@dataclass
class Check:
    """One paired comparison and what it says against its threshold."""

    name: str
    comparison: PairedComparison
    threshold: float
    outcome: str  # better / worse / not_better (golden) · ok / forgetting (probe) · inconclusive
    n_needed: int | None = None
    reason: str = ""

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            **self.comparison.to_dict(),
            "threshold": self.threshold,
            "outcome": self.outcome,
            "n_needed": self.n_needed,
            "reason": self.reason,
        }


@dataclass
class Verdict:
    verdict: str
    reasons: list[str]
    golden: Check
    probes: list[Check] = field(default_factory=list)
    config: dict = field(default_factory=dict)

    @property
    def golden_threshold(self) -> float:
        """The golden metric a candidate had to beat: the incumbent's mean plus the margin."""
        return self.golden.comparison.mean_a + self.config["margin"]

    @property
    def passed(self) -> bool:
        return self.verdict in (PROMOTED, PENDING_APPROVAL)

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "golden": self.golden.to_dict(),
            "probes": [p.to_dict() for p in self.probes],
            "config": self.config,
        }


def queries_needed(deltas_sd: float, delta: float, threshold: float, confidence: float = 0.95) -> int | None:
    """n at which a normal-approximation CI of the mean Δ would exclude ``threshold`` (same Δ and sd)."""
    gap = abs(delta - threshold)
    if gap == 0 or not np.isfinite(deltas_sd):
        return None
    z = {0.9: 1.645, 0.95: 1.96, 0.99: 2.576}.get(round(confidence, 2), 1.96)
    return int(math.ceil((z * deltas_sd / gap) ** 2))


def _sd(comparison: PairedComparison) -> float:
    """Recover the sd of the per-query deltas from d_z = mean / sd."""
    if comparison.effect_size in (0, float("inf"), float("-inf")) or not np.isfinite(comparison.effect_size):
        return float("nan")
    return abs(comparison.delta / comparison.effect_size)


def check_golden(incumbent: Mapping[str, float], candidate: Mapping[str, float], cfg: GateConfig) -> Check:
    cmp = compare(incumbent, candidate, cfg.metric, cfg.confidence, cfg.n_resamples, cfg.seed)
    ci = f"Δ {cmp.delta:+.4f} [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}], n={cmp.n}"
    if cmp.n < cfg.min_queries:
        return Check(
            "golden",
            cmp,
            cfg.margin,
            "inconclusive",
            cfg.min_queries,
            f"golden {cfg.metric}: only {cmp.n} queries (< gate.min_queries={cfg.min_queries}); {ci}",
        )
    if cmp.ci_high < 0:
        return Check("golden", cmp, 0.0, "worse", None, f"golden {cfg.metric} worse than the incumbent: {ci}")
    if cmp.ci_low > cfg.margin:
        return Check(
            "golden",
            cmp,
            cfg.margin,
            "better",
            None,
            f"golden {cfg.metric} better than the incumbent by more than {cfg.margin}: {ci}",
        )
    if cmp.ci_high <= cfg.margin:
        return Check(
            "golden",
            cmp,
            cfg.margin,
            "not_better",
            None,
            f"golden {cfg.metric} not better than the incumbent by more than {cfg.margin}: {ci}",
        )
    needed = queries_needed(_sd(cmp), cmp.delta, cfg.margin, cfg.confidence)
    return Check(
        "golden",
        cmp,
        cfg.margin,
        "inconclusive",
        needed,
        f"golden {cfg.metric}: CI straddles the margin {cfg.margin}: {ci}; "
        f"~{needed if needed else '∞'} queries would decide it",
    )


def check_probe(
    name: str,
    incumbent: Mapping[str, float],
    candidate: Mapping[str, float],
    cfg: GateConfig,
    metric: str | None = None,
) -> Check:
    """Non-inferiority on one probe; ``metric`` names what the vectors hold (a probe may set its own,
    e.g. NevIR's ``paired_accuracy``), else ``cfg.probe_metric`` / ``cfg.metric``."""
    metric = metric or cfg.probe_metric or cfg.metric
    threshold = -cfg.forgetting_tolerance
    cmp = compare(incumbent, candidate, metric, cfg.confidence, cfg.n_resamples, cfg.seed)
    ci = f"Δ {cmp.delta:+.4f} [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}], n={cmp.n}"
    if cmp.n < cfg.min_queries:
        return Check(
            name,
            cmp,
            threshold,
            "inconclusive",
            cfg.min_queries,
            f"probe {name} {metric}: only {cmp.n} queries (< gate.min_queries={cfg.min_queries}); {ci}",
        )
    if cmp.ci_high < threshold:
        return Check(
            name,
            cmp,
            threshold,
            "forgetting",
            None,
            f"probe {name} {metric} dropped by more than {cfg.forgetting_tolerance}: {ci}",
        )
    if cmp.ci_low > threshold:
        return Check(
            name,
            cmp,
            threshold,
            "ok",
            None,
            f"probe {name} {metric}: forgetting beyond {cfg.forgetting_tolerance} ruled out: {ci}",
        )
    needed = queries_needed(_sd(cmp), cmp.delta, threshold, cfg.confidence)
    return Check(
        name,
        cmp,
        threshold,
        "inconclusive",
        needed,
        f"probe {name} {metric}: CI straddles −{cfg.forgetting_tolerance}: {ci}; "
        f"~{needed if needed else '∞'} queries would decide it",
    )


def decide(
    golden_incumbent: Mapping[str, float],
    golden_candidate: Mapping[str, float],
    probes: Mapping[str, tuple] | None = None,
    cfg: GateConfig = GateConfig(),
) -> Verdict:
    """Decide from per-query vectors: ``probes`` maps name → (incumbent vector, candidate vector[, metric])."""
    golden = check_golden(golden_incumbent, golden_candidate, cfg)
    probe_checks = [check_probe(name, inc, cand, cfg, *rest) for name, (inc, cand, *rest) in (probes or {}).items()]
    reasons = [golden.reason] + [p.reason for p in probe_checks]
    if golden.outcome == "worse":
        verdict = ROLLBACK
    elif any(p.outcome == "forgetting" for p in probe_checks):
        verdict = FORGETTING_DETECTED
    elif golden.outcome == "not_better":
        verdict = REJECTED
    elif golden.outcome == "inconclusive" or any(p.outcome == "inconclusive" for p in probe_checks):
        verdict = INCONCLUSIVE
    else:
        verdict = PENDING_APPROVAL if cfg.require_approval else PROMOTED
    return Verdict(verdict, reasons, golden, probe_checks, asdict(cfg))
