"""Query slices: a report split by who the queries are, with a paired Δ and interval per slice.

A mean over 300 queries can hide a slice that got worse — the long-tail queries, a "confusion set"
of near-duplicate products, the queries whose answer no training pair ever pointed at. Slices come
from a file a team keeps, or from built-in rules:

* a **slice file**: TSV ``query-id<TAB>slice`` (a header line ``query-id  slice`` and ``#`` comments
  allowed; a query may be in several slices, one line each);
* ``query_length``: ``short`` (at most ``short_words`` words) and ``long`` queries;
* ``seen_in_training``: ``seen`` when a relevant document of the query is in a training pair (what
  NUDGE's touched/untouched split measures: the only queries NUDGE can move), else ``unseen``.

Slice names are ``rule:value`` for the rules and the file's own names for a file. The gate can hold
a candidate to non-inferiority on named slices (``gate.slices``; ``recft.loop.gate.promotion``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from recft.common.errors import RecftError
from recft.eval.report import Report

RULE_SLICES = {"query_length": ("short", "long"), "seen_in_training": ("seen", "unseen")}  # rule → its slices
RULES = tuple(RULE_SLICES)


class SliceError(RecftError, ValueError):
    """A slice file or rule that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class SliceSpec:
    rules: tuple[str, ...] = ()
    file: str | None = None
    short_words: int = 8

    def __post_init__(self):
        unknown = [r for r in self.rules if r not in RULES]
        if unknown:
            raise SliceError(f"eval.slices.rules: unknown rule(s) {', '.join(unknown)} (known: {', '.join(RULES)})")

    @classmethod
    def from_config(cls, node) -> "SliceSpec":
        if not node:
            return cls()
        return cls(tuple(node.get("rules") or ()), node.get("file"), int(node.get("short_words", 8)))

    def __bool__(self) -> bool:
        return bool(self.rules or self.file)


def read_slice_file(path: str | Path) -> dict[str, set[str]]:
    """slice → query ids, from a TSV ``query-id<TAB>slice`` file."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise SliceError(f"{path}: slice file not found") from None
    slices: dict[str, set[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise SliceError(f"{path}:{number}: expected 'query-id<TAB>slice', got {line!r}")
        query, name = (f.strip() for f in fields)
        if number == 1 and (query, name) == ("query-id", "slice"):
            continue
        slices.setdefault(name, set()).add(query)
    if not slices:
        raise SliceError(f"{path}: no slices (expected lines 'query-id<TAB>slice')")
    return slices


def slice_names(spec: SliceSpec) -> set[str]:
    """The names ``build_slices`` gives ``spec``'s slices, without a query set (a slice file is read)."""
    names = {f"{rule}:{value}" for rule in spec.rules for value in RULE_SLICES[rule]}
    return names | (set(read_slice_file(spec.file)) if spec.file else set())


def touched_queries(qrels: Mapping[str, Mapping[str, int]], docs: set[str], min_relevance: int = 1) -> set[str]:
    """Queries with a relevant document in ``docs`` (e.g. the documents training touched)."""
    return {q for q, judged in qrels.items() if any(g >= min_relevance and d in docs for d, g in judged.items())}


def build_slices(
    spec: SliceSpec,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    trained_docs: Iterable[str] = (),
    min_relevance: int = 1,
) -> dict[str, set[str]]:
    """slice name → query ids of this query set (ids a slice file names but the set lacks are dropped)."""
    slices: dict[str, set[str]] = {}
    if "query_length" in spec.rules:
        short = {q for q, text in queries.items() if len(text.split()) <= spec.short_words}
        slices["query_length:short"], slices["query_length:long"] = short, set(queries) - short
    if "seen_in_training" in spec.rules:
        seen = touched_queries(qrels, set(trained_docs), min_relevance) & set(queries)
        slices["seen_in_training:seen"], slices["seen_in_training:unseen"] = seen, set(queries) - seen
    if spec.file:
        slices.update({name: ids & set(queries) for name, ids in read_slice_file(spec.file).items()})
    return slices


def slice_deltas(
    baseline: Report, candidate: Report, slices: Mapping[str, set[str]], metrics: Iterable[str], seed: int = 42
) -> dict[str, list[dict]]:
    """slice → paired comparison rows (candidate − baseline) per metric, on the slice's queries only."""
    out: dict[str, list[dict]] = {}
    for name, ids in slices.items():
        rows = []
        for metric in metrics:
            if metric not in baseline.per_query:
                continue
            a, b = baseline.restricted(ids), candidate.restricted(ids)
            if a.per_query[metric] and b.per_query[metric]:
                rows.append({"slice": name, **b.compare_to(a, metric, seed=seed).to_dict()})
        out[name] = rows
    return out
