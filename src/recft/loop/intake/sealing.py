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
connected group is sealed whole — so no sealed query of a cycle points at a document that cycle
trains on. A group that reaches a query already trained on in this loop can only train.

The same draw carves the cycle's own **dev split** (``dev.arrival_share``): of the queries not sealed,
copy groups (equal or near-duplicate queries) are drawn again, and a seeded ``dev / (1 − golden)`` of
them are held out as dev — disjoint from the sealed ones and from training by construction, kept
(role ``dev``) in the same table, and never trained on in any later cycle (a later copy of a dev
query is dev too). Dev is *not* kept whole by document: a dev query may point at a document other
queries train on, as a golden query may, so dev mirrors the golden set's mix — claims on documents
nothing trained on (what a new query on a new document sees) and claims on documents that did
(what memorising and NUDGE's moved vectors gain). ``recft.loop.gate.dev_check`` measures both and holds
the unseen stratum to the forgetting budget; the gate never reads dev.
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
    dev: float

    def __post_init__(self):
        check_share(self.golden, self.dev)

    @property
    def held(self) -> float:
        return self.golden + self.dev


def copy_edges(texts: list[str], embed: Callable | None, near_dup: float | None) -> list[tuple[int, int]]:
    """Edges between texts equal after normalisation, or whose cosine is at least ``near_dup``."""
    first: dict[str, int] = {}
    edges = [(i, first.setdefault(normalize(text), i)) for i, text in enumerate(texts)]
    if embed is not None and near_dup is not None and len(texts) > 1:
        vectors = embed(texts)
        edges += [(int(i), int(j)) for i, j in np.argwhere(np.triu(vectors @ vectors.T, k=1) >= near_dup)]
    return edges


def near_duplicate_groups(
    texts: list[str], embed: Callable | None, near_dup: float | None, documents: list[Iterable] | None = None
) -> np.ndarray:
    """A group label per text: equal after normalisation, or cosine ≥ ``near_dup``, or — given each
    text's relevant ``documents`` — sharing one (connected components, ``recft.data.groups``)."""
    edges = copy_edges(texts, embed, near_dup)
    if documents is not None:
        edges += shared_document_edges(documents)
    return connected_labels(len(texts), edges)


def group_draw(key: str, seed: int) -> float:
    """A seeded hash of a group's key, uniform in [0, 1): below ``golden.seal`` the group is sealed; a
    group that is not is drawn again, copy by copy, for dev (``dev_draw``)."""
    digest = hashlib.blake2b(f"{seed}\t{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def dev_draw(key: str, seed: int) -> float:
    """The draw of a copy group that was not sealed: below ``dev / (1 − golden)`` it is dev, so that
    ``dev.arrival_share`` of all arriving queries is held out as dev."""
    return group_draw(f"dev\t{key}", seed)


@dataclass(frozen=True)
class _Graph:
    """The texts a cycle's draw looks at — this cycle's queries, then earlier trained ones, then earlier
    dev queries — with two labellings: copies (equal or near-duplicate) and groups (copies, or sharing
    a relevant document among this cycle's queries)."""

    texts: list[str]
    copies: np.ndarray
    groups: np.ndarray
    n_new: int
    n_trained: int

    def labels(self, which: np.ndarray, start: int, stop: int) -> set[int]:
        return {int(label) for label in which[start:stop]}

    @property
    def trained(self) -> tuple[set[int], set[int]]:
        """(group labels, copy labels) reached by a query this loop trained on: those can only train."""
        end = self.n_new + self.n_trained
        return self.labels(self.groups, self.n_new, end), self.labels(self.copies, self.n_new, end)

    @property
    def dev(self) -> set[int]:
        """Copy labels of an earlier dev query: a copy of a dev query is dev, never training."""
        end = self.n_new + self.n_trained
        return self.labels(self.copies, end, len(self.texts)) - self.trained[1]


def _draw_roles(graph: _Graph, shares: Shares) -> dict[str, str]:
    """Each new text's side. A group (shared documents connect it) is sealed whole, as before any dev
    split existed; what is not sealed is drawn for dev copy by copy — so a dev query may point at a
    document another query of the same cycle trains on, as a golden query may: dev sees the mix the
    gate sees (``seen_in_training`` and not), and its unseen stratum still measures generalisation."""
    must_train_groups, must_train_copies = graph.trained
    dev_copies = graph.dev
    by_group: dict[int, list[int]] = defaultdict(list)
    for i in range(graph.n_new):
        by_group[int(graph.groups[i])].append(i)
    dev_rate = shares.dev / (1 - shares.golden)
    role: dict[str, str] = {}
    for label, members in by_group.items():
        blocked = label in must_train_groups or any(int(graph.copies[i]) in dev_copies for i in members)
        key = min(normalize(graph.texts[i]) for i in members)
        if not blocked and group_draw(key, shares.seed) < shares.golden:
            role.update({graph.texts[i]: "golden" for i in members})
            continue
        by_copy: dict[int, list[int]] = defaultdict(list)
        for i in members:
            by_copy[int(graph.copies[i])].append(i)
        for copy, copy_members in by_copy.items():
            if copy in must_train_copies:
                side = "train"
            elif copy in dev_copies:
                side = "dev"
            else:
                copy_key = min(normalize(graph.texts[i]) for i in copy_members)
                side = "dev" if dev_draw(copy_key, shares.seed) < dev_rate else "train"
            role.update({graph.texts[i]: side for i in copy_members})
    return role


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
    ``trained`` are the pairs this loop trained on before — never a held-out query's (their copies stay
    training), ``origins`` maps a query id to the (file, line) it arrived in, ``dev_of_record`` are
    earlier cycles' dev queries (registry rows: a copy of one is dev)."""
    if shares.held == 0 or not new:
        return Sealed(list(new), [], 0)
    by_query: dict[str, list[Pair]] = defaultdict(list)
    for pair in new:
        by_query[pair.query].append(pair)
    earlier = list(dict.fromkeys(p.query for p in trained))  # a repeat of one is connected to it: it trains
    dev_texts = list(dict.fromkeys(e["text"] for e in dev_of_record))  # a repeat of one is dev
    texts = list(by_query) + earlier + dev_texts
    edges = copy_edges(texts, embed, near_dup)
    documents = [{(p.source, p.doc_id) for p in by_query[t]} for t in by_query]
    graph = _Graph(
        texts,
        connected_labels(len(texts), edges),
        connected_labels(len(texts), edges + shared_document_edges(documents)),
        len(by_query),
        len(earlier),
    )
    role = _draw_roles(graph, shares)
    entries = {side: [_entry(by_query[t], cycle, origins, side) for t in by_query if role[t] == side] for side in ROLES}
    train = [pair for pair in new if role[pair.query] == "train"]
    held = {side: sum(len(by_query[e["text"]]) for e in rows) for side, rows in entries.items()}
    return Sealed(train, entries["golden"], held["golden"], entries["dev"], held["dev"])


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
