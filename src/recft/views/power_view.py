"""``recft manage power``: queries needed against queries available per set, and the per-query signal of each
metric against the current one, read from a registry's reports and the evidence its cycles wrote."""

from __future__ import annotations

import json
from pathlib import Path

from rich.table import Table


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


def registry_report_pairs(root, lines: list[dict]) -> list[tuple]:
    """(incumbent, candidate) golden reports of every decided cycle, from ``root/reports``."""
    from recft.eval.report import Report  # scipy: loaded only when reports are read

    pairs = []
    for line in lines:
        if not line.get("golden") or not line.get("candidate"):
            continue
        name = _golden_name(line)
        if name is None:
            continue
        paths = [root / "reports" / line[who] / f"{name}.json" for who in ("incumbent", "candidate")]
        if all(path.is_file() for path in paths):
            pairs.append(tuple(Report.load(path) for path in paths))
    return pairs


def _golden_name(line: dict) -> str | None:
    """The golden set's report name: in the line, or in the evidence a cycle wrote (``gate_eval.json``)."""
    if line.get("golden_name"):
        return line["golden_name"]
    evidence = Path(line.get("evidence", "")) / "gate_eval.json"
    return json.loads(evidence.read_text(encoding="utf-8")).get("golden_set") if evidence.is_file() else None


def multipliers_table(rows: list[dict], current: str) -> Table:
    table = Table(title=f"signal per query against {current}: effective-n multiplier (t_metric / t_{current})²")
    for column in ("metric", "report pairs", "median", "pooled", "mean t"):
        table.add_column(column)
    for row in rows:
        cells = (str(row["pairs"]), f"{row['median']:.2f}", f"{row['pooled']:.2f}", f"{row['mean_t']:+.2f}")
        table.add_row(row["metric"] + (" (current)" if row["metric"] == current else ""), *cells)
    return table
