"""Human-side commands for the registry: history, approve, reject, rollback, figures.

    recft manage history                   # table of every cycle
    recft manage history --repair          # rewrite history.jsonl without its damaged lines (listed)
    recft manage approve v0003-cycle2      # promote a PENDING_APPROVAL candidate
    recft manage reject v0003-cycle2
    recft manage rollback                  # reinstate the previous incumbent
    recft manage figures                   # redraw the figures from history.jsonl
    recft manage power --mde 0.01          # queries needed per gate metric and probe, against queries held
    recft manage power --metrics           # signal per query of each golden metric against the gate's
    recft manage golden                    # the golden set of record by origin (--export DIR: a BEIR folder)
    recft manage export champion DIR       # what a serving system needs (also: candidate, or a version id)
    recft manage domains                   # each domain's incumbent (registries of `recft cycle domain=X`)
    (all take --registry DIR, default outputs/registry, and --domain X for domain X's registry)

``champion`` names the incumbent and ``candidate`` the newest version pending approval, wherever a
version is asked for. Reads and writes the registry only: it loads neither torch nor Lightning, so it
answers at once — except ``export``, which loads the model to embed the corpus.
``python -m recft.manage`` is the same command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from recft.common import console as console_module
from recft.common.config import repo_path
from recft.common.entry import run
from recft.common.errors import ConfigError
from recft.loop.orchestration.domain_registries import domain_registries, registry_root
from recft.loop.storage.history import read_history, repair_history
from recft.loop.storage.registry import Registry, RegistryError
from recft.views.domains_view import domains_table
from recft.views.history_view import history_table


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recft manage", description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=repo_path("outputs/registry"))
    parser.add_argument("--domain", default=None, help="one domain's registry (recft cycle domain=X)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("history").add_argument("--repair", action="store_true", help="drop the lines that do not parse")
    sub.add_parser("domains")
    sub.add_parser("rollback")
    sub.add_parser("figures")
    for name in ("approve", "reject"):
        sub.add_parser(name).add_argument("version", help="a version id, or the alias candidate")
    export = sub.add_parser("export", help="a folder SentenceTransformer loads, the corpus index and signature.json")
    export.add_argument("version", help="champion, candidate, or a version id")
    export.add_argument("folder", help="a new folder to write")
    export.add_argument("--cache", default=repo_path("outputs/cache"), help="the embedding cache for the corpus")
    power = sub.add_parser("power", help="queries needed for a stated power, per gate metric and probe")
    power.add_argument("--mde", type=float, default=0.01, help="the smallest effect worth detecting")
    power.add_argument("--power", type=float, default=0.8)
    power.add_argument("--alpha", type=float, default=0.025, help="the gate's one-sided level")
    power.add_argument("--spending", default="fallback", help="the gate's alpha_spending rule")
    power.add_argument("--metrics", action="store_true", help="each golden metric's effective-n multiplier")
    power.add_argument("--current", default=None, help="with --metrics: the metric to compare against")
    power.add_argument("--reports", nargs="+", default=None, help="with --metrics: BASE CAND... report.json files")
    golden = sub.add_parser("golden", help="the golden set of record: size by origin, or --export DIR")
    golden.add_argument("--export", default=None, help="write it as a BEIR folder (corpus of record)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "domains":  # the root holds domain registries, perhaps none of its own
        return run(lambda: domains(None, args))
    return run(lambda: COMMANDS[args.command](Registry.existing(registry_root(args.registry, args.domain)), args))


def domains(registry: Registry | None, args) -> None:
    if not Path(args.registry).is_dir():
        raise RegistryError(f"{args.registry}: no such folder (recft cycle domain=X creates one; check --registry)")
    console_module.out().print(domains_table(domain_registries(args.registry)))


def history(registry: Registry, args) -> None:
    if args.repair:
        for dropped in repair_history(registry.root / "history.jsonl"):
            print(f"dropped {dropped}")
    console_module.out().print(history_table(read_history(registry.root / "history.jsonl")))
    incumbent = registry.incumbent()
    print(f"incumbent: {incumbent.id if incumbent else 'none'}")


def approve(registry: Registry, args) -> None:
    print(f"promoted {registry.approve(registry.resolve(args.version).id).id}")


def reject(registry: Registry, args) -> None:
    print(f"rejected {registry.reject(registry.resolve(args.version).id, 'rejected by a human').id}")


def export(registry: Registry, args) -> None:
    from recft.loop.orchestration.publish import export_version  # torch: only when exporting

    print(export_version(registry, args.version, args.folder, args.cache))


def rollback(registry: Registry, args) -> None:
    print(f"incumbent is now {registry.rollback().id}")


def golden(registry: Registry, args) -> None:
    from recft.loop.intake.golden import export_beir
    from recft.views.golden_view import origins_table, split_size

    if args.export:
        print(export_beir(registry, args.export))
    else:
        console_module.out().print(origins_table(registry, split_size(registry)))


def power(registry: Registry, args) -> int | None:
    if args.metrics:
        return metrics_command(registry, args)
    from recft.eval.paired_tests import check_power
    from recft.loop.gate.power import power_rows
    from recft.views.power_view import power_table

    check_power(args.mde, args.power, args.alpha, prefix="--")
    rows = power_rows(read_history(registry.root / "history.jsonl"), args.mde, args.power, args.alpha, args.spending)
    if not rows:
        print("no decided cycle in the history yet: nothing to size from", file=sys.stderr)
        return 2
    console_module.out().print(power_table(rows, args.mde, args.power))
    return None


def figures(registry: Registry, args) -> None:
    from recft.loop.orchestration.cycle_figures import cycle_figures  # matplotlib: only when drawing

    for path in cycle_figures(registry.root / "history.jsonl", registry.root / "figures"):
        print(path)


def metrics_command(registry: Registry, args) -> int:
    """``power --metrics``: from ``--reports BASE CAND…`` or every decided cycle's golden reports."""
    from recft.eval.report import Report
    from recft.loop.gate.power import metric_multipliers
    from recft.views.power_view import multipliers_table, registry_report_pairs

    lines = read_history(registry.root / "history.jsonl")
    if args.reports:
        if len(args.reports) < 2:
            raise ConfigError("--reports takes a reference report and at least one candidate report")
        base, *candidates = (Report.load(path) for path in args.reports)
        pairs = [(base, candidate) for candidate in candidates]
    else:
        pairs = registry_report_pairs(registry.root, lines)
    if not pairs:
        print("no decided cycle with stored golden reports: nothing to compare (or pass --reports)", file=sys.stderr)
        return 2
    decided = [ln["metric"] for ln in lines if ln.get("metric")]
    current = args.current or (decided[-1] if decided else "ndcg@10")
    console_module.out().print(multipliers_table(metric_multipliers(pairs, current), current))
    return 0


COMMANDS = {  # each subcommand: (registry, parsed arguments) → exit code (None: 0)
    "domains": domains,
    "history": history,
    "approve": approve,
    "reject": reject,
    "export": export,
    "rollback": rollback,
    "golden": golden,
    "power": power,
    "figures": figures,
}


if __name__ == "__main__":
    sys.exit(main())
