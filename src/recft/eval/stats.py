"""Paired statistics for comparing two systems on the same queries.

Why paired: per-query difficulty varies far more than the difference between two checkpoints, so
differencing per query removes most of the noise. Every comparison reports n, the mean delta, a
seeded 95 % CI (paired bootstrap by default, or the interval of the gate's test; see
``recft.eval.paired_tests``) and an effect size (Cohen's d_z = mean delta / sd of deltas), because a
verdict from 40 queries can flip at 80.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from recft.eval.paired_tests import confidence_interval, two_sided_p


@dataclass(frozen=True)
class PairedComparison:
    metric: str
    n: int
    mean_a: float
    mean_b: float
    delta: float  # mean of (b - a): positive means b is better
    ci_low: float
    ci_high: float
    effect_size: float  # Cohen's d_z
    confidence: float = 0.95
    test: str = "bootstrap"  # the test whose interval ci_low/ci_high is
    p: float | None = None  # two-sided, of H0 "Δ = 0", by the same test (twice the smaller one-sided p)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return (
            f"{self.metric}: {self.mean_a:.4f} → {self.mean_b:.4f}  Δ {self.delta:+.4f} "
            f"[{self.ci_low:+.4f}, {self.ci_high:+.4f}] d_z {self.effect_size:+.2f}  n={self.n}"
            + ("" if self.p is None else f"  p={self.p:.3g} ({self.test})")
        )


def cohens_dz(deltas: np.ndarray) -> float:
    deltas = np.asarray(deltas, dtype=np.float64)
    if deltas.size < 2:
        return float("nan")
    sd = deltas.std(ddof=1)
    if sd == 0:
        return 0.0 if deltas.mean() == 0 else float(np.sign(deltas.mean()) * np.inf)
    return float(deltas.mean() / sd)


def paired_arrays(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Align two per-query vectors; they must cover the same queries (else it is not a paired test)."""
    if set(a) != set(b):
        only_a, only_b = len(set(a) - set(b)), len(set(b) - set(a))
        raise ValueError(f"paired comparison needs the same queries: {only_a} only in A, {only_b} only in B")
    qids = sorted(a)
    return qids, np.array([a[q] for q in qids], dtype=np.float64), np.array([b[q] for q in qids], dtype=np.float64)


def compare(
    a: Mapping[str, float],
    b: Mapping[str, float],
    metric: str = "metric",
    confidence: float = 0.95,
    n_resamples: int = 10_000,
    seed: int = 42,
    test: str = "bootstrap",
) -> PairedComparison:
    """Compare per-query scores of system A (baseline) and B (candidate); delta = B − A; the CI is ``test``'s."""
    _, va, vb = paired_arrays(a, b)
    deltas = vb - va
    low, high = confidence_interval(deltas, test, confidence, n_resamples, seed)
    p = two_sided_p(deltas, test, n_resamples, seed) if deltas.size else None
    return PairedComparison(
        metric=metric,
        n=int(deltas.size),
        mean_a=float(va.mean()),
        mean_b=float(vb.mean()),
        delta=float(deltas.mean()),
        ci_low=low,
        ci_high=high,
        effect_size=cohens_dz(deltas),
        confidence=confidence,
        test=test,
        p=p,
    )
