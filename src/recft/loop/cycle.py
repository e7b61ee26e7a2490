"""Recursive fine-tuning cycles: new pairs → candidate from the incumbent → gate → promote / wait / roll back.

Each cycle, read top to bottom in ``run_cycle``: pick the run folder, make sure there is an
incumbent, get its reports (cached in the registry), make a candidate through its maker, register
it, let the gate decide, write the evidence, act on the verdict, and return the history line. The
evidence behind each verdict is written next to it: ``gate_eval.json`` (golden set) and
``forgetting_eval.json`` (probes, with per-query deltas).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from recft.common import console as console_module
from recft.common.atomic import write_json
from recft.common.errors import instantiate
from recft.common.hashing import stable_hash
from recft.data.arrivals import CorpusIndex
from recft.data.beir import DataError, Dataset
from recft.data.growth import corpus_fingerprint, with_documents
from recft.data.pairs import Pair
from recft.data.sources import Source, SourceSpec, load_source
from recft.eval.report import Report
from recft.eval.sets import EvalSettings, configured_encoder_settings, evaluate_set, evaluation_key, load_eval_sets
from recft.eval.slices import SliceSpec, build_slices
from recft.loop.candidates import OWN, declared, train_candidates
from recft.loop.domains import registry_root, scope
from recft.loop.figures import cycle_figures
from recft.loop.gate import PENDING_APPROVAL, PROMOTED, GateConfig, GateError, Verdict, decide
from recft.loop.history import append_history, read_history
from recft.loop.inbox import Inbox, add_negatives
from recft.loop.leakage import audit, unit
from recft.loop.looks import alpha_spent, check_ledger_metric, golden_fingerprint, golden_sample, next_level
from recft.loop.registry import Registry, Version
from recft.loop.schedule import LoopConfigError, arrivals
from recft.loop.sealing import check_share, composition, golden_of_record, seal, unsealed
from recft.loop.serving import blue_green_index, log_version_artifact, serving_state, unchanged
from recft.loop.versions import encoder_version, load_version
from recft.model.cache import EmbeddingCache
from recft.preflight import CYCLE_DEV
from recft.training.candidate import (
    Candidate,
    CandidateMaker,
    SmallDataError,
    StartPoint,
    TrainingData,
    check_enough_pairs,
)
from recft.training.job import load_training_data, peak_rss_mb
from recft.training.recipes import Recipe, with_recipe

console = console_module.err


EXIT_CODES = {  # what `recft cycle` exits with, by the last cycle's verdict (0 also: nothing new arrived)
    "PROMOTED": 0,
    "PENDING_APPROVAL": 3,
    "INCONCLUSIVE": 4,
    "REJECTED": 5,
    "ROLLBACK": 6,
    "FORGETTING_DETECTED": 7,
    "SKIPPED": 8,
}


@dataclass
class Loop:
    """What every cycle of one run shares."""

    cfg: DictConfig
    registry: Registry
    sets: dict[str, Source]
    cache: EmbeddingCache
    settings: EvalSettings
    gate: GateConfig
    maker: CandidateMaker
    training: TrainingData  # replay, α and the training corpus; each cycle brings its own pairs
    arrivals_seen: list[str] = dataclasses.field(default_factory=list)  # sha256 of every arrival trained on
    split: Dataset | None = None  # the source's golden split over the corpus of record, without sealed queries
    sealed: list[dict] = dataclasses.field(default_factory=list)  # the sealed queries of record (registry)
    dev: list[dict] = dataclasses.field(default_factory=list)  # the dev queries of record (registry, role dev)
    sealing: list[dict] = dataclasses.field(default_factory=list)  # this cycle's of both roles, recorded with it

    @property
    def golden(self) -> str:
        return self.cfg.data.name

    def refresh_golden(self, split: Dataset | None = None) -> None:
        """The golden set of record: the golden split (over the corpus as it stands) plus every sealed query."""
        self.split = split or self.split or self.sets[self.golden].dataset
        dataset = golden_of_record(self.split, self.held("golden"))
        self.sets[self.golden] = dataclasses.replace(self.sets[self.golden], dataset=dataset)

    def held(self, role: str) -> list[dict]:
        """The arrival queries held out as ``role`` so far, this cycle's included."""
        return [*(self.sealed if role == "golden" else self.dev), *(e for e in self.sealing if e["role"] == role)]

    def dev_source(self) -> Source | None:
        """The cycle's dev split: every dev query held out of the arrivals so far, over the corpus of record."""
        entries = self.held("dev")
        if not entries:
            return None
        golden = self.sets[self.golden]
        empty = dataclasses.replace(self.split, name="dev", queries={}, qrels={})
        spec = dataclasses.replace(golden.spec, name="dev", corpus_sample=None, max_pairs=None, train_split=None)
        return Source(spec, golden_of_record(empty, entries), [])

    def record_sealing(self) -> None:
        """This cycle's held-out queries are now of record (the caller wrote them to the registry)."""
        self.sealed, self.dev, self.sealing = self.held("golden"), self.held("dev"), []


def fingerprint_pairs(pairs: list[Pair]) -> str:
    return stable_hash("\n".join(sorted(f"{p.source}\t{p.query_id}\t{p.doc_id}" for p in pairs)))


def run_folder(output_dir: Path, cycle: int) -> Path:
    """``cycle-NNN``, or ``cycle-NNN-attemptK`` when an earlier attempt at this cycle died (its files are kept)."""
    folder, attempt = output_dir / f"cycle-{cycle:03d}", 1
    while folder.exists():
        attempt += 1
        folder = output_dir / f"cycle-{cycle:03d}-attempt{attempt}"
    return folder


def ensure_incumbent(loop: Loop) -> Version:
    """The incumbent; on a new registry, the configured encoder registered as the base version."""
    incumbent = loop.registry.incumbent()
    if incumbent is not None:
        return incumbent
    encoder = OmegaConf.to_container(loop.cfg.encoder, resolve=True)
    data = OmegaConf.to_container(loop.cfg.data, resolve=True)  # what an export rebuilds the corpus from
    config = {"encoder": encoder, "data": data, "seed": int(loop.cfg.seed)}
    return loop.registry.add("base", kind="base", path=None, status="incumbent", config=config)


def version_reports(loop: Loop, version: Version, sets: dict[str, Source] | None = None) -> dict[str, Report]:
    """A version's report on every eval set: from the registry when it was made under the same evaluation
    settings (its ``evaluation_key``), else evaluated again (and stored) — a paired test needs both sides
    measured the same way."""
    folder = loop.registry.root / "reports" / version.id
    encoder = configured_encoder_settings(loop.cfg.encoder)
    reports, loaded = {}, None
    for name, source in (loop.sets if sets is None else sets).items():
        path = folder / f"{name}.json"
        if path.is_file():
            stored = Report.load(path)
            if stored.config.get("evaluation_key") == evaluation_key(source, loop.settings, encoder):
                reports[name] = stored
                continue
            console.print(f"{version.id}: stored {name} report was made under other settings; evaluating again")
        loaded = loaded or load_version(loop.registry, version, loop.cfg.encoder)
        loaded.encoder.eval()
        overrides = loaded.overrides if name == loop.golden else None
        reports[name] = evaluate_set(loaded.encoder, source, loop.cache, loop.settings, overrides)
        reports[name].save(path)
    return reports


def start_point(loop: Loop, incumbent: Version, reports: dict[str, Report]) -> StartPoint:
    base = encoder_version(loop.registry, incumbent)

    def load(trainable: bool):
        return load_version(loop.registry, base, loop.cfg.encoder, trainable).encoder

    return StartPoint(base.kind, base.id, reports, load)


def register(loop: Loop, candidate: Candidate, cycle: int, run_dir: Path, incumbent: Version, pairs) -> Version:
    folder = run_dir / "candidate"
    kind = candidate.save(folder)
    version = loop.registry.add(
        f"cycle{cycle}",
        kind=kind,
        path=str(folder),
        parent=incumbent.id,
        config={**candidate.settings, "lineage": lineage(loop, pairs)},
        metrics={name: r.means for name, r in candidate.reports.items()},
        data_fingerprint=fingerprint_pairs(pairs),
    )
    for name, report in candidate.reports.items():
        report.save(loop.registry.root / "reports" / version.id / f"{name}.json")
    return version


def lineage(loop: Loop, pairs: list[Pair]) -> dict:
    """What a version was trained on: the arrival files (by content hash), the corpus it was measured
    and mined against, and the pairs themselves."""
    corpus = loop.sets[loop.golden].dataset.corpus
    return {
        "arrivals": list(loop.arrivals_seen),
        "corpus": corpus_fingerprint(corpus),
        "corpus_documents": len(corpus),
        "pairs": fingerprint_pairs(pairs),
    }


def protected_slices(loop: Loop, incumbent: dict, candidate: dict, trained_docs: set[str]) -> dict:
    """``gate.slices``: name → the incumbent's and the candidate's golden vectors on that slice's queries."""
    if not loop.gate.slices:
        return {}
    golden, metric = loop.sets[loop.golden], loop.gate.metric
    spec = SliceSpec.from_config(loop.cfg.eval.get("slices"))
    dataset = golden.dataset
    built = build_slices(spec, dataset.queries, dataset.qrels, trained_docs, golden.spec.min_relevance)
    missing = [name for name in loop.gate.slices if name not in built]
    if missing:
        known = ", ".join(built) or "none: set eval.slices.rules or eval.slices.file"
        raise GateError(f"gate.slices names {', '.join(missing)}, not a slice of eval.slices (slices: {known})")
    inc, cand = incumbent[loop.golden], candidate[loop.golden]
    protected = {
        name: (inc.restricted(built[name]).per_query[metric], cand.restricted(built[name]).per_query[metric], metric)
        for name in loop.gate.slices
    }
    empty = [name for name, (vector, _, _) in protected.items() if not vector]
    if empty:
        raise GateError(f"gate.slices: {', '.join(empty)} has no query of the golden set judged this cycle")
    return protected


def judge(
    loop: Loop, incumbent: dict, candidate: dict, base: dict | None, looks: list[dict], trained_docs=frozenset()
) -> Verdict:
    """The gate on the golden set (at this look's share of α), every probe — against the incumbent
    and against the base model — each probe on its own ``gate_metric`` if it names one, and every
    protected golden slice (``gate.slices``)."""
    metric = loop.gate.metric
    probes, base_probes = {}, {}
    for name, source in loop.sets.items():
        if name != loop.golden:
            on = source.spec.gate_metric or loop.gate.probe_metric or metric
            probes[name] = (incumbent[name].per_query[on], candidate[name].per_query[on], on)
            if base is not None:
                base_probes[name] = (base[name].per_query[on], candidate[name].per_query[on], on)
    golden = loop.golden
    alpha = next_level(loop.gate.alpha, loop.gate.alpha_spending, [(look["alpha"], look["p"]) for look in looks])
    return decide(
        incumbent[golden].per_query[metric],
        candidate[golden].per_query[metric],
        probes,
        loop.gate,
        base_probes=base_probes,
        alpha=alpha,
        past_sds=[look["sd"] for look in looks],
        slices=protected_slices(loop, incumbent, candidate, set(trained_docs)),
    )


def golden_for_this_look(loop: Loop, look: int, *reports: dict | None) -> tuple[dict | None, list]:
    """With ``gate.golden_refresh``: every report's golden part cut to this look's fresh sample of the
    pool (and which sample it was, for the history line); otherwise the reports as they are."""
    size = loop.gate.golden_refresh
    if not size:
        return None, list(reports)
    pool = sorted(loop.sets[loop.golden].dataset.queries)
    ids = golden_sample(pool, int(size), look, loop.cfg.seed)
    cut = [None if r is None else {**r, loop.golden: r[loop.golden].restricted(ids)} for r in reports]
    return {"queries": len(ids), "pool": len(pool), "index": look, "fingerprint": stable_hash("\n".join(ids))}, cut


def count_look(loop: Loop, version: Version, verdict: Verdict) -> dict:
    """Record this decision on the golden set; what has been spent of α so far, and what is left."""
    golden, gate = verdict.golden, loop.gate
    fingerprint = golden_fingerprint(loop.sets[loop.golden])  # what the golden set holds at this look
    level = verdict.config["alpha_this_look"]  # the superiority test's level and p: what the ledger spends
    look = loop.registry.record_look(
        fingerprint, version.id, level, golden.p_superiority, golden.sd, verdict.verdict, gate.metric
    )
    spent = alpha_spent(look, gate.alpha, gate.alpha_spending)
    return {
        "golden": fingerprint,
        "look": look,
        "alpha": level,
        "alpha_spent": spent,
        "alpha_left": gate.alpha - spent if gate.alpha_spending != "none" else None,
        "rule": gate.alpha_spending,
    }


def write_evidence(
    run_dir: Path, verdict: Verdict, candidate: dict, incumbent: dict, base: dict | None, golden: str
) -> list[dict]:
    """``gate_eval.json`` and ``forgetting_eval.json`` (with per-query probe deltas); returns the probe rows."""
    gate_eval = {
        **verdict.to_dict(),
        "golden_set": golden,
        "candidate_means": candidate[golden].means,
        "incumbent_means": incumbent[golden].means,
    }
    probes = []
    for check in verdict.probes:
        if check.against == "slice":  # a part of the golden set: its per-query deltas are the golden ones
            probes.append(check.to_dict())
            continue
        metric = check.comparison.metric
        reference = base if check.against == "base" else incumbent
        cand, inc = candidate[check.name].per_query[metric], reference[check.name].per_query[metric]
        probes.append({**check.to_dict(), "per_query_delta": {q: cand[q] - inc[q] for q in sorted(cand)}})
    write_json(run_dir / "gate_eval.json", gate_eval)
    write_json(run_dir / "forgetting_eval.json", {"verdict": verdict.verdict, "probes": probes})
    return probes


def act_on(loop: Loop, verdict: Verdict, version: Version, candidate: Candidate, cycle: int) -> dict | None:
    """Promote (switching the serving index first), mark pending, or reject; returns the serving index's
    coverage (the incumbent's index follows a grown corpus too)."""
    corpus, cache, show = loop.sets[loop.golden].dataset.corpus, loop.cache, loop.settings.show_progress
    if verdict.verdict == PROMOTED:
        coverage = blue_green_index(loop.registry, version, candidate.encoder, corpus, cache, candidate.overrides, show)
        loop.registry.promote(version.id, reason=f"cycle {cycle}: PROMOTED")
    else:
        if verdict.verdict == PENDING_APPROVAL:
            loop.registry.mark_pending(version.id)
        else:
            loop.registry.reject(version.id, reason=f"cycle {cycle}: {verdict.verdict}")
        coverage = serve_incumbent(loop)
    log_version_artifact(loop.cfg, loop.registry.get(version.id), verdict.verdict, verdict.verdict == PROMOTED)
    return coverage


def serve_incumbent(loop: Loop) -> dict:
    """Keep the serving index the incumbent's over the current corpus: built on a new registry, and
    extended by the documents that joined (embedded by the incumbent's passage tower)."""
    incumbent, corpus = ensure_incumbent(loop), loop.sets[loop.golden].dataset.corpus
    served = serving_state(loop.registry)
    if served.get("version") == incumbent.id and served.get("corpus") == corpus_fingerprint(corpus):
        return unchanged(corpus, served)  # known without loading the incumbent
    loaded = load_version(loop.registry, incumbent, loop.cfg.encoder)
    loaded.encoder.eval()
    show = loop.settings.show_progress
    return blue_green_index(loop.registry, incumbent, loaded.encoder, corpus, loop.cache, loaded.overrides, show)


def against_base(loop: Loop, base: dict | None, candidate: dict) -> dict | None:
    """The golden gain over the original model (reported, not gated: the gate compares with the incumbent)."""
    if base is None:
        return None
    return candidate[loop.golden].compare_to(base[loop.golden], loop.gate.metric, seed=loop.gate.seed).to_dict()


def cost(loop: Loop, wall_s: float) -> dict:
    import torch

    device_hours = wall_s / 3600 * max(1, torch.cuda.device_count())
    price = float(loop.cfg.cost.price_per_hour)
    return {"device_hours": device_hours, "price_per_hour": price, "total": device_hours * price}


def seal_arrivals(loop: Loop, cycle: int, new: list[Pair], seen: list[Pair], origins: dict) -> dict:
    """Seal ``golden.seal`` of this cycle's arriving queries into the golden set of record (pending until
    the caller records them); returns what it cost in training pairs."""
    share, dev_share = float(loop.cfg.golden.seal), float(loop.cfg.dev.get("arrival_share") or 0)
    near_dup = loop.cfg.arrivals.get("near_dup")
    embed = query_embedder(loop) if share + dev_share and near_dup is not None else None
    arriving = set(new)
    trained = [p for p in seen if p not in arriving]
    sealed = seal(new, trained, share, int(loop.cfg.seed), cycle, origins, embed, near_dup, dev_share)
    loop.sealing = [*sealed.entries, *sealed.dev]
    loop.refresh_golden()
    dev = {"share": dev_share, "queries": len(sealed.dev), "pairs": sealed.pairs_dev}
    return {"share": share, "queries": sealed.queries, "pairs": sealed.pairs_sealed, "dev": dev}


def run_cycle(
    loop: Loop, cycle: int, new_pairs: list[Pair], seen_pairs: list[Pair], injected: bool, origins: dict
) -> dict:
    began = time.perf_counter()
    cfg = loop.cfg
    run_dir = run_folder(Path(cfg.output_dir), cycle)
    incumbent = ensure_incumbent(loop)
    sealing = seal_arrivals(loop, cycle, new_pairs, seen_pairs, origins)
    sealed, held = loop.held("golden"), [*loop.held("golden"), *loop.held("dev")]
    new_pairs, seen_pairs = unsealed(new_pairs, held), unsealed(seen_pairs, held)  # a held-out query never trains
    pairs = seen_pairs if cfg.loop.train_on == "all" or loop.maker.uses_all_pairs else new_pairs
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
        return {**line, "verdict": "SKIPPED", "reasons": [str(err)], "wall_s": time.perf_counter() - began}
    trained_docs, golden = {p.doc_id for p in pairs}, loop.sets[loop.golden]

    data = dataclasses.replace(loop.training, pairs=pairs)
    dev = loop.dev_source()
    sets = {**loop.sets, "dev": dev} if dev else loop.sets  # dev chooses inside training; the gate never reads it
    start_reports = {**inc_reports, **(version_reports(loop, incumbent, {"dev": dev}) if dev else {})}
    context = {"golden": loop.golden, "cache": loop.cache, "settings": loop.settings}
    start = start_point(loop, incumbent, start_reports)
    trained, recipes = train_candidates(cfg, loop.maker, start, data, sets, context, run_dir)
    dev_line = {"queries": len(dev.dataset.queries) if dev else 0, "metric": str(cfg.eval.primary)}
    if trained.dev_gain is not None and trained.dev_gain <= 0:  # dev hands the incumbent back: no candidate
        reason = (
            f"no declared recipe beat the incumbent on the cycle's dev split (best dev Δ {cfg.eval.primary} "
            f"{trained.dev_gain:+.4f}, n={dev_line['queries']}): nothing to gate, no look spent"
        )
        wall = time.perf_counter() - began
        return {**line, "verdict": "SKIPPED", "reasons": [reason], "recipes": recipes, "dev": dev_line, "wall_s": wall}
    candidate = trained.candidate
    version = register(loop, candidate, cycle, run_dir, incumbent, pairs)
    base = loop.registry.lineage_root(incumbent)
    base_reports = version_reports(loop, base) if base.id != incumbent.id else None
    earlier = loop.registry.looks()
    sample, judged = golden_for_this_look(loop, len(earlier), inc_reports, candidate.reports, base_reports)
    verdict = judge(loop, *judged, earlier, trained_docs=trained_docs)
    composition_held = composition(golden.dataset, sealed, trained_docs, golden.min_relevance)
    composition_held["judged"] = verdict.golden.comparison.n
    looks = count_look(loop, version, verdict)
    probes = write_evidence(run_dir, verdict, judged[1], judged[0], judged[2], loop.golden)
    coverage = act_on(loop, verdict, version, candidate, cycle)
    wall = time.perf_counter() - began
    return {
        **line,
        "candidate": version.id,
        "kind": version.kind,
        "verdict": verdict.verdict,
        "reasons": verdict.reasons,
        "metric": loop.gate.metric,
        "golden_name": loop.golden,
        "candidate_metric": verdict.golden.comparison.mean_b,
        "incumbent_metric": verdict.golden.comparison.mean_a,
        "threshold": verdict.golden_threshold,
        "golden": verdict.golden.to_dict(),
        "golden_vs_base": against_base(loop, base_reports, candidate.reports),
        "looks": looks,
        "golden_sample": sample,
        "golden_set": composition_held,
        "recipes": recipes,
        "dev": dev_line,
        "failing": verdict.failing,
        "probes": probes,
        "coverage": coverage,
        "wall_s": wall,
        "train_wall_s": candidate.wall_s,
        "peak_rss_mb": peak_rss_mb(),
        "cost": cost(loop, wall),
        "evidence": str(run_dir),
    }


def arrival_batches(cfg: DictConfig, pairs: list[Pair]) -> list[tuple[list[Pair], bool]]:
    """This run's cycles: (new pairs, whether an off-distribution batch was injected) per cycle."""
    batches = arrivals(pairs, list(cfg.loop.schedule), cfg.seed)
    if int(cfg.loop.cycles) > len(batches):
        raise LoopConfigError(f"loop.cycles={cfg.loop.cycles} but loop.schedule has {len(batches)} arrival shares")
    inject = cfg.loop.inject
    injected = []
    if inject:
        injected = load_source(SourceSpec.from_config(inject.source, "loop.inject.source"), cfg.seed).pairs
    cycles = []
    for index in range(int(cfg.loop.cycles)):
        with_batch = bool(inject) and index + 1 == int(inject.cycle)
        cycles.append((list(batches[index]) + (injected if with_batch else []), with_batch))
    return cycles


def abandon_dead_candidates(registry: Registry) -> None:
    """Holding the cycle lock, any undecided candidate is from a cycle that died."""
    for version in registry.versions():
        if version.status == "candidate" and version.note != "pending approval":
            registry.reject(version.id, reason="abandoned: the cycle that trained it did not finish")


def report_cycle(loop: Loop, history_path: Path, line: dict) -> dict:
    append_history(history_path, line)
    console.print(f"cycle {line['cycle']}: [bold]{line['verdict']}[/bold]")
    for reason in line["reasons"]:
        console.print(f"  - {reason}")
    return line


def run_schedule(loop: Loop, history_path: Path, first: int) -> list[dict]:
    """The simulation mode: the golden source's training split arriving in ``loop.schedule`` shares."""
    seen: list[Pair] = []
    lines = []
    split = loop.cfg.data.get("train_split") or "train"
    for cycle, (new, injected) in enumerate(arrival_batches(loop.cfg, loop.training.pairs), start=first):
        seen += new
        console.rule(f"cycle {cycle}: {len(new)} new pairs, {len(seen)} seen")
        origins = {p.query_id: (f"{p.source or loop.golden}:{split}", None) for p in new}
        line = run_cycle(loop, cycle, new, seen, injected, origins)
        loop.registry.record_sealed(loop.sealing)
        loop.record_sealing()
        lines.append(report_cycle(loop, history_path, line))
    return lines


def run_inbox(loop: Loop, history_path: Path, first: int) -> list[dict]:
    """A team's own pair files: every file not yet consumed is an arrival (one cycle, or one per file).
    Corpus deltas join the first of this run's cycles; the golden set and the mining corpus are the
    corpus of record as it stands at each cycle."""
    cfg, golden, mining = loop.cfg, loop.sets[loop.golden], loop.training.corpus
    inbox = Inbox(cfg.arrivals.path, loop.registry, cfg.arrivals.format, cfg.arrivals.columns, cfg.get("domain"))
    consumed = inbox.consumed()
    of_record = consumed.grow(golden.dataset)
    titles = dict(of_record.titles)
    good, bad = inbox.read(CorpusIndex(of_record.corpus, titles), golden.name)
    problems = [problem for delivery in bad for problem in delivery.arrival.problems]
    if bad and cfg.arrivals.strict:
        raise DataError(f"arrivals.strict=true and {len(bad)} file(s) have bad rows:\n" + "\n".join(problems))
    quarantined = inbox.quarantine(bad, first)
    for problem in problems:
        console.print(f"[red]quarantined[/red] {problem}")
    deltas = [d for d in good if d.is_corpus_delta]
    pair_files = [d for d in good if not d.is_corpus_delta]
    pair_files = inbox.set_aside_other_domains(pair_files, first - 1)
    take = cfg.arrivals.get("take", "all")
    if take not in ("all", "next"):
        raise LoopConfigError(f"arrivals.take must be all or next, got {take!r}")
    pair_files = pair_files[:1] if take == "next" else pair_files  # the rest wait for the next run
    if not pair_files:
        waiting = f" ({len(deltas)} corpus delta(s) wait for pairs)" if deltas else ""
        print(f"no new pairs since cycle {first - 1}{waiting}")
        return []
    seen, negatives, documents = consumed.pairs, consumed.negatives, dict(consumed.documents)
    groups = [[d] for d in pair_files] if cfg.loop.per_file else [pair_files]
    groups[0] = deltas + groups[0]
    lines = []
    for cycle, group in enumerate(groups, start=first):
        added = {}
        for delivery in group:
            add_negatives(negatives, delivery.arrival.negatives.items())
            titles.update(delivery.arrival.titles)
            added.update({k: v for k, v in delivery.arrival.new_documents.items() if k not in documents})
        documents.update(added)
        loop.arrivals_seen = [*consumed_files(inbox), *(d.sha256 for d in group)]
        grown = with_documents(golden.dataset, documents, titles)
        loop.refresh_golden(grown)  # with the sealed queries of record: the audit keeps their copies out too
        corpus = with_documents(mining, documents, titles) if mining is not None else None
        loop.training = dataclasses.replace(loop.training, negatives=negatives, corpus=corpus)
        pairs_in = [d for d in group if not d.is_corpus_delta]
        leakage = audit_deliveries(loop, pairs_in) if cfg.arrivals.get("near_dup") is not None else {}
        for delivery in group:
            inbox.keep(delivery)  # the audited pairs, before the file can be marked consumed
        new = [pair for delivery in group for pair in delivery.arrival.pairs]
        seen += new
        origins = {q: (d.path.name, line) for d in group for q, line in d.arrival.lines.items()}
        console.rule(f"cycle {cycle}: {len(new)} new pairs from {len(group)} file(s), {len(seen)} seen")
        line = run_cycle(loop, cycle, new, seen, False, origins)
        line["corpus"] = {
            "documents": len(grown.corpus),
            "added": len(added),
            "fingerprint": corpus_fingerprint(grown.corpus),
        }
        line["arrivals"] = [d.arrival.manifest() for d in group]
        line["leakage"] = {d.path.name: leakage[d.path.name] for d in group if d.path.name in leakage}
        line["quarantined"] = quarantined if cycle == first else []
        inbox.consume(group, line.get("candidate"), cycle, loop.sealing)
        loop.record_sealing()
        lines.append(report_cycle(loop, history_path, line))
    return lines


def consumed_files(inbox: Inbox) -> list[str]:
    return [sha for sha, entry in inbox.registry.arrivals().items() if entry["status"] == "consumed"]


def query_embedder(loop: Loop):
    """``texts → unit vectors`` by the incumbent's query tower, through the cache (the audit's and sealing's)."""
    encoder = load_version(loop.registry, ensure_incumbent(loop), loop.cfg.encoder).encoder
    encoder.eval()

    def embed(texts):
        return unit(loop.cache.encode(encoder, list(texts), "query", show_progress=False))

    return embed


def audit_deliveries(loop: Loop, deliveries) -> dict[str, dict]:
    """Drop, from each arriving file, the pairs whose query copies a golden (sealed ones included) or
    probe query (equal, or near-duplicate by the incumbent's query tower); returns each file's audit."""
    embed = query_embedder(loop)
    reports = {}
    for delivery in deliveries:
        kept, report = audit(delivery.arrival.pairs, loop.sets, loop.golden, embed, float(loop.cfg.arrivals.near_dup))
        delivery.arrival.pairs = kept
        delivery.arrival.dropped.update({f"leakage: {why}": n for why, n in report["dropped"].items()})
        reports[delivery.path.name] = report
    return reports


def run_loop(cfg: DictConfig) -> list[dict]:
    """Cycles on the simulation schedule, or on the arrivals inbox when ``arrivals.path`` is set; the
    history lines of the cycles run (none when nothing new arrived)."""
    cfg = with_recipe(cfg)  # recipe=X: the cycle trains X alone
    domain = cfg.get("domain")
    registry = Registry(registry_root(cfg.registry.root, domain))
    history_path = registry.root / "history.jsonl"
    gate = GateConfig(**OmegaConf.to_container(cfg.gate, resolve=True))
    check_share(float(cfg.golden.seal), float(cfg.dev.get("arrival_share") or 0))
    for ref in declared(cfg):
        if ref != OWN:
            Recipe.load(ref).apply(cfg)  # a missing, unreadable or golden-tuned recipe fails before any work
    with registry.cycle_lock():
        check_ledger_metric(gate.metric, registry.looks(), read_history(history_path))
        abandon_dead_candidates(registry)
        training, dev = load_training_data(cfg)
        if dev is not None:
            raise LoopConfigError(CYCLE_DEV)
        sets = load_eval_sets(cfg)
        if domain:
            training, sets = scope(cfg, training, sets)
        cache, settings = EmbeddingCache.from_config(cfg), EvalSettings.from_config(cfg)
        loop = Loop(cfg, registry, sets, cache, settings, gate, instantiate(cfg.adapter), training)
        loop.sealed, loop.dev = registry.sealed("golden"), registry.sealed("dev")
        loop.refresh_golden()
        first = len(read_history(history_path)) + 1
        run = run_inbox if cfg.get("arrivals") and cfg.arrivals.path else run_schedule
        lines = run(loop, history_path, first)
    if lines:
        for path in cycle_figures(history_path, registry.root / "figures"):
            print(path)
        print(history_path)
    return lines
