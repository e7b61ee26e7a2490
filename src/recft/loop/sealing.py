"""A golden set that grows: a seeded share of the arriving queries is sealed instead of trained.

A fixed golden set of 300 queries cannot tell a real +0.01 from noise, and every loop re-asks it the
same question. Each cycle therefore seals part of what arrives: after the leakage audit and before
anything trains, every group of arriving queries is sealed with probability ``golden.seal`` (a
seeded hash of the group, so a retried or re-run cycle seals exactly the same queries). A sealed
query's positives become its judgements; it never trains, never joins a dev split, and from this
cycle on it is part of the **golden set of record**: the source's golden split plus every sealed
query (kept, with its origin — file, line, cycle — in the registry's ``sealed`` table).

Groups are what keeps a near-copy from training while its twin judges: queries equal after
normalisation, or whose cosine (the incumbent's query tower, the audit's ``arrivals.near_dup``) is at
least the threshold, or that share a relevant document (``recft.data.groups``), are connected, and a
connected group goes to one side whole — so no held-out query of a cycle points at a document that
cycle trains on. A group that reaches a query already trained on in this loop can only train.

The same draw carves the cycle's own **dev split** (``dev.arrival_share``): the groups whose draw
falls in the next band after the sealed one are held out as dev queries — disjoint from the sealed
ones and from training by construction, kept (role ``dev``) in the same table. A dev group that
points at a document trained in an earlier cycle trains instead: dev measures what a new query on a
new document would see, which is what rewards learning over memorising. A group that points at a
document of an earlier cycle's dev query is held out as dev with it (groups connect across cycles),
so later deliveries do not turn the dev split of record into training documents; where they must
(the group also reaches a trained document), ``unseen_dev`` drops the dev queries whose documents
trained from what dev measures. (A sealed query may point at an earlier-trained document: the golden
set keeps both kinds, and its ``seen_in_training`` slice tells them apart.) Dev chooses among the
cycle's recipes, the epoch and the merge weight; the gate never reads it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import numpy as np

from recft.common.errors import ConfigError
from recft.data.arrivals import normalize
from recft.data.beir import Dataset
from recft.data.groups import connected_labels, shared_document_edges
from recft.data.pairs import Pair

PREFIX = "sealed:"
ROLES = ("golden", "dev")  # what a held-out arrival query becomes


class SealError(ConfigError):
    """A sealing setting that cannot work."""


@dataclass(frozen=True)
class Sealed:
    """The queries one cycle sealed into the golden set and held out as dev, and the pairs left to train."""

    train: list[Pair]
    entries: list[dict]  # registry rows: query_id, text, qrels, file, line, cycle, role ("golden")
    pairs_sealed: int
    dev: list[dict] = dataclasses.field(default_factory=list)  # the same rows, role "dev"
    pairs_dev: int = 0

    @property
    def queries(self) -> int:
        return len(self.entries)


def check_share(share: float, dev: float = 0.0) -> float:
    if not 0 <= share < 1:
        raise SealError(f"golden.seal must be in [0, 1), got {share}: the share of arriving queries sealed")
    if not 0 <= dev < 1 - share:
        raise SealError(f"dev.arrival_share must be in [0, 1 - golden.seal) = [0, {1 - share:g}), got {dev}")
    return float(share)


@dataclass(frozen=True)
class Shares:
    """How a cycle's arriving query groups are drawn: ``golden`` of them sealed (``golden.seal``), the next
    ``dev`` held out as dev (``dev.arrival_share``), the rest trains; ``seed`` fixes the draw."""

    golden: float
    seed: int
    dev: float = 0.0

    def __post_init__(self):
        check_share(self.golden, self.dev)

    @property
    def held(self) -> float:
        return self.golden + self.dev

    def side(self, draw: float) -> str:
        return "golden" if draw < self.golden else "dev" if draw < self.held else "train"


def near_duplicate_groups(
    texts: list[str], embed: Callable | None, near_dup: float | None, documents: list[Iterable] | None = None
) -> np.ndarray:
    """A group label per text: equal after normalisation, or cosine ≥ ``near_dup``, or — given each
    text's relevant ``documents`` — sharing one (connected components, ``recft.data.groups``)."""
    first: dict[str, int] = {}
    edges = [(i, first.setdefault(normalize(text), i)) for i, text in enumerate(texts)]
    if embed is not None and near_dup is not None and len(texts) > 1:
        vectors = embed(texts)
        edges += [(int(i), int(j)) for i, j in np.argwhere(np.triu(vectors @ vectors.T, k=1) >= near_dup)]
    if documents is not None:
        edges += shared_document_edges(documents)
    return connected_labels(len(texts), edges)


def group_draw(key: str, seed: int) -> float:
    """A seeded hash of a group's key, uniform in [0, 1): below ``golden.seal`` the group is sealed, in
    the next ``dev.arrival_share`` it is dev, above both it trains (so the three never overlap)."""
    digest = hashlib.blake2b(f"{seed}\t{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def seal(
    new: list[Pair],
    trained: Iterable[Pair],
    shares: Shares,
    cycle: int,
    origins: Mapping[str, tuple[str, int | None]],
    embed: Callable | None = None,
    near_dup: float | None = None,
    dev_of_record: Iterable[dict] = (),
) -> Sealed:
    """Split this cycle's ``new`` pairs into pairs that train, sealed golden queries and dev queries;
    ``trained`` are the pairs this loop trained on before (their groups stay training), ``origins``
    maps a query id to the (file, line) it arrived in, ``dev_of_record`` are earlier cycles' dev
    queries (registry rows: a group reaching one of their documents is dev)."""
    if shares.held == 0 or not new:
        return Sealed(list(new), [], 0)
    by_query: dict[str, list[Pair]] = defaultdict(list)
    for pair in new:
        by_query[pair.query].append(pair)
    trained = list(trained)
    earlier = list(dict.fromkeys(p.query for p in trained if p.query not in by_query))
    known = {*by_query, *earlier}
    dev_rows = [e for e in dev_of_record if e["text"] not in known]
    texts = list(by_query) + earlier + [e["text"] for e in dev_rows]
    documents = [{(p.source, p.doc_id) for p in by_query[t]} for t in by_query] + [set()] * len(earlier)
    sources = {pair.source for pair in new}  # a registry row's document ids may be read in any of them
    documents += [{(source, doc) for doc in e["qrels"] for source in sources} for e in dev_rows]
    labels = near_duplicate_groups(texts, embed, near_dup, documents)
    members: dict[int, list[str]] = defaultdict(list)
    for text, label in zip(texts, labels):
        members[label].append(text)
    must_train = {labels[i] for i in range(len(by_query), len(by_query) + len(earlier))}
    must_dev = {labels[i] for i in range(len(by_query) + len(earlier), len(texts))} - must_train
    trained_docs = {(p.source, p.doc_id) for p in trained}
    role = {}
    for label, group in members.items():
        draw = 1.0 if label in must_train else group_draw(min(normalize(t) for t in group), shares.seed)
        side = "dev" if label in must_dev else shares.side(draw)
        if side == "dev" and any((p.source, p.doc_id) in trained_docs for t in group for p in by_query.get(t, ())):
            side = "train"  # a dev query whose document trained before would measure memorising
        role.update({text: side for text in group})
    entries = {side: [_entry(by_query[t], cycle, origins, side) for t in by_query if role[t] == side] for side in ROLES}
    train = [pair for pair in new if role[pair.query] == "train"]
    held = {side: sum(len(by_query[e["text"]]) for e in rows) for side, rows in entries.items()}
    return Sealed(train, entries["golden"], held["golden"], entries["dev"], held["dev"])


def unseen_dev(entries: Iterable[dict], trained_docs: set[str]) -> list[dict]:
    """The dev rows none of whose judged documents is in ``trained_docs``: a dev query whose document
    has since trained would reward memorising it, so dev measures only the still-unseen ones."""
    return [e for e in entries if not any(doc in trained_docs for doc in e["qrels"])]


def _entry(pairs: list[Pair], cycle: int, origins: Mapping[str, tuple[str, int | None]], role: str) -> dict:
    first = pairs[0]
    file, line = origins.get(first.query_id, ("", None))
    return {
        "query_id": (PREFIX if role == "golden" else "dev:") + first.query_id,
        "text": first.query,
        "qrels": {pair.doc_id: 1 for pair in pairs},
        "file": file,
        "line": line,
        "cycle": cycle,
        "role": role,
    }


def unsealed(pairs: list[Pair], entries: Iterable[dict]) -> list[Pair]:
    """``pairs`` without any whose query is sealed: what may train (or join a dev split)."""
    sealed = {normalize(e["text"]) for e in entries}
    return [pair for pair in pairs if normalize(pair.query) not in sealed]


def golden_of_record(dataset: Dataset, entries: Iterable[dict]) -> Dataset:
    """The golden split plus every sealed query whose judged documents are in the corpus."""
    queries, qrels = dict(dataset.queries), {q: dict(j) for q, j in dataset.qrels.items()}
    for entry in entries:
        judged = {doc: grade for doc, grade in entry["qrels"].items() if doc in dataset.corpus}
        if judged:
            queries[entry["query_id"]] = entry["text"]
            qrels[entry["query_id"]] = judged
    return dataclasses.replace(dataset, queries=queries, qrels=qrels)


def composition(dataset: Dataset, entries: Iterable[dict], trained_docs: set[str], min_relevance: int = 1) -> dict:
    """What a decision's golden set held: n, by origin, and how many queries have a relevant document
    that some training pair also points at (the ``seen_in_training`` slice)."""
    sealed_ids = {e["query_id"]: e["cycle"] for e in entries}
    judged = [q for q in dataset.queries if q in dataset.qrels]
    by_cycle: dict[str, int] = defaultdict(int)
    for q in judged:
        if q in sealed_ids:
            by_cycle[str(sealed_ids[q])] += 1
    seen = sum(
        any(grade >= min_relevance and doc in trained_docs for doc, grade in dataset.qrels[q].items()) for q in judged
    )
    sealed = sum(by_cycle.values())
    return {
        "n": len(judged),
        "source_split": len(judged) - sealed,
        "sealed": sealed,
        "sealed_by_cycle": dict(sorted(by_cycle.items(), key=lambda kv: int(kv[0]))),
        "seen_in_training": seen,
    }
