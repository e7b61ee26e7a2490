"""Where a gain comes from: evaluation queries whose answer some training pair already pointed at, and the rest.

NUDGE can only move documents a training query answers, so its gain lands on those queries; the
paired Δ on each side shows that, and what it costs the others.
"""

from __future__ import annotations

from recft.eval.report import Report
from recft.eval.stats import compare


def touched_queries(qrels: dict[str, dict[str, int]], docs: set[str], min_relevance: int = 1) -> set[str]:
    """Evaluation queries with a relevant document in ``docs`` (e.g. the documents training touched)."""
    return {q for q, judged in qrels.items() if any(g >= min_relevance and d in docs for d, g in judged.items())}


def delta_by_touch(base: Report, new: Report, metric: str, touched: set[str], seed: int = 42) -> dict[str, dict]:
    """Paired Δ of ``metric`` on the touched and the untouched queries separately: where a gain comes from."""
    rows = {}
    for name, keep in (("touched", True), ("untouched", False)):
        ids = [q for q in base.per_query[metric] if (q in touched) == keep]
        if ids:
            a = {q: base.per_query[metric][q] for q in ids}
            b = {q: new.per_query[metric][q] for q in ids}
            rows[name] = compare(a, b, metric=metric, seed=seed).to_dict()
    return rows
