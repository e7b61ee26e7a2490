"""Looks on a loop's ledger, and the level each one is held to.

Every golden decision a loop makes is one look on its ledger (one ledger per registry: a domain's
registry has its own), whatever the golden set holds by then — a golden set that grows with sealed
arrivals is still the same loop asking the same kind of question again. A loop that tests each new
candidate at the full one-sided α will, over enough null cycles, promote noise: ten looks at 2.5 %
give about a 22 % chance of at least one false promotion. Look t therefore gets a level from the
rule in ``gate.alpha_spending``, with γ_t = 6 / (π² t²) (a series that sums to 1):

* ``fallback`` (default; Tian & Ramdas 2021, "Online control of the familywise error rate"):
  level_t = α·γ_t + (level_{t−1} if look t−1 promoted). A promotion hands its level on to the
  next look, so a loop that keeps finding real gains does not starve; the chance of *any* false
  promotion stays ≤ α under any dependence between looks (the same golden queries reused).
* ``pi2``: level_t = α·γ_t, a union bound (FWER ≤ α under any dependence); never recycles.
* ``lond`` (Javanmard & Montanari 2018): level_t = α·γ_t·(promotions so far + 1). A weaker
  promise: it controls the **false discovery rate** — the expected share of promotions that are
  noise — at α under independence (or positive dependence) of the looks, not the chance of any.
* ``none``: the full α at every look (a one-off experiment, not a loop).

A look "promoted" when its golden test rejected (p ≤ its level), whatever the probes said.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from recft.common.errors import RecftError
from recft.common.hashing import stable_hash
from recft.data.sources import Source

RULES = ("fallback", "pi2", "lond", "none")


class SpendingError(RecftError, ValueError):
    """An α-spending rule that does not exist."""


def gamma(look: int) -> float:
    """The share of α that look ``look`` (1-based) spends of its own: 6 / (π² t²), summing to 1."""
    if look < 1:
        raise SpendingError(f"looks are counted from 1, got {look}")
    return 6 / (math.pi**2 * look**2)


def _check_rule(rule: str) -> None:
    if rule not in RULES:
        raise SpendingError(f"gate.alpha_spending must be one of {', '.join(RULES)}, got {rule!r}")


def next_level(alpha: float, rule: str, earlier: Sequence[tuple[float, float]] = ()) -> float:
    """The level of the next look, given the (level, p) of every earlier look on the ledger, oldest first."""
    _check_rule(rule)
    look = len(earlier) + 1
    if rule == "none":
        return alpha
    own = alpha * gamma(look)
    if rule == "pi2":
        return own
    if rule == "lond":
        return own * (1 + sum(p <= level for level, p in earlier))
    last_level, last_p = earlier[-1] if earlier else (0.0, 1.0)
    return own + (last_level if last_p <= last_level else 0.0)  # fallback


def levels(alpha: float, rule: str, p_values: Sequence[float]) -> list[float]:
    """The level each of a sequence of looks was held to (for tests and the bench)."""
    earlier: list[tuple[float, float]] = []
    for p in p_values:
        earlier.append((next_level(alpha, rule, earlier), float(p)))
    return [level for level, _ in earlier]


def alpha_for_look(look: int, alpha: float, rule: str) -> float:
    """The level of look ``look`` when no earlier look promoted (every rule's floor)."""
    _check_rule(rule)
    return alpha if rule == "none" else alpha * gamma(look)


def alpha_spent(looks: int, alpha: float, rule: str) -> float:
    """α's own share spent by ``looks`` looks (levels handed on by promotions are not new spending)."""
    return sum(alpha_for_look(k, alpha, rule) for k in range(1, looks + 1))


def ledger_metric(looks: Sequence[dict], history: Sequence[dict]) -> str | None:
    """The metric a loop's ledger decides on: recorded with every look; for a look made before looks named
    their metric, its history line says it (else mrr@10, the gate's default then). None before any look."""
    if not looks:
        return None
    first = looks[0]
    if first.get("metric"):
        return first["metric"]
    line = next((ln for ln in history if ln.get("candidate") == first["version"]), {})
    return line.get("metric") or "mrr@10"


def check_ledger_metric(metric: str, looks: Sequence[dict], history: Sequence[dict]) -> None:
    """A lineage's gate metric is chosen once, before its first look: choosing it after seeing p-values
    would spend α on the metric that happened to win."""
    declared = ledger_metric(looks, history)
    if declared is not None and declared != metric:
        raise SpendingError(
            f"gate.metric={metric}, but this loop's ledger has decided on {declared} since its first look "
            f"({len(looks)} looks): keep gate.metric={declared}, or start a new ledger in another registry.root"
        )


TERMS = (
    "metric",
    "alpha",
    "alpha_spending",
    "test",
    "margin",
    "forgetting_tolerance",
    "slice_tolerance",
    "slices",
    "slices_against",
)


def ledger_terms(gate) -> dict:
    """What every look of one ledger is held to (``gate.*``): changing one between looks would choose the
    rule after seeing p-values. ``alpha`` is the one-sided level before spending ((1 − confidence)/2)."""
    as_stored = lambda value: list(value) if isinstance(value, (list, tuple)) else value  # noqa: E731 (JSON)
    return {term: as_stored(getattr(gate, term)) for term in TERMS}


def check_ledger_terms(gate, fixed: dict, looks: int) -> None:
    """Refuse, in one line, a gate whose terms differ from the ones this ledger was opened with."""
    for term, value in ledger_terms(gate).items():
        if term in fixed and fixed[term] != value:
            key = "gate.confidence" if term == "alpha" else f"gate.{term}"
            raise SpendingError(
                f"{key} gives {term}={value!r}, but this loop's ledger has held every look to {term}={fixed[term]!r} "
                f"since its first ({looks} looks): keep it, or start a new ledger in another registry.root"
            )


def golden_sample(query_ids: list[str], size: int, index: int, seed: int) -> list[str]:
    """The ``index``-th (0-based) of the disjoint seeded samples of ``size`` queries a pool can give:
    ``gate.golden_refresh`` judges each decision on queries no earlier decision has seen. Looks are
    still counted on the pool, so α keeps being spent — fresh queries remove the selection bias of
    reuse, not the multiplicity of many decisions."""
    chunks = len(query_ids) // size if size > 0 else 0
    if chunks == 0:
        raise SpendingError(f"gate.golden_refresh={size}: the golden pool has only {len(query_ids)} queries")
    if index >= chunks:
        raise SpendingError(
            f"gate.golden_refresh={size}: the pool of {len(query_ids)} golden queries gives {chunks} fresh "
            f"samples, all used; decision {index + 1} needs a larger pool (or a smaller sample)"
        )
    order = np.random.default_rng(seed).permutation(len(query_ids))
    return sorted(query_ids[i] for i in order[index * size : (index + 1) * size])


def golden_fingerprint(source: Source) -> str:
    """A hash of what the golden set *is* — its queries and judgements — not of where it lives. The
    corpus is left out on purpose: a corpus that grows (or is sampled) does not make the same queries
    fresh, so looks keep being counted across it."""
    dataset = source.dataset
    parts = [f"q\t{q}\t{dataset.queries[q]}" for q in sorted(dataset.queries)]
    parts += [f"r\t{q}\t{d}\t{g}" for q in sorted(dataset.qrels) for d, g in sorted(dataset.qrels[q].items())]
    parts.append(f"min_relevance\t{source.min_relevance}")
    return stable_hash("\n".join(parts))
