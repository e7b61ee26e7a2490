"""The number a sweeper maximises, read from a run's summary: dev gain minus λ × probe losses.

Kept apart from training so that ``recft summarize`` can recompute it from files without loading
torch or Lightning; the formula itself is ``recft.training.objective`` (torch-free too), the one
``adapter=merge`` chooses its weight by.
"""

from __future__ import annotations

from recft.common.errors import RecftError
from recft.training.objective import dev_objective


class ObjectiveError(RecftError, ValueError):
    """A run whose objective would have to read the golden split without being told to."""


def tuning_set(summary: dict, cfg) -> str:
    """The set a sweep may optimise: ``dev``; the golden set only for a run made with ``tune_on=golden``
    (and runs from before the dev split, whose configs have no ``tune_on``: they were tuned on golden)."""
    tune_on = cfg.get("tune_on", "golden")
    if tune_on == "golden":
        return cfg.data.name
    if "dev" not in summary["deltas"]:
        raise ObjectiveError("tune_on=dev but the run has no dev set (dev.share=0, dev.split=null)")
    return "dev"


def objective(summary: dict, cfg) -> float:
    """Δ(``eval.primary``) on the tuning set − ``train.forgetting_penalty`` × the probes' losses (λ = 0: the gain)."""
    metric, tuned, golden = cfg.eval.primary, tuning_set(summary, cfg), cfg.data.name
    gain = next(r["delta"] for r in summary["deltas"][tuned] if r["metric"] == metric)
    probe_deltas = [
        r["delta"]
        for name, rows in summary["deltas"].items()
        if name not in (golden, "dev")
        for r in rows
        if r["metric"] == metric
    ]
    return dev_objective(gain, probe_deltas, float(cfg.train.forgetting_penalty))
