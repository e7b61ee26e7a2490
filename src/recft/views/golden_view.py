"""``recft manage golden``: the golden set of record by origin — the source split, then each cycle's sealed
queries — read from the registry and ``history.jsonl`` without loading any data."""

from __future__ import annotations

from collections import Counter

from rich.table import Table

from recft.loop.storage.history import read_history
from recft.loop.storage.registry import Registry


def origins_table(registry: Registry, split_queries: int | None) -> Table:
    """One row per origin: the source split, then each cycle's sealed queries by file."""
    table = Table(title=f"golden set of record: {registry.root}")
    for column in ("origin", "cycle", "queries"):
        table.add_column(column)
    sealed = registry.sealed()
    table.add_row("source golden split", "–", "?" if split_queries is None else str(split_queries))
    for (cycle, file), n in sorted(Counter((e["cycle"], e["file"]) for e in sealed).items()):
        table.add_row(f"sealed from {file}", str(cycle), str(n))
    total = "?" if split_queries is None else str(split_queries + len(sealed))
    table.add_row("total", "", total)
    return table


def split_size(registry: Registry) -> int | None:
    """The source split's size as the last decision saw it (history.jsonl), without loading any data."""
    held = [ln["golden_set"] for ln in read_history(registry.root / "history.jsonl") if ln.get("golden_set")]
    return held[-1]["source_split"] if held else None
