"""Where a gain comes from: evaluation queries whose answer some training pair already pointed at, and the rest.

NUDGE can only move documents a training query answers, so its gain lands on those queries; the
paired Δ on each side shows that, and what it costs the others.
"""

from __future__ import annotations

from recft.eval.report import Report
from recft.eval.slices import slice_deltas, touched_queries

__all__ = ["delta_by_touch", "touched_queries"]


def delta_by_touch(base: Report, new: Report, metric: str, touched: set[str], seed: int = 42) -> dict[str, dict]:
    """Paired Δ of ``metric`` on the touched and the untouched queries separately: where a gain comes from."""
    everyone = set(base.per_query[metric])
    slices = {"touched": everyone & touched, "untouched": everyone - touched}
    rows = slice_deltas(base, new, slices, [metric], seed)
    return {name: {k: v for k, v in r[0].items() if k != "slice"} for name, r in rows.items() if r}
