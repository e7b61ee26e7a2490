"""One recursive fine-tuning cycle: new pairs → candidate from the incumbent → gate → promote / wait / reject.

Read top to bottom in ``run_cycle``: pick the run folder, make sure there is an incumbent, seal this
cycle's share of the arriving queries (and hold out its dev split), get the incumbent's reports
(cached in the registry), train the declared recipes and keep the one dev prefers — or stop before
the gate when too few pairs are left or dev hands the incumbent back (SKIPPED, no look spent) —
then let the gate decide (``recft.loop.decision``) and return the history line. The evidence behind
each verdict is written next to it: ``gate_eval.json`` (golden set) and ``forgetting_eval.json``
(probes, with per-query deltas). Which cycles run, and on what, is ``recft.loop.feed``'s.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from recft.data.pairs import Pair
from recft.eval.report import Report
from recft.loop.candidates import Trained, train_candidates
from recft.loop.context import Loop
from recft.loop.decision import gate_candidate
from recft.loop.incumbent import ensure_incumbent, query_embedder, start_point, version_reports
from recft.loop.null_control import derange_positives
from recft.loop.registry import Version
from recft.loop.sealing import Shares, seal, unsealed, unseen_dev
from recft.loop.verdicts import SKIPPED
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
    price = float(loop.cfg.cost.price_per_hour)
    return {"device_hours": device_hours, "price_per_hour": price, "total": device_hours * price}


def seal_arrivals(loop: Loop, cycle: int, new: list[Pair], seen: list[Pair], origins: dict) -> tuple[Loop, dict]:
    """Seal ``golden.seal`` of this cycle's arriving queries into the golden set of record and hold out
    ``dev.arrival_share`` as dev (pending until the caller records them); returns the cycle's ``Loop``
    with them, and what they cost in training pairs."""
    shares = Shares(float(loop.cfg.golden.seal), int(loop.cfg.seed), float(loop.cfg.dev.get("arrival_share") or 0))
    near_dup = loop.cfg.arrivals.get("near_dup")
    embed = query_embedder(loop) if shares.held and near_dup is not None else None
    arriving = set(new)
    trained = [p for p in seen if p not in arriving]
    sealed = seal(new, trained, shares, cycle, origins, embed, near_dup, loop.held("dev"))
    dev = {"share": shares.dev, "queries": len(sealed.dev), "pairs": sealed.pairs_dev}
    summary = {"share": shares.golden, "queries": sealed.queries, "pairs": sealed.pairs_sealed, "dev": dev}
    return loop.with_sealing([*sealed.entries, *sealed.dev]), summary


def pairs_to_train(loop: Loop, new: list[Pair], seen: list[Pair]) -> tuple[list[Pair], list[Pair], list[Pair]]:
    """(new, seen, trained on) without any held-out query: a sealed or dev query never trains. With
    ``loop.null_control`` what trains carries no signal (``recft.loop.null_control``), and neither do
    the seen pairs a step refitted from all of them reads (``adapter.nudge``)."""
    held = [*loop.held("golden"), *loop.held("dev")]
    new, seen = unsealed(new, held), unsealed(seen, held)
    if loop.cfg.loop.get("null_control"):
        new, seen = derange_positives(new, int(loop.cfg.seed)), derange_positives(seen, int(loop.cfg.seed))
    train = seen if loop.cfg.loop.train_on == "all" or loop.maker.uses_all_pairs else new
    return new, seen, train


def train_recipes(
    loop: Loop, incumbent: Version, incumbent_reports: dict[str, Report], pairs: list[Pair], run_dir: Path, seen=()
) -> tuple[Trained, list[dict], dict]:
    """Every declared recipe trained from the incumbent on ``pairs``; the one the cycle's dev split
    chose, a row per recipe and the dev split's line. Dev chooses inside training; the gate never reads it.
    Dev measures only its queries on documents nothing in this loop trained on (``pairs`` or ``seen``)."""
    cfg = loop.cfg
    data = dataclasses.replace(loop.training, pairs=pairs, seen=list(seen))
    trained_docs = {p.doc_id for p in [*pairs, *seen]}
    measured = unseen_dev(loop.held("dev"), trained_docs)
    dev = loop.dev_source(measured)
    sets = {**loop.sets, "dev": dev} if dev else loop.sets
    start_reports = {**incumbent_reports, **(version_reports(loop, incumbent, {"dev": dev}) if dev else {})}
    context = {"golden": loop.golden, "cache": loop.cache, "settings": loop.settings}
    start = start_point(loop, incumbent, start_reports)
    trained, recipes = train_candidates(cfg, loop.maker, start, data, sets, context, run_dir)
    dropped = len(loop.held("dev")) - len(measured)
    line = {"queries": len(dev.dataset.queries) if dev else 0, "seen_dropped": dropped, "metric": str(cfg.eval.primary)}
    return trained, recipes, line


def run_cycle(
    loop: Loop, cycle: int, new_pairs: list[Pair], seen_pairs: list[Pair], injected: bool, origins: dict
) -> tuple[dict, Loop]:
    """The cycle's history line, and its ``Loop`` (with the queries it sealed, for the caller to record)."""
    began = time.perf_counter()
    cfg = loop.cfg
    run_dir = run_folder(Path(cfg.output_dir), cycle)
    incumbent = ensure_incumbent(loop)
    loop, sealing = seal_arrivals(loop, cycle, new_pairs, seen_pairs, origins)
    new_pairs, seen_pairs, pairs = pairs_to_train(loop, new_pairs, seen_pairs)
    line = {
        "cycle": cycle,
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "incumbent": incumbent.id,
        "pairs": {"new": len(new_pairs), "total": len(seen_pairs), "trained_on": len(pairs)},
        "sealed": sealing,
        "injected": injected,
    }
    inc_reports = version_reports(loop, incumbent)
    try:
        check_enough_pairs(len(pairs), int(cfg.train.min_pairs), bool(cfg.train.force))
    except SmallDataError as err:
        return {**line, "verdict": SKIPPED, "reasons": [str(err)], "wall_s": time.perf_counter() - began}, loop
    trained, recipes, dev_line = train_recipes(loop, incumbent, inc_reports, pairs, run_dir, seen_pairs)
    if trained.dev_gain is not None and trained.dev_gain <= 0:  # dev hands the incumbent back: no candidate
        reason = (
            f"no declared recipe beat the incumbent on the cycle's dev split (best dev Δ {cfg.eval.primary} "
            f"{trained.dev_gain:+.4f}, n={dev_line['queries']}): nothing to gate, no look spent"
        )
        wall = time.perf_counter() - began
        return {
            **line,
            "verdict": SKIPPED,
            "reasons": [reason],
            "recipes": recipes,
            "dev": dev_line,
            "wall_s": wall,
        }, loop
    candidate = trained.candidate
    decision = gate_candidate(loop, candidate, cycle, run_dir, incumbent, pairs, inc_reports)
    wall = time.perf_counter() - began
    spent = {
        "wall_s": wall,
        "train_wall_s": candidate.wall_s,
        "peak_rss_mb": peak_rss_mb(),
        "cost": cost(loop, wall),
        "evidence": str(run_dir),
    }
    return {**line, **decision.judged(loop), "recipes": recipes, "dev": dev_line, **decision.acted(), **spent}, loop
