"""One recursive fine-tuning cycle: new pairs → candidate from the incumbent → gate → promote / wait / reject.

Read top to bottom in ``run_cycle``: pick the run folder, make sure there is an incumbent, seal this
cycle's share of the arriving queries (and hold out its dev split), get the incumbent's reports
(cached in the registry), train the declared recipes and keep the one dev prefers — or stop before
the gate when too few pairs are left or dev hands the incumbent back (SKIPPED, no look spent) —
then let the gate decide (``recft.loop.orchestration.decision``) and return the history line. The evidence behind
each verdict is written next to it: ``gate_eval.json`` (golden set) and ``forgetting_eval.json``
(probes, with per-query deltas). Which cycles run, and on what, is ``recft.loop.orchestration.feed``'s.
"""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

from recft.data.pairs import Pair
from recft.eval.report import Report
from recft.loop.gate.dev_check import dev_evidence, dev_reason, dev_strata
from recft.loop.gate.verdicts import SKIPPED
from recft.loop.intake.null_control import derange_positives
from recft.loop.intake.sealing import seal, unsealed
from recft.loop.orchestration.candidates import Trained, train_candidates
from recft.loop.orchestration.context import Loop
from recft.loop.orchestration.decision import TrainedOn, fingerprint_pairs, gate_candidate
from recft.loop.orchestration.incumbent import ensure_incumbent, query_embedder, start_point, version_reports
from recft.loop.storage.registry import Version
from recft.training.candidate import SmallDataError, check_enough_pairs
from recft.training.job import peak_rss_mb


def run_folder(output_dir: Path, cycle: int) -> Path:
    """``cycle-NNN``, or ``cycle-NNN-attemptK`` when an earlier attempt at this cycle died (its files are kept)."""
    folder, attempt = output_dir / f"cycle-{cycle:03d}", 1
    while folder.exists():
        attempt += 1
        folder = output_dir / f"cycle-{cycle:03d}-attempt{attempt}"
    return folder


def cost(loop: Loop, wall_s: float) -> dict:
    import torch

    device_hours = wall_s / 3600 * max(1, torch.cuda.device_count())
    price = loop.settings.price_per_hour
    return {"device_hours": device_hours, "price_per_hour": price, "total": device_hours * price}


def seal_arrivals(loop: Loop, cycle: int, new: list[Pair], seen: list[Pair], origins: dict) -> tuple[Loop, dict]:
    """Seal ``golden.seal`` of this cycle's arriving queries into the golden set of record and hold out
    ``dev.arrival_share`` as dev (pending until the caller records them); returns the cycle's ``Loop``
    with them, and what they cost in training pairs."""
    shares, near_dup = loop.settings.shares, loop.settings.arrivals.near_dup
    embed = query_embedder(loop) if shares.held and near_dup is not None else None
    arriving = set(new)
    trained = unsealed([p for p in seen if p not in arriving], loop.held_out())  # a held-out query never trained
    sealed = seal(new, trained, shares, cycle, origins, embed, near_dup, loop.held("dev"))
    dev = {"share": shares.dev, "queries": len(sealed.dev), "pairs": sealed.pairs_dev}
    summary = {"share": shares.golden, "queries": sealed.queries, "pairs": sealed.pairs_sealed, "dev": dev}
    return loop.with_sealing([*sealed.entries, *sealed.dev]), summary


def known_to(incumbent: Version, seen: list[Pair]) -> int:
    """How many of ``seen`` (every pair so far, in arrival order) the incumbent's cycle had seen: its
    lineage records the count and their fingerprint. 0 for the base model, and for a version whose
    record does not match this loop's pairs (then everything trains as new)."""
    record = (incumbent.config.get("lineage") or {}).get("seen") or {}
    known = int(record.get("pairs", 0))
    if not known or known > len(seen) or fingerprint_pairs(seen[:known]) != record.get("fingerprint"):
        return 0
    return known


def replayed(earlier: list[Pair], budget: int, seed: int, cycle: int) -> list[Pair]:
    """A seeded sample of at most ``budget`` earlier pairs (``loop.earlier_pairs``), in arrival order."""
    if budget >= len(earlier):
        return list(earlier)
    keep = sorted(random.Random(f"{seed}:{cycle}").sample(range(len(earlier)), budget))
    return [earlier[i] for i in keep]


def pairs_to_train(loop: Loop, new: list[Pair], seen: list[Pair], known: int, cycle: int) -> tuple[list, list, list]:
    """(new, seen, trained on) without any held-out query: a sealed or dev query never trains. What trains
    is ``loop.train_on``: ``since_incumbent`` — the pairs the incumbent has not learned from (``known``:
    how many of ``seen`` it had) plus ``loop.earlier_pairs`` of those it has, replayed — so a cycle's
    cost follows what is new, not the loop's history; ``all`` — every pair so far; ``new`` — this
    cycle's arrivals. With ``loop.null_control`` what trains carries no signal (``recft.loop.intake.null_control``),
    and neither do the seen pairs a step refitted from all of them reads (``adapter.nudge``)."""
    held = loop.held_out()
    earlier_set = set(seen[:known])
    new, seen = unsealed(new, held), unsealed(seen, held)
    is_earlier = [pair in earlier_set for pair in seen]
    settings = loop.settings
    if settings.loop.null_control:
        new, seen = derange_positives(new, settings.seed), derange_positives(seen, settings.seed)
    how = settings.loop.train_on
    if how == "all" or loop.maker.uses_all_pairs:
        return new, seen, seen
    if how == "new":
        return new, seen, new
    fresh = [pair for pair, old in zip(seen, is_earlier) if not old]
    earlier = [pair for pair, old in zip(seen, is_earlier) if old]
    return new, seen, fresh + replayed(earlier, settings.loop.earlier_pairs, settings.seed, cycle)


def lineage_pairs(train_on: str, pairs: list[Pair], seen: list[Pair]) -> int:
    """What ``train.min_pairs`` is held to: with ``since_incumbent`` a candidate continues a lineage that
    learned from every pair so far (a few new ones and a replayed share train today), so the count is
    theirs; otherwise the pairs it trains on."""
    return len(seen) if train_on == "since_incumbent" else len(pairs)


def train_recipes(
    loop: Loop, incumbent: Version, incumbent_reports: dict[str, Report], pairs: list[Pair], run_dir: Path, seen=()
) -> tuple[Trained, list[dict], dict]:
    """Every declared recipe trained from the incumbent on ``pairs``; the one the cycle's dev split
    chose, a row per recipe and the dev split's line (with the screen's record when there is a
    candidate to screen). Dev chooses inside training; the gate never reads it. Dev measures every dev
    query of record, in two strata: on documents this loop trained on (``pairs`` or ``seen``) or not."""
    data = dataclasses.replace(loop.training, pairs=pairs, seen=list(seen))
    entries = loop.held("dev")
    strata = dev_strata(entries, {p.doc_id for p in [*pairs, *seen]})
    dev = loop.dev_source(entries)
    sets = {**loop.sets, "dev": dev} if dev else loop.sets
    start_reports = {**incumbent_reports, **(version_reports(loop, incumbent, {"dev": dev}) if dev else {})}
    start = start_point(loop, incumbent, start_reports)
    trained, recipes = train_candidates(loop, start, data, sets, run_dir)
    line = {
        "queries": len(dev.dataset.queries) if dev else 0,
        **{name: len(ids) for name, ids in strata.items()},
        "metric": loop.settings.primary,
    }
    if trained.dev_gain is not None and not trained.is_start:
        before, after = start.reports["dev"], trained.candidate.reports["dev"]
        line["screen"] = dev_evidence(before, after, strata, loop.settings.primary, loop.settings.dev_rule)
    return trained, recipes, line


def kept_the_incumbent(trained: Trained, dev_line: dict, gated: bool) -> str | None:
    """Why dev hands the incumbent back (no candidate goes to the gate), or None. With ``loop.gated=false``
    every candidate is promoted, dev's screen and the gate's verdict recorded but not obeyed — the arm a
    researcher compares the gated loop with (what did the gate save?)."""
    if trained.dev_gain is None:
        return None  # no dev split yet: the gate alone decides
    if trained.is_start:
        return (
            f"every declared recipe kept the incumbent's weights and passage vectors (n={dev_line['queries']} "
            "dev queries): nothing to gate, no look spent"
        )
    screen = dev_line["screen"]
    return None if screen["send"] or not gated else dev_reason(screen)


def cycle_line(train_on: str, cycle: int, incumbent: Version, counts: dict, sealing: dict, injected: bool) -> dict:
    """The start of a cycle's history line: when, from which incumbent, and its pairs — ``counts``' new,
    total so far, trained on, and ``known_to_incumbent`` (of the total, the pairs the incumbent's cycle
    could train on)."""
    return {
        "cycle": cycle,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "incumbent": incumbent.id,
        "pairs": {**counts, "train_on": train_on},
        "sealed": sealing,
        "injected": injected,
    }


def run_cycle(
    loop: Loop, cycle: int, new_pairs: list[Pair], seen_pairs: list[Pair], injected: bool, origins: dict
) -> tuple[dict, Loop]:
    """The cycle's history line, and its ``Loop`` (with the queries it sealed, for the caller to record)."""
    began = time.perf_counter()
    settings = loop.settings
    run_dir = run_folder(settings.output_dir, cycle)
    incumbent = ensure_incumbent(loop)
    loop, sealing = seal_arrivals(loop, cycle, new_pairs, seen_pairs, origins)
    known = known_to(incumbent, seen_pairs)
    seen_record = {"pairs": len(seen_pairs), "fingerprint": fingerprint_pairs(seen_pairs)}
    learned = len(unsealed(seen_pairs[:known], loop.held_out()))
    new_pairs, seen_pairs, pairs = pairs_to_train(loop, new_pairs, seen_pairs, known, cycle)
    counts = {"new": len(new_pairs), "total": len(seen_pairs), "trained_on": len(pairs), "known_to_incumbent": learned}
    line = cycle_line(settings.loop.train_on, cycle, incumbent, counts, sealing, injected)
    inc_reports = version_reports(loop, incumbent)
    try:
        check_enough_pairs(lineage_pairs(settings.loop.train_on, pairs, seen_pairs), settings.min_pairs, settings.force)
    except SmallDataError as err:
        return {**line, "verdict": SKIPPED, "reasons": [str(err)], "wall_s": time.perf_counter() - began}, loop
    trained, recipes, dev_line = train_recipes(loop, incumbent, inc_reports, pairs, run_dir, seen_pairs)
    reason = kept_the_incumbent(trained, dev_line, settings.loop.gated)
    if reason is not None:  # dev hands the incumbent back: no candidate
        skipped = {"verdict": SKIPPED, "reasons": [reason], "recipes": recipes, "dev": dev_line}
        return {**line, **skipped, "wall_s": time.perf_counter() - began}, loop
    candidate = trained.candidate
    trained_on = TrainedOn(pairs, seen_pairs, seen_record)
    decision = gate_candidate(loop, candidate, cycle, run_dir, incumbent, trained_on, inc_reports)
    wall = time.perf_counter() - began
    spent = {
        "wall_s": wall,
        "train_wall_s": candidate.wall_s,
        "peak_rss_mb": peak_rss_mb(),
        "cost": cost(loop, wall),
        "evidence": str(run_dir),
    }
    return {**line, **decision.judged(loop), "recipes": recipes, "dev": dev_line, **decision.acted(), **spent}, loop
