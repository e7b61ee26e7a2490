"""The dev objective: the gain on the tuning set less λ × what the probes lost.

One formula for both places that choose by it — the merge weight chosen inside a run
(``adapter=merge``, ``recft.training.merge_search``) and the number a sweeper maximises across runs
(``recft.sweeps.objective``) — so a run's own choice and the sweep's ranking never disagree on what
"better" means. A probe that gains costs nothing; only a drop is priced. No torch here: ``recft
summarize`` recomputes it from files.
"""

from __future__ import annotations

from typing import Iterable


def dev_objective(gain: float, probe_deltas: Iterable[float], penalty: float) -> float:
    """``gain`` − ``penalty`` × Σ max(0, −Δ) over the probes' deltas (λ = 0: the gain alone)."""
    return gain - penalty * sum(max(0.0, -delta) for delta in probe_deltas)
