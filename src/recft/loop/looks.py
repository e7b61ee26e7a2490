"""Looks at a golden set, and the error rate each one may spend.

Every gate decision on a golden set is a look at it. A loop that tests each new candidate at the
full one-sided α on the same golden set will, over enough null cycles, promote noise: ten looks at
2.5 % give about a 22 % chance of at least one false promotion. The registry therefore counts the
looks at each golden set (by a fingerprint of its content) and look k gets

    α_k = α · 6 / (π² k²)        (``gate.alpha_spending: pi2``)

a series that sums to α, so the chance of *any* false promotion over all looks stays ≤ α (a union
bound: it holds whatever the cycles have in common). The first look gets 61 % of α, the second
15 %, the tenth 0.6 %: a long-lived golden set becomes hard to pass — the cue to refresh it.
``none`` spends the full α at every look (the behaviour of a one-off experiment).
"""

from __future__ import annotations

import math

import numpy as np

from recft.common.errors import RecftError
from recft.common.hashing import stable_hash
from recft.data.sources import Source

RULES = ("pi2", "none")


class SpendingError(RecftError, ValueError):
    """An α-spending rule that does not exist."""


def alpha_for_look(look: int, alpha: float, rule: str) -> float:
    """The one-sided level of the ``look``-th decision (1-based) on one golden set."""
    if rule not in RULES:
        raise SpendingError(f"gate.alpha_spending must be one of {', '.join(RULES)}, got {rule!r}")
    if look < 1:
        raise SpendingError(f"looks are counted from 1, got {look}")
    return alpha if rule == "none" else alpha * 6 / (math.pi**2 * look**2)


def alpha_spent(looks: int, alpha: float, rule: str) -> float:
    return sum(alpha_for_look(k, alpha, rule) for k in range(1, looks + 1))


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
