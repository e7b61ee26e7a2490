"""The simulation mode of arrivals: a BEIR training split cut into per-cycle shares.

Lets a loop be studied on public data — how verdicts, forgetting and the registry evolve as pairs
arrive — with a seeded order, so a re-run sees the same batches.
"""

from __future__ import annotations

import numpy as np

from recft.common.errors import RecftError
from recft.data.pairs import Pair


class LoopConfigError(RecftError, ValueError):
    """An arrival schedule or loop setting that cannot run."""


def arrivals(pairs: list[Pair], schedule: list[float], seed: int) -> list[list[Pair]]:
    """Split the training pairs into per-cycle arrival batches (seeded order, shares of the total)."""
    shares = np.asarray(schedule, dtype=float)
    if (shares <= 0).any() or shares.sum() > 1 + 1e-9:
        raise LoopConfigError(f"loop.schedule must be positive shares summing to at most 1, got {list(schedule)}")
    order = np.random.default_rng(seed).permutation(len(pairs))
    bounds = np.round(np.cumsum(np.concatenate([[0.0], shares])) * len(pairs)).astype(int)
    return [[pairs[i] for i in order[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]
