"""The gate's questions as a cycle asks them: which vectors it compares, at which look's level.

``recft.loop.gate.promotion`` decides from per-query vectors and knows nothing of eval sets or registries;
this is where a cycle's reports become those vectors — the golden set (cut to this look's sample
with ``gate.golden_refresh``), every probe on its own metric, against the incumbent and the base
model, and every protected golden slice — and where the look is counted on the loop's ledger.
"""

from __future__ import annotations

from typing import Mapping, NamedTuple

from recft.common.hashing import stable_hash
from recft.eval.slices import build_slices, slice_deltas
from recft.loop.gate.looks import alpha_spent, golden_fingerprint, golden_sample, ledger_terms, next_level
from recft.loop.gate.promotion import BaseVectors, Verdict, check_slice_names, decide
from recft.loop.orchestration.context import Loop
from recft.loop.storage.registry import Version


def golden_slice_ids(loop: Loop, trained_docs: set[str]) -> dict[str, set[str]]:
    """``eval.slices`` on the golden set of record: slice name → query ids (``seen`` against ``trained_docs``)."""
    spec = loop.settings.slices
    if not spec:
        return {}
    golden = loop.sets[loop.golden]
    return build_slices(spec, golden.dataset.queries, golden.dataset.qrels, trained_docs, golden.spec.min_relevance)


def golden_slices(loop: Loop, incumbent: dict, candidate: dict, slice_ids: Mapping[str, set[str]]) -> dict:
    """Every golden slice's n and candidate − incumbent Δ on ``gate.metric`` with its CI and p: where the
    golden gain comes from (the history line's ``slices``; ``{"n": 0}`` for an empty slice)."""
    metric, seed = loop.gate.metric, loop.gate.seed
    rows = slice_deltas(incumbent[loop.golden], candidate[loop.golden], slice_ids, [metric], seed)
    return {name: found[0] if found else {"n": 0} for name, found in rows.items()}


def protected_slices(loop: Loop, reference: dict | None, candidate: dict, slice_ids: Mapping[str, set[str]]) -> dict:
    """``gate.slices``: name → the reference's (incumbent's or base model's) and the candidate's golden vectors
    on that slice's queries. A slice that holds no query this cycle (every golden query seen, say) has
    nothing to protect and is left out; so is every slice when there is no reference (the incumbent is the base)."""
    if not loop.gate.slices or reference is None:
        return {}
    metric = loop.gate.metric
    check_slice_names(loop.gate.slices, list(slice_ids))
    ref, cand = reference[loop.golden], candidate[loop.golden]
    protected = {}
    for name in loop.gate.slices:
        ids = slice_ids[name]
        protected[name] = (ref.restricted(ids).per_query[metric], cand.restricted(ids).per_query[metric], metric)
    return {name: vectors for name, vectors in protected.items() if vectors[0]}


class Sides(NamedTuple):
    """The reports a decision compares, by eval set name: the incumbent's, the candidate's, and the base
    model's (None while the incumbent is the base)."""

    incumbent: dict
    candidate: dict
    base: dict | None


def judge(loop: Loop, sides: Sides, looks: list[dict], slice_ids: Mapping = {}) -> Verdict:
    """The gate on the golden set (at this look's share of α), every probe — against the incumbent
    and against the base model — each probe on its own ``gate_metric`` if it names one, and every
    protected golden slice (``gate.slices``, cut from ``slice_ids``: ``golden_slice_ids``) against the
    incumbent and the base model, as ``gate.slices_against`` says: held against the base, the slice cannot
    slide by a tolerance's worth at every promotion."""
    incumbent, candidate, base = sides
    metric = loop.gate.metric
    probes, base_probes = {}, {}
    for name, source in loop.sets.items():
        if name != loop.golden:
            on = loop.gate.probe_metric_for(source.spec.gate_metric)
            probes[name] = (incumbent[name].per_query[on], candidate[name].per_query[on], on)
            if base is not None:
                base_probes[name] = (base[name].per_query[on], candidate[name].per_query[on], on)
    golden = loop.golden
    alpha = next_level(loop.gate.alpha, loop.gate.alpha_spending, [(look["alpha"], look["p"]) for look in looks])
    slices = protected_slices(loop, incumbent, candidate, slice_ids)
    verdict = decide(
        incumbent[golden].per_query[metric],
        candidate[golden].per_query[metric],
        probes,
        loop.gate,
        base=BaseVectors(base_probes, protected_slices(loop, base, candidate, slice_ids)) if base else None,
        alpha=alpha,
        past_sds=[look["sd"] for look in looks],
        slices=slices,
    )
    empty = [name for name in loop.gate.slices if name not in slices]
    said = "no golden query in it this cycle, so it was not checked"
    verdict.reasons += [f"golden slice {name}: {said}" for name in empty]
    return verdict


def golden_for_this_look(loop: Loop, look: int, sides: Sides) -> tuple[dict | None, Sides]:
    """With ``gate.golden_refresh``: every report's golden part cut to this look's fresh sample of the
    pool (and which sample it was, for the history line); otherwise the reports as they are."""
    size = loop.gate.golden_refresh
    if not size:
        return None, sides
    pool = sorted(loop.sets[loop.golden].dataset.queries)
    ids = golden_sample(pool, int(size), look, loop.settings.seed)
    cut = Sides(*(None if r is None else {**r, loop.golden: r[loop.golden].restricted(ids)} for r in sides))
    return {"queries": len(ids), "pool": len(pool), "index": look, "fingerprint": stable_hash("\n".join(ids))}, cut


def open_look(loop: Loop, earlier: list[dict]) -> int:
    """Spend this decision's look on the ledger before the candidate's golden result is stored (the
    registry's ``open_look``): at the level the gate will hold it to, with the ledger's terms."""
    gate = loop.gate
    level = next_level(gate.alpha, gate.alpha_spending, [(look["alpha"], look["p"]) for look in earlier])
    fingerprint = golden_fingerprint(loop.sets[loop.golden])  # what the golden set holds at this look
    return loop.registry.open_look(fingerprint, level, gate.metric, ledger_terms(gate))


def count_look(loop: Loop, version: Version, verdict: Verdict, seq: int) -> dict:
    """Record the gate's verdict on the look ``open_look`` spent; what has been spent of α so far, and what
    is left."""
    golden, gate = verdict.golden, loop.gate
    look = loop.registry.close_look(seq, version.id, golden.p_superiority, golden.sd, verdict.verdict)
    spent = alpha_spent(look, gate.alpha, gate.alpha_spending)
    return {
        "golden": golden_fingerprint(loop.sets[loop.golden]),
        "look": look,
        "alpha": verdict.config["alpha_this_look"],
        "alpha_spent": spent,
        "alpha_left": gate.alpha - spent if gate.alpha_spending != "none" else None,
        "rule": gate.alpha_spending,
    }


def against_base(loop: Loop, base: dict | None, candidate: dict) -> dict | None:
    """The golden gain over the original model (reported, not gated: the gate compares with the incumbent)."""
    if base is None:
        return None
    return candidate[loop.golden].compare_to(base[loop.golden], loop.gate.metric, seed=loop.gate.seed).to_dict()
