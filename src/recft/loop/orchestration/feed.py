"""What feeds the cycles: the simulation schedule, or the arrivals inbox — which pairs each cycle gets,
and what is recorded once it has run.

Each cycle runs on its own ``Loop``, made from the run's: the inbox's carries the corpus of record
as it stands at that cycle and the files it trains on. After the cycle, the queries it sealed (and
held out as dev) are written to the registry — with the files it consumed, in one transaction, for
the inbox — and only then become the next cycle's queries of record.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from recft.common import console as console_module
from recft.data.arrivals import CorpusIndex
from recft.data.beir import DataError, Dataset
from recft.data.growth import corpus_fingerprint, with_documents
from recft.data.pairs import Pair
from recft.data.sources import SourceSpec, load_source
from recft.loop.intake.inbox import Consumed, Delivery, Inbox, add_negatives, consumed_files
from recft.loop.intake.leakage import audit
from recft.loop.intake.schedule import arrivals
from recft.loop.orchestration.context import Loop
from recft.loop.orchestration.cycle import run_cycle
from recft.loop.orchestration.incumbent import query_embedder
from recft.loop.orchestration.loop_settings import LoopSettings
from recft.loop.storage.history import append_history

console = console_module.err


def arrival_batches(settings: LoopSettings, pairs: list[Pair]) -> list[tuple[list[Pair], bool]]:
    """This run's cycles: (new pairs, whether an off-distribution batch was injected) per cycle."""
    given, seed = settings.loop, settings.seed
    batches = arrivals(pairs, list(given.schedule), seed)
    inject = given.inject
    injected = []
    if inject:
        injected = load_source(SourceSpec.from_config(inject["source"], "loop.inject.source"), seed).pairs
    cycles = []
    for index in range(given.cycles):
        with_batch = bool(inject) and index + 1 == int(inject["cycle"])
        cycles.append((list(batches[index]) + (injected if with_batch else []), with_batch))
    return cycles


def report_cycle(history_path: Path, line: dict) -> dict:
    append_history(history_path, line)
    console.print(f"cycle {line['cycle']}: [bold]{line['verdict']}[/bold]")
    for reason in line["reasons"]:
        console.print(f"  - {reason}")
    for name, row in (line.get("slices") or {}).items():  # where the golden Δ comes from
        if row.get("n"):
            console.print(
                f"  · golden slice {name}: n={row['n']} Δ {row['delta']:+.4f} "
                f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] p {row['p']:.3g} ({row['test']})"
            )
    return line


def audit_schedule(loop: Loop, new: list[Pair]) -> tuple[list[Pair], dict]:
    """The schedule's arrivals audited like an inbox file's (``arrivals.near_dup``): a training claim that
    copies a golden (sealed ones included) or probe query — SciFact's train 1291 is test 1292 word for
    word — never trains. The sealing then keeps copies of dev claims out as it does for files."""
    near_dup = loop.settings.arrivals.near_dup
    if near_dup is None:
        return new, {}
    return audit(new, loop.sets, loop.golden, query_embedder(loop), near_dup)


def run_schedule(loop: Loop, history_path: Path, first: int) -> list[dict]:
    """The simulation mode: the golden source's training split arriving in ``loop.schedule`` shares."""
    seen: list[Pair] = []
    lines = []
    split = loop.settings.train_split
    for cycle, (new, injected) in enumerate(arrival_batches(loop.settings, loop.training.pairs), start=first):
        new, leakage = audit_schedule(loop, new)
        seen += new
        console.rule(f"cycle {cycle}: {len(new)} new pairs, {len(seen)} seen")
        origins = {p.query_id: (f"{p.source or loop.golden}:{split}", None) for p in new}
        line, ran = run_cycle(loop, cycle, new, seen, injected, origins)
        line["leakage"] = {"schedule": leakage} if leakage else {}
        loop.registry.record_sealed(ran.sealing)
        loop = ran.recorded()
        lines.append(report_cycle(history_path, line))
    return lines


def read_inbox(loop: Loop, inbox: Inbox, corpus: CorpusIndex, first: int) -> tuple[list[Delivery], list[dict]]:
    """The new files that read cleanly, and what was quarantined (or, with ``arrivals.strict``, refused)."""
    good, bad = inbox.read(corpus, loop.golden)
    problems = [problem for delivery in bad for problem in delivery.arrival.problems]
    if bad and loop.settings.arrivals.strict:
        raise DataError(f"arrivals.strict=true and {len(bad)} file(s) have bad rows:\n" + "\n".join(problems))
    quarantined = inbox.quarantine(bad, first)
    for problem in problems:
        console.print(f"[red]quarantined[/red] {problem}")
    return good, quarantined


def cycle_groups(settings: LoopSettings, inbox: Inbox, good: list[Delivery], first: int) -> tuple[list[list], list]:
    """This run's cycles as groups of pair files (one group, or one per file with ``loop.per_file``;
    only the oldest with ``arrivals.take=next``), and the corpus deltas that join the first."""
    deltas = [d for d in good if d.is_corpus_delta]
    pair_files = [d for d in good if not d.is_corpus_delta]
    pair_files = inbox.set_aside_other_domains(pair_files, first - 1)
    if settings.arrivals.take == "next":
        pair_files = pair_files[:1]  # the rest wait for the next run
    if not pair_files:
        return [], deltas
    return ([[d] for d in pair_files] if settings.loop.per_file else [pair_files]), deltas


def audit_deliveries(loop: Loop, deliveries: list[Delivery]) -> dict[str, dict]:
    """Drop, from each arriving file, the pairs whose query copies a golden (sealed ones included) or
    probe query (equal, or near-duplicate by the incumbent's query tower); returns each file's audit."""
    embed, near_dup = query_embedder(loop), loop.settings.arrivals.near_dup
    reports = {}
    for delivery in deliveries:
        kept, report = audit(delivery.arrival.pairs, loop.sets, loop.golden, embed, near_dup)
        delivery.arrival.pairs = kept
        delivery.arrival.dropped.update({f"leakage: {why}": n for why, n in report["dropped"].items()})
        reports[delivery.path.name] = report
    return reports


@dataclasses.dataclass(frozen=True)
class RunStart:
    """What the inbox's cycles grow from: the golden split and the mining corpus as the run found them."""

    golden: Dataset  # the golden set of record, over the corpus of record at the run's start
    mining: Dataset | None  # the training split hard negatives are mined from (None: no mining corpus)


def inbox_cycle(
    loop: Loop, inbox: Inbox, group: list[Delivery], cycle: int, so_far: Consumed, start: RunStart
) -> tuple[dict, Loop]:
    """One cycle on a group of files: the corpus of record grown by what they bring, their pairs
    audited and kept, the cycle run; ``so_far`` gains the group."""
    added = {}
    for delivery in group:
        add_negatives(so_far.negatives, delivery.arrival.negatives.items())
        so_far.titles.update(delivery.arrival.titles)
        added.update({k: v for k, v in delivery.arrival.new_documents.items() if k not in so_far.documents})
    so_far.documents.update(added)
    grown = with_documents(start.golden, so_far.documents, so_far.titles)
    corpus = with_documents(start.mining, so_far.documents, so_far.titles) if start.mining is not None else None
    loop = dataclasses.replace(
        loop,
        arrivals_seen=[*consumed_files(inbox.registry), *(d.sha256 for d in group)],
        training=dataclasses.replace(loop.training, negatives=so_far.negatives, corpus=corpus),
    ).with_golden(grown)  # with the sealed queries of record: the audit keeps their copies out too
    pairs_in = [d for d in group if not d.is_corpus_delta]
    leakage = audit_deliveries(loop, pairs_in) if loop.settings.arrivals.near_dup is not None else {}
    for delivery in group:
        inbox.keep(delivery)  # the audited pairs, before the file can be marked consumed
    new = [pair for delivery in group for pair in delivery.arrival.pairs]
    so_far.pairs += new
    origins = {q: (d.path.name, line) for d in group for q, line in d.arrival.lines.items()}
    console.rule(f"cycle {cycle}: {len(new)} new pairs from {len(group)} file(s), {len(so_far.pairs)} seen")
    line, ran = run_cycle(loop, cycle, new, so_far.pairs, False, origins)
    line["corpus"] = {
        "documents": len(grown.corpus),
        "added": len(added),
        "fingerprint": corpus_fingerprint(grown.corpus),
    }
    line["arrivals"] = [d.arrival.manifest() for d in group]
    line["leakage"] = {d.path.name: leakage[d.path.name] for d in group if d.path.name in leakage}
    return line, ran


def run_inbox(loop: Loop, history_path: Path, first: int) -> list[dict]:
    """A team's own pair files: every file not yet consumed is an arrival (one cycle, or one per file).
    Corpus deltas join the first of this run's cycles; the golden set and the mining corpus are the
    corpus of record as it stands at each cycle."""
    settings, golden = loop.settings, loop.sets[loop.golden]
    given = settings.arrivals
    inbox = Inbox(given.path, loop.registry, given.format, given.columns, settings.domain)
    consumed = inbox.consumed()
    of_record = consumed.grow(golden.dataset)
    titles = dict(of_record.titles)
    good, quarantined = read_inbox(loop, inbox, CorpusIndex(of_record.corpus, titles), first)
    groups, deltas = cycle_groups(settings, inbox, good, first)
    if not groups:
        waiting = f" ({len(deltas)} corpus delta(s) wait for pairs)" if deltas else ""
        print(f"no new pairs since cycle {first - 1}{waiting}")
        return []
    groups[0] = deltas + groups[0]
    so_far = Consumed(consumed.pairs, consumed.negatives, dict(consumed.documents), titles)
    start = RunStart(golden.dataset, loop.training.corpus)
    lines = []
    for cycle, group in enumerate(groups, start=first):
        line, ran = inbox_cycle(loop, inbox, group, cycle, so_far, start)
        line["quarantined"] = quarantined if cycle == first else []
        inbox.consume(group, line.get("candidate"), cycle, ran.sealing)
        loop = ran.recorded()
        lines.append(report_cycle(history_path, line))
    return lines
