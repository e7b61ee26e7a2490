"""Human-side commands for the registry: history, approve, reject, rollback, figures.

python -m recft.manage history                   # table of every cycle
python -m recft.manage approve v0003-cycle2      # promote a PENDING_APPROVAL candidate
python -m recft.manage reject v0003-cycle2
python -m recft.manage rollback                  # reinstate the previous incumbent
python -m recft.manage figures                   # redraw the figures from history.jsonl
(all take --registry DIR; default outputs/registry)
"""

from __future__ import annotations

import argparse
import sys

from rich.table import Table

from recft import console as console_module
from recft.config import repo_path
from recft.cycle import history_lines
from recft.registry import Registry, RegistryError


def history_table(lines: list[dict]) -> Table:
    table = Table(title="recft cycles")
    for column in (
        "cycle",
        "date",
        "pairs new/total",
        "incumbent",
        "candidate",
        "metric",
        "Δ [95% CI]",
        "n",
        "probes Δ",
        "verdict",
        "wall s",
        "cost",
    ):
        table.add_column(column)
    for ln in lines:
        golden = ln.get("golden")
        delta = f"{golden['delta']:+.4f} [{golden['ci_low']:+.4f}, {golden['ci_high']:+.4f}]" if golden else "–"
        probes = ", ".join(
            f"{p['name']} {p['delta']:+.4f} [{p['ci_low']:+.3f}, {p['ci_high']:+.3f}]" for p in ln.get("probes", [])
        )
        table.add_row(
            str(ln["cycle"]),
            ln["date"][:19],
            f"{ln['pairs']['new']}/{ln['pairs']['total']}",
            ln.get("incumbent", ""),
            ln.get("candidate", "–"),
            f"{ln.get('incumbent_metric', float('nan')):.4f}→{ln.get('candidate_metric', float('nan')):.4f}",
            delta,
            str(golden["n"]) if golden else "–",
            probes or "–",
            ln["verdict"],
            f"{ln['wall_s']:.0f}",
            f"{ln.get('cost', {}).get('total', 0):.4f}",
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m recft.manage", description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=repo_path("outputs/registry"))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("history")
    sub.add_parser("rollback")
    sub.add_parser("figures")
    for name in ("approve", "reject"):
        sub.add_parser(name).add_argument("version")
    args = parser.parse_args(argv)
    try:
        registry = Registry(args.registry)
        if args.command == "history":
            console_module.out().print(history_table(history_lines(registry.root / "history.jsonl")))
            incumbent = registry.incumbent()
            print(f"incumbent: {incumbent.id if incumbent else 'none'}")
        elif args.command == "approve":
            print(f"promoted {registry.approve(args.version).id}")
        elif args.command == "reject":
            print(f"rejected {registry.reject(args.version, 'rejected by a human').id}")
        elif args.command == "rollback":
            print(f"incumbent is now {registry.rollback().id}")
        elif args.command == "figures":
            from recft.plots import cycle_figures

            for path in cycle_figures(registry.root / "history.jsonl", registry.root / "figures"):
                print(path)
    except (RegistryError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
