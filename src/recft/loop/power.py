"""How many queries the golden set and each probe need, against how many they have.

σ is the sd of per-query deltas, pooled over every cycle in ``history.jsonl``; the golden set is
sized for its *next* look (a smaller α than the last: see ``recft.loop.looks``), a probe for the
plain α. ``recft manage power --mde 0.01`` prints it.
"""

from __future__ import annotations

import numpy as np
from rich.table import Table

from recft.eval.paired_tests import queries_needed
from recft.loop.looks import alpha_for_look


def _sd(row: dict) -> float | None:
    """A check's per-query sd; older history lines have only Δ and d_z (= Δ / sd)."""
    if row.get("sd") is not None:
        return row["sd"]
    dz = row.get("effect_size")
    return abs(row["delta"] / dz) if dz not in (None, 0) and np.isfinite(dz) else None


def _pooled(sds: list[float]) -> float:
    sds = [s for s in sds if s is not None and np.isfinite(s)]
    return float(np.sqrt(np.mean(np.square(sds)))) if sds else float("nan")


def power_rows(lines: list[dict], mde: float, power: float, alpha: float = 0.025, rule: str = "pi2") -> list[dict]:
    """One row for the golden metric and one per probe check (against the incumbent, and the base)."""
    decided = [ln for ln in lines if ln.get("golden")]
    if not decided:
        return []
    last = decided[-1]
    looks = (last.get("looks") or {}).get("look", len(decided))
    next_alpha = alpha_for_look(looks + 1, alpha, rule)
    golden_sds = [_sd(ln["golden"]) for ln in decided]
    rows = [_row(f"golden {last['metric']}", golden_sds, last["golden"]["n"], mde, power, next_alpha)]
    checks: dict[tuple[str, str, str], list[dict]] = {}
    for ln in decided:
        for probe in ln.get("probes", []):
            checks.setdefault((probe["name"], probe["metric"], probe.get("against", "incumbent")), []).append(probe)
    for (name, metric, against), seen in checks.items():
        label = f"probe {name} {metric}" + ("" if against == "incumbent" else f" vs {against}")
        rows.append(_row(label, [_sd(p) for p in seen], seen[-1]["n"], mde, power, alpha))
    return rows


def _row(label: str, sds: list, n: int, mde: float, power: float, alpha: float) -> dict:
    sd = _pooled(sds)
    return {
        "set": label,
        "sd": sd,
        "cycles": len(sds),
        "alpha": alpha,
        "n": n,
        "needed": queries_needed(sd, mde, alpha, power),
    }


def power_table(rows: list[dict], mde: float, power: float) -> Table:
    table = Table(title=f"queries needed for {power:.0%} power at Δ = {mde}")
    for column in ("set", "σ (pooled)", "cycles", "α", "n available", "n needed", "enough?"):
        table.add_column(column)
    for row in rows:
        needed = row["needed"]
        enough = "–" if needed is None else ("yes" if row["n"] >= needed else "no")
        cells = (f"{row['sd']:.4f}", str(row["cycles"]), f"{row['alpha']:.4f}", str(row["n"]), str(needed or "–"))
        table.add_row(row["set"], *cells, enough)
    return table
