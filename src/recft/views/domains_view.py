"""``recft manage domains``: each domain registry's incumbent, versions, cycles and last verdict."""

from __future__ import annotations

from rich.table import Table

from recft.loop.storage.history import read_history
from recft.loop.storage.registry import Registry


def domains_table(registries: dict[str, Registry]):
    """Each domain's incumbent, its versions and cycles so far, and the last cycle's verdict."""

    table = Table(title="recft domains")
    for column in ("domain", "incumbent", "kind", "versions", "cycles", "last verdict", "folder"):
        table.add_column(column)
    for name, registry in registries.items():
        incumbent, history = registry.incumbent(), read_history(registry.root / "history.jsonl")
        table.add_row(
            name,
            incumbent.id if incumbent else "none",
            incumbent.kind if incumbent else "–",
            str(len(registry.versions())),
            str(len(history)),
            history[-1]["verdict"] if history else "–",
            str(registry.root),
        )
    return table
