"""The number a sweeper maximises, read from a run's summary: golden gain minus λ × probe losses.

Kept apart from training so that ``recft summarize`` can recompute it from files without loading
torch or Lightning.
"""

from __future__ import annotations


def objective(summary: dict, cfg) -> float:
    """Golden Δ(``eval.primary``) − ``train.forgetting_penalty`` × the probes' losses; λ = 0 gives plain golden Δ."""
    metric = cfg.eval.primary
    gain = next(r["delta"] for r in summary["deltas"][cfg.data.name] if r["metric"] == metric)
    probe_losses = [
        max(0.0, -r["delta"])
        for name, rows in summary["deltas"].items()
        if name != cfg.data.name
        for r in rows
        if r["metric"] == metric
    ]
    return gain - float(cfg.train.forgetting_penalty) * sum(probe_losses)
