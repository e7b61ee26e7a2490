"""One candidate through the gate: registered with its lineage, judged, the look counted, the evidence
written, and the verdict acted on.

Everything after training and before the history line, in the order it must happen: the candidate is
in the registry before any look is spent on it, the look is on the ledger before the evidence names
it, and the serving index has switched before the registry says PROMOTED.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from recft.common.atomic import write_json
from recft.common.faults import pause_point
from recft.common.hashing import stable_hash
from recft.data.growth import corpus_fingerprint
from recft.data.pairs import Pair
from recft.eval.report import Report
from recft.loop.gate.promotion import Verdict, is_slice
from recft.loop.gate.verdicts import PENDING_APPROVAL, PROMOTED
from recft.loop.intake.sealing import composition
from recft.loop.orchestration.context import Loop
from recft.loop.orchestration.incumbent import serve_incumbent, version_reports
from recft.loop.orchestration.judging import (
    Sides,
    against_base,
    count_look,
    golden_for_this_look,
    golden_slice_ids,
    golden_slices,
    judge,
    open_look,
)
from recft.loop.storage.registry import Version
from recft.loop.storage.serving import blue_green_index, log_version_artifact
from recft.training.candidate import Candidate


@dataclass(frozen=True)
class Decision:
    """What the gate said of one registered candidate, and what the cycle did about it."""

    version: Version
    verdict: Verdict
    golden_vs_base: dict | None
    looks: dict
    golden_sample: dict | None
    golden_set: dict
    probes: list[dict]
    coverage: dict | None
    slices: dict  # golden slice → n, Δ vs the incumbent, CI, p (recft.loop.orchestration.judging.golden_slices)

    def judged(self, loop: Loop) -> dict:
        """The history line's account of the decision, up to the golden set it was made on."""
        verdict = self.verdict
        return {
            "candidate": self.version.id,
            "kind": self.version.kind,
            "verdict": verdict.verdict,
            "reasons": verdict.reasons,
            "metric": loop.gate.metric,
            "golden_name": loop.golden,
            "candidate_metric": verdict.golden.comparison.mean_b,
            "incumbent_metric": verdict.golden.comparison.mean_a,
            "threshold": verdict.golden_threshold,
            "golden": verdict.golden.to_dict(),
            "golden_vs_base": self.golden_vs_base,
            "looks": self.looks,
            "golden_sample": self.golden_sample,
            "golden_set": self.golden_set,
            "slices": self.slices,
        }

    def acted(self) -> dict:
        """The history line's failing checks, probe rows and serving index."""
        return {"failing": self.verdict.failing, "probes": self.probes, "coverage": self.coverage}


def fingerprint_pairs(pairs: list[Pair]) -> str:
    return stable_hash("\n".join(sorted(f"{p.source}\t{p.query_id}\t{p.doc_id}" for p in pairs)))


@dataclass(frozen=True)
class TrainedOn:
    """What a cycle's candidate learned from: the pairs it trained on this cycle, every pair the loop
    may train on so far (its documents are the golden ``seen_in_training`` slice), and ``seen`` — the
    count and fingerprint of every pair so far, in arrival order (a later cycle trains on what follows)."""

    pairs: list[Pair]
    all_pairs: list[Pair]
    seen: dict

    @property
    def documents(self) -> set[str]:
        return {p.doc_id for p in [*self.pairs, *self.all_pairs]}


def lineage(loop: Loop, trained_on: TrainedOn) -> dict:
    """What a version was trained on: the arrival files (by content hash), the corpus it was measured
    and mined against, the pairs themselves, and how many of the loop's pairs so far it had seen."""
    corpus = loop.sets[loop.golden].dataset.corpus
    return {
        "arrivals": list(loop.arrivals_seen),
        "corpus": corpus_fingerprint(corpus),
        "corpus_documents": len(corpus),
        "pairs": fingerprint_pairs(trained_on.pairs),
        "seen": dict(trained_on.seen),
    }


def register(
    loop: Loop, candidate: Candidate, cycle: int, run_dir: Path, incumbent: Version, trained_on: TrainedOn
) -> Version:
    folder = run_dir / "candidate"
    kind = candidate.save(folder)
    version = loop.registry.add(
        f"cycle{cycle}",
        kind=kind,
        path=str(folder),
        parent=incumbent.id,
        config={**candidate.settings, "lineage": lineage(loop, trained_on)},
        metrics={name: r.means for name, r in candidate.reports.items()},
        data_fingerprint=fingerprint_pairs(trained_on.pairs),
    )
    for name, report in candidate.reports.items():
        report.save(loop.registry.root / "reports" / version.id / f"{name}.json")
    return version


def write_evidence(run_dir: Path, verdict: Verdict, sides: Sides, golden: str) -> list[dict]:
    """``gate_eval.json`` and ``forgetting_eval.json`` (with per-query probe deltas); returns the probe rows."""
    incumbent, candidate, base = sides
    gate_eval = {
        **verdict.to_dict(),
        "golden_set": golden,
        "candidate_means": candidate[golden].means,
        "incumbent_means": incumbent[golden].means,
    }
    probes = []
    for check in verdict.probes:
        if is_slice(check.against):  # a part of the golden set: its per-query deltas are the golden ones
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
    corpus, cache, show = loop.sets[loop.golden].dataset.corpus, loop.cache, loop.eval_settings.show_progress
    if verdict.verdict == PROMOTED:
        coverage = blue_green_index(loop.registry, version, candidate.encoder, corpus, cache, candidate.overrides, show)
        loop.registry.promote(version.id, reason=f"cycle {cycle}: PROMOTED")
    else:
        if verdict.verdict == PENDING_APPROVAL:
            loop.registry.mark_pending(version.id)
        else:
            loop.registry.reject(version.id, reason=f"cycle {cycle}: {verdict.verdict}")
        coverage = serve_incumbent(loop)
    log_version_artifact(
        loop.settings.wandb,
        loop.settings.output_dir,
        loop.registry.get(version.id),
        verdict.verdict,
        verdict.verdict == PROMOTED,
    )
    return coverage


def ungated(loop: Loop, verdict: Verdict) -> Verdict:
    """With ``loop.gated=false`` the candidate is promoted whatever the gate said; what it said stays in
    the reasons (and the look is recorded as usual: the arm's ledger is its own registry's)."""
    if loop.settings.loop.gated or verdict.verdict == PROMOTED:
        return verdict
    said = f"loop.gated=false: promoted although the gate said {verdict.verdict}"
    return dataclasses.replace(verdict, verdict=PROMOTED, reasons=[said, *verdict.reasons])


def gate_candidate(
    loop: Loop,
    candidate: Candidate,
    cycle: int,
    run_dir: Path,
    incumbent: Version,
    trained_on: TrainedOn,
    incumbent_reports: dict,
) -> Decision:
    """Register the candidate, judge it against the incumbent (and the base model), count the look,
    write the evidence and act on the verdict."""
    earlier = loop.registry.looks()
    seq = open_look(loop, earlier)  # spent before the golden result is stored: a re-run is held to the next level
    pause_point("look_opened")
    version = register(loop, candidate, cycle, run_dir, incumbent, trained_on)
    pause_point("registered")
    base = loop.registry.lineage_root(incumbent)
    base_reports: dict[str, Report] | None = version_reports(loop, base) if base.id != incumbent.id else None
    sides = Sides(incumbent_reports, candidate.reports, base_reports)
    sample, sides = golden_for_this_look(loop, len(earlier), sides)
    trained_docs, golden = trained_on.documents, loop.sets[loop.golden]
    slice_ids = golden_slice_ids(loop, trained_docs)  # one cut of the golden set, for the gate and the history
    verdict = ungated(loop, judge(loop, sides, earlier, slice_ids=slice_ids))
    golden_set = composition(golden.dataset, loop.held("golden"), trained_docs, golden.min_relevance)
    golden_set["judged"] = verdict.golden.comparison.n
    pause_point("judged")
    looks = count_look(loop, version, verdict, seq)
    probes = write_evidence(run_dir, verdict, sides, loop.golden)
    coverage = act_on(loop, verdict, version, candidate, cycle)
    vs_base = against_base(loop, base_reports, candidate.reports)
    slices = golden_slices(loop, sides.incumbent, sides.candidate, slice_ids)
    return Decision(version, verdict, vs_base, looks, sample, golden_set, probes, coverage, slices)
