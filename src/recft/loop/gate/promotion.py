"""The promotion gate: may a candidate replace the incumbent?

A decision is made from paired per-query deltas (candidate − incumbent), never from two means, by
one-sided tests at α = (1 − confidence) / 2 (2.5 % by default) with the test named in
``gate.test`` (``recft.eval.paired_tests``: permutation, t or bootstrap; each check reports its p,
the interval that matches the test, d_z and n):

* **Golden set** (``gate.metric``: nDCG@10 unless the data source names another, fixed before the
  loop's first look). *Better* (→ PROMOTED) when H0 "Δ ≤ margin" is rejected at this look's level
  (``alpha`` — a loop spends α across the looks on its ledger, see ``recft.loop.gate.looks``); *worse*
  (→ ROLLBACK) when H0 "Δ ≥ 0" is rejected; *not better*
  (→ REJECTED) when the candidate is shown equivalent (``gate.equivalence``: both one-sided tests
  of |Δ| < e reject) or, with a margin, shown below it.
* **Each generalist probe**, against the incumbent and — so that small losses cannot ratchet over
  many promotions — against the original base model. *Forgetting ruled out* when H0 "Δ ≤ −tolerance"
  is rejected; *forgetting shown* (→ FORGETTING_DETECTED) when H0 "Δ ≥ −tolerance" is rejected
  after Holm's adjustment across every probe check.
* **Each protected golden slice** (``gate.slices``: names from ``eval.slices``, e.g. the tail or a
  confusion set; ``recft.eval.slices``): non-inferiority like a probe, within ``gate.slice_tolerance``
  on the slice's queries, Holm-adjusted with the probes, against what ``gate.slices_against`` names:
  the incumbent and — like the probes, so that each promotion cannot give up another tolerance's worth —
  the original base model. A slice shown worse → REJECTED: a better mean does not buy a regression on
  the queries someone said must not regress.
* Anything else is **INCONCLUSIVE**, with the number of queries that would give the test
  ``gate.power`` to detect ``gate.mde`` at the observed spread — a forgetting alarm at n=40 that
  vanishes at n=80 is exactly the case this protects against.

Precedence: ROLLBACK > FORGETTING_DETECTED > REJECTED > INCONCLUSIVE > PROMOTED; a passing candidate
becomes PENDING_APPROVAL when a human must sign off. Every failing check is listed, whatever wins.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Mapping, Sequence

import numpy as np

from recft.common.config_keys import at_least, convert
from recft.common.errors import RecftError
from recft.eval.paired_tests import TESTS, check_power, holm, one_sided_p, queries_needed
from recft.eval.stats import PairedComparison, compare, paired_arrays
from recft.loop.gate.looks import RULES
from recft.loop.gate.verdicts import FORGETTING_DETECTED, INCONCLUSIVE, PENDING_APPROVAL, PROMOTED, REJECTED, ROLLBACK


class GateError(RecftError, ValueError):
    """A gate setting that cannot give an honest decision."""


SLICE_REFERENCES = ("incumbent", "base")  # what a protected golden slice may be held against
SLICE, SLICE_VS_BASE = "slice", "slice vs base"  # a Check's ``against`` for a protected golden slice


def is_slice(against: str) -> bool:
    return against in (SLICE, SLICE_VS_BASE)


KINDS = {"str": str, "float": float, "int": int, "bool": bool}


def _typed(key: str, value, annotation: str):
    """``value`` as its field's annotation says (``float | None``: a number or null; ``Sequence[str]``: a
    list of names, kept as a tuple)."""
    if annotation.startswith("Sequence"):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise GateError(f"{key} must be a list, got {value!r}")
        return tuple(convert(key, item, str) for item in value)
    kind, _, rest = annotation.partition(" | ")
    return convert(key, value, KINDS[kind], nullable=rest == "None")


@dataclass(frozen=True)
class GateConfig:
    """The gate as configured (``gate.*``). No field has a default: the shipped gate is
    ``conf/gate/default.yaml``, read by ``from_values`` — so no Python default can drift from what runs."""

    metric: str
    margin: float  # golden Δ the candidate must exceed; ≥ 0 (a negative margin would promote worse models)
    forgetting_tolerance: float  # probe Δ allowed below zero
    probe_metric: str | None  # None: same as `metric`
    require_approval: bool
    min_queries: int  # fewer paired queries than this can never decide
    confidence: float  # two-sided interval; each one-sided test runs at (1 − confidence) / 2
    test: str  # permutation | t | bootstrap (bench/gate_calibration.py)
    equivalence: float | None  # |Δ| within this, shown by two one-sided tests → REJECTED; None = off
    against_base: bool  # also compare every probe with the original base version
    alpha_spending: str  # the level of each look on the loop's ledger (recft.loop.gate.looks.RULES)
    golden_refresh: int | None  # judge each cycle on a fresh sample of this many golden queries
    slices: Sequence[str]  # golden slices (eval.slices names) held to non-inferiority
    slice_tolerance: float  # a slice's Δ allowed below zero
    slices_against: Sequence[str]  # what each protected slice is compared with (SLICE_REFERENCES)
    mde: float  # the effect `queries needed` is sized for
    power: float
    n_resamples: int
    seed: int

    @classmethod
    def from_values(cls, values: Mapping) -> GateConfig:
        """The gate from ``gate.*`` as composed and resolved: every key required (``gate.<key> is not set``),
        none unknown, each of its field's kind — a refusal names the key."""
        names = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise GateError(f"gate: unknown setting(s) {', '.join(unknown)} (a gate has {', '.join(sorted(names))})")
        missing = [name for name in names if name not in values]
        if missing:
            raise GateError(f"gate.{missing[0]} is not set (its default belongs in conf/gate/default.yaml)")
        typed = {f.name: _typed(f"gate.{f.name}", values[f.name], str(f.type)) for f in fields(cls)}
        return cls(**typed)

    def __post_init__(self):
        if self.margin < 0:
            raise GateError(f"gate.margin must be >= 0, got {self.margin}: a negative margin promotes worse models")
        if self.forgetting_tolerance < 0:
            raise GateError(f"gate.forgetting_tolerance must be >= 0, got {self.forgetting_tolerance}")
        if self.slice_tolerance < 0:
            raise GateError(f"gate.slice_tolerance must be >= 0, got {self.slice_tolerance}")
        unknown = [name for name in self.slices_against if name not in SLICE_REFERENCES]
        if unknown:
            raise GateError(f"gate.slices_against must name {' and/or '.join(SLICE_REFERENCES)}, got {unknown}")
        if self.test not in TESTS:
            raise GateError(f"gate.test must be one of {', '.join(TESTS)}, got {self.test!r}")
        if self.equivalence is not None and self.equivalence <= 0:
            raise GateError(f"gate.equivalence must be > 0 or null, got {self.equivalence}")
        if self.alpha_spending not in RULES:
            raise GateError(f"gate.alpha_spending must be one of {', '.join(RULES)}, got {self.alpha_spending!r}")
        if not 0.5 < self.confidence < 1:
            raise GateError(f"gate.confidence must be in (0.5, 1), got {self.confidence}")
        for key in ("min_queries", "n_resamples", "golden_refresh"):
            at_least(f"gate.{key}", getattr(self, key), 1)
        check_power(self.mde, self.power, self.alpha)

    @property
    def alpha(self) -> float:
        """The one-sided level of every test (before any spending across looks)."""
        return (1 - self.confidence) / 2

    def probe_metric_for(self, own: str | None = None) -> str:
        """What a probe is judged on: its own ``gate_metric`` when it names one (NevIR's ``paired_accuracy``,
        a metric the other probes do not have), else ``gate.probe_metric``, else the golden ``gate.metric``."""
        return own or self.probe_metric or self.metric


def check_slice_names(names: Sequence[str], made: Sequence[str]) -> None:
    """``gate.slices`` must name slices that ``eval.slices`` makes (``made``, in the order the message lists them)."""
    missing = [name for name in names if name not in made]
    if missing:
        known = ", ".join(made) or "none: set eval.slices.rules or eval.slices.file"
        raise GateError(f"gate.slices names {', '.join(missing)}, not a slice of eval.slices (slices: {known})")


@dataclass
class Check:
    """One paired comparison, the test behind it, and what it says against its threshold."""

    name: str
    comparison: PairedComparison
    threshold: float
    outcome: str  # better / worse / not_better (golden) · ok / forgetting (probe) · inconclusive
    p: float  # the one-sided p of the test that decided (or would have)
    alpha: float  # the level it was held to
    against: str = "incumbent"  # or "base": a probe vs the original model; SLICE / SLICE_VS_BASE: a golden slice
    n_needed: int | None = None
    reason: str = ""
    sd: float = float("nan")  # of the per-query deltas (sizes later golden sets)
    p_superiority: float = float("nan")  # golden: the p of H0 "Δ ≤ margin", whatever decided (the ledger's p)

    @property
    def passed(self) -> bool:
        return self.outcome in ("better", "ok")

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "against": self.against,
            **self.comparison.to_dict(),
            "threshold": self.threshold,
            "outcome": self.outcome,
            "p": self.p,
            "alpha": self.alpha,
            "n_needed": self.n_needed,
            "sd": self.sd,
            "p_superiority": self.p_superiority,
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

    @property
    def failing(self) -> list[str]:
        """Every check that did not pass, e.g. ``golden``, ``trecdl vs base``."""
        checks = [self.golden, *self.probes]
        return [_check_name(c) for c in checks if not c.passed]

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "reasons": self.reasons,
            "failing": self.failing,
            "golden": self.golden.to_dict(),
            "probes": [p.to_dict() for p in self.probes],
            "config": self.config,
        }


def check_label(name: str, metric: str, against: str) -> str:
    """How a probe or protected-slice check is named in reasons, reports and ``recft manage power``."""
    if is_slice(against):
        return f"golden slice {name} {metric}" + (" vs base" if against == SLICE_VS_BASE else "")
    return f"probe {name} {metric}" + ("" if against == "incumbent" else f" vs {against}")


def _check_name(check: Check) -> str:
    if is_slice(check.against):
        return f"slice {check.name}" + (" vs base" if check.against == SLICE_VS_BASE else "")
    return check.name if check.against == "incumbent" else f"{check.name} vs {check.against}"


def _deltas(incumbent: Mapping[str, float], candidate: Mapping[str, float]) -> np.ndarray:
    _, a, b = paired_arrays(incumbent, candidate)
    return b - a


RESAMPLES_PER_LEVEL = 100  # a resampled p can resolve a level only with ≫ 1/level resamples (floor 1/(B+1))


def superiority_resamples(level: float, cfg: GateConfig) -> int:
    """Resamples for the golden superiority test at ``level``: at least ``gate.n_resamples`` and 100/level,
    so that a late look's small level (α·6/(π²t²) is below 1e-4 from look 13 on) stays reachable by a
    permutation or bootstrap p, whose floor is 1/(resamples + 1)."""
    return max(cfg.n_resamples, math.ceil(RESAMPLES_PER_LEVEL / level)) if level > 0 else cfg.n_resamples


def _superiority_p(deltas, level: float, cfg: GateConfig) -> float:
    return one_sided_p(deltas, cfg.margin, "greater", cfg.test, superiority_resamples(level, cfg), cfg.seed)


def _p(deltas, theta: float, alternative: str, cfg: GateConfig) -> float:
    return one_sided_p(deltas, theta, alternative, cfg.test, cfg.n_resamples, cfg.seed)


def pooled_sd(deltas: np.ndarray, past_sds: Sequence[float] = ()) -> float:
    """The deltas' sd, pooled with the sds seen in earlier cycles (σ for sizing the next golden set)."""
    sds = [float(np.std(deltas, ddof=1))] if deltas.size > 1 else []
    sds += [s for s in past_sds if s is not None and np.isfinite(s)]
    return float(np.sqrt(np.mean(np.square(sds)))) if sds else float("nan")


def _summary(cmp: PairedComparison, p: float, test: str) -> str:
    return f"Δ {cmp.delta:+.4f} [{cmp.ci_low:+.4f}, {cmp.ci_high:+.4f}], n={cmp.n}, p={p:.4f} ({test})"


def check_golden(
    incumbent: Mapping[str, float],
    candidate: Mapping[str, float],
    cfg: GateConfig,
    alpha: float | None = None,
    past_sds: Sequence[float] = (),
) -> Check:
    """Superiority on the golden set at ``alpha`` (this look's share; default ``cfg.alpha``)."""
    check = _golden_outcome(incumbent, candidate, cfg, cfg.alpha if alpha is None else alpha, past_sds)
    deltas = _deltas(incumbent, candidate)
    level = cfg.alpha if alpha is None else alpha
    return replace(check, sd=pooled_sd(deltas), p_superiority=_superiority_p(deltas, level, cfg))


def _golden_outcome(incumbent, candidate, cfg: GateConfig, alpha: float, past_sds: Sequence[float]) -> Check:
    cmp = compare(incumbent, candidate, cfg.metric, cfg.confidence, cfg.n_resamples, cfg.seed, cfg.test)
    d = _deltas(incumbent, candidate)
    label = f"golden {cfg.metric}"
    p_better = _superiority_p(d, alpha, cfg)
    text = _summary(cmp, p_better, cfg.test)
    if cmp.n < cfg.min_queries:
        reason = f"{label}: only {cmp.n} queries (< gate.min_queries={cfg.min_queries}); {text}"
        return Check(
            "golden", cmp, cfg.margin, "inconclusive", p_better, alpha, n_needed=cfg.min_queries, reason=reason
        )
    p_worse = _p(d, 0.0, "less", cfg)
    if p_worse <= cfg.alpha:
        reason = f"{label} worse than the incumbent: {_summary(cmp, p_worse, cfg.test)} ≤ α {cfg.alpha:.4f}"
        return Check("golden", cmp, 0.0, "worse", p_worse, cfg.alpha, reason=reason)
    if p_better <= alpha:
        reason = f"{label} better than the incumbent by more than {cfg.margin}: {text} ≤ α {alpha:.4f}"
        return Check("golden", cmp, cfg.margin, "better", p_better, alpha, reason=reason)
    if cfg.equivalence:
        e = cfg.equivalence
        p_equivalent = max(_p(d, -e, "greater", cfg), _p(d, e, "less", cfg))
        if p_equivalent <= cfg.alpha:
            reason = (
                f"{label} equivalent to the incumbent (|Δ| < {e}, two one-sided tests): "
                f"{_summary(cmp, p_equivalent, cfg.test)}"
            )
            return Check("golden", cmp, cfg.margin, "not_better", p_equivalent, cfg.alpha, reason=reason)
    if cfg.margin > 0:
        p_below = _p(d, cfg.margin, "less", cfg)
        if p_below <= cfg.alpha:
            reason = f"{label} not better than the incumbent by {cfg.margin}: {_summary(cmp, p_below, cfg.test)}"
            return Check("golden", cmp, cfg.margin, "not_better", p_below, cfg.alpha, reason=reason)
    needed = queries_needed(pooled_sd(d, past_sds), cfg.mde, alpha, cfg.power)
    decide_n = f"~{needed} queries give {cfg.power:.0%} power for Δ = {cfg.mde}" if needed else "no spread to size n"
    reason = f"{label}: not shown better than the margin {cfg.margin} at α {alpha:.4f}: {text}; {decide_n}"
    return Check("golden", cmp, cfg.margin, "inconclusive", p_better, alpha, n_needed=needed, reason=reason)


@dataclass
class _ProbeEvidence:
    check: Check
    p_ok: float
    p_forgetting: float
    too_few: bool


def _probe_evidence(name, incumbent, candidate, cfg: GateConfig, metric: str | None, against: str) -> _ProbeEvidence:
    metric = cfg.probe_metric_for(metric)
    threshold = -(cfg.slice_tolerance if is_slice(against) else cfg.forgetting_tolerance)
    cmp = compare(incumbent, candidate, metric, cfg.confidence, cfg.n_resamples, cfg.seed, cfg.test)
    d = _deltas(incumbent, candidate)
    check = Check(name, cmp, threshold, "inconclusive", float("nan"), cfg.alpha, against=against, sd=pooled_sd(d))
    too_few = cmp.n < cfg.min_queries
    return _ProbeEvidence(check, _p(d, threshold, "greater", cfg), _p(d, threshold, "less", cfg), too_few)


def _finish_probe(evidence: _ProbeEvidence, p_forgetting_adjusted: float, cfg: GateConfig) -> Check:
    check, cmp, tol = evidence.check, evidence.check.comparison, -evidence.check.threshold
    label = check_label(check.name, cmp.metric, check.against)
    if evidence.too_few:
        text = _summary(cmp, evidence.p_ok, cfg.test)
        reason = f"{label}: only {cmp.n} queries (< gate.min_queries={cfg.min_queries}); {text}"
        return replace(check, p=evidence.p_ok, n_needed=cfg.min_queries, reason=reason)
    if p_forgetting_adjusted <= cfg.alpha:
        text = _summary(cmp, p_forgetting_adjusted, cfg.test)
        return replace(
            check,
            outcome="forgetting",
            p=p_forgetting_adjusted,
            reason=f"{label} dropped by more than {tol}: {text} (Holm)",
        )
    if evidence.p_ok <= cfg.alpha:
        text = _summary(cmp, evidence.p_ok, cfg.test)
        return replace(
            check, outcome="ok", p=evidence.p_ok, reason=f"{label}: forgetting beyond {tol} ruled out: {text}"
        )
    needed = queries_needed(check.sd, cfg.mde, cfg.alpha, cfg.power)
    text = _summary(cmp, evidence.p_ok, cfg.test)
    hint = f"~{needed} queries would decide it" if needed else "no spread to size n"
    return replace(
        check,
        p=evidence.p_ok,
        n_needed=needed,
        reason=f"{label}: neither ruled out nor shown beyond −{tol}: {text}; {hint}",
    )


def check_probes(evidence: list[_ProbeEvidence], cfg: GateConfig) -> list[Check]:
    """Finish every probe check, Holm-adjusting the forgetting p-values across all of them."""
    adjusted = holm([e.p_forgetting for e in evidence]) if evidence else []
    return [_finish_probe(e, p, cfg) for e, p in zip(evidence, adjusted)]


def check_probe(
    name: str,
    incumbent: Mapping[str, float],
    candidate: Mapping[str, float],
    cfg: GateConfig,
    metric: str | None = None,
    against: str = "incumbent",
) -> Check:
    """Non-inferiority on one probe; ``metric`` names what the vectors hold (a probe may set its own,
    e.g. NevIR's ``paired_accuracy``), else ``cfg.probe_metric`` / ``cfg.metric``."""
    return check_probes([_probe_evidence(name, incumbent, candidate, cfg, metric, against)], cfg)[0]


@dataclass(frozen=True)
class BaseVectors:
    """The original base model's side of the checks that keep losses from ratcheting over promotions:
    probe name → (base vector, candidate vector[, metric]), and the same per protected golden slice."""

    probes: Mapping[str, tuple] = field(default_factory=dict)
    slices: Mapping[str, tuple] = field(default_factory=dict)


def decide(
    golden_incumbent: Mapping[str, float],
    golden_candidate: Mapping[str, float],
    probes: Mapping[str, tuple] | None,
    cfg: GateConfig,
    *,
    base: BaseVectors | None = None,
    alpha: float | None = None,
    past_sds: Sequence[float] = (),
    slices: Mapping[str, tuple] | None = None,
) -> Verdict:
    """Decide from per-query vectors: ``probes`` map name → (incumbent vector, candidate vector[, metric]);
    so do ``slices`` (the golden vectors cut to each protected slice, checked when ``gate.slices_against``
    names the incumbent), and ``base`` holds the same against the original model (None: the incumbent is
    the base); ``alpha`` is this look's share of α."""
    golden = check_golden(golden_incumbent, golden_candidate, cfg, alpha, past_sds)
    base = base or BaseVectors()
    groups = (
        ("incumbent", probes),
        ("base", base.probes if cfg.against_base else None),
        (SLICE, slices if "incumbent" in cfg.slices_against else None),
        (SLICE_VS_BASE, base.slices if "base" in cfg.slices_against else None),
    )
    evidence = [
        _probe_evidence(name, ref, cand, cfg, rest[0] if rest else None, against)
        for against, group in groups
        for name, (ref, cand, *rest) in (group or {}).items()
    ]
    probe_checks = check_probes(evidence, cfg)
    reasons = [golden.reason] + [p.reason for p in probe_checks]
    worse = [p for p in probe_checks if p.outcome == "forgetting"]
    if golden.outcome == "worse":
        verdict = ROLLBACK
    elif any(not is_slice(p.against) for p in worse):
        verdict = FORGETTING_DETECTED
    elif worse or golden.outcome == "not_better":
        verdict = REJECTED
    elif golden.outcome == "inconclusive" or any(p.outcome == "inconclusive" for p in probe_checks):
        verdict = INCONCLUSIVE
    else:
        verdict = PENDING_APPROVAL if cfg.require_approval else PROMOTED
    config = {**asdict(cfg), "alpha": cfg.alpha, "alpha_this_look": cfg.alpha if alpha is None else alpha}
    return Verdict(verdict, reasons, golden, probe_checks, config)
