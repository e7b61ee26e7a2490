"""One spec for every data source, and one loader: golden sets, probes, replay, injected batches, training pairs.

A source is a BEIR folder and one of its splits, plus how much of it to take. ``max_queries``
keeps a seeded sample of its queries (a large probe re-encoded every epoch on a CPU);
``corpus_sample`` keeps every judged document and a seeded random share of the others (the same);
``max_pairs`` keeps a seeded sample of its (query, relevant passage) pairs (replay, an injected
batch). One generator, seeded once per load, draws them in that order (a draw only where one is
asked for), so a source loads the same way wherever it is used. Config files spell a source the same way everywhere
(``conf/data/*.yaml``); probes and replay name one of those instead of repeating it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from recft.data.beir import DataError, Dataset, load_beir, subsample_corpus
from recft.data.groups import document_groups
from recft.data.pairs import Pair, pairs_from_dataset


@dataclass(frozen=True)
class SourceSpec:
    name: str
    path: str
    split: str = "test"
    min_relevance: int = 1  # binary metrics, and pairs, count grade >= this
    pairs: str | None = None  # a NevIR-style pairs.tsv: paired accuracy is reported too
    corpus_sample: int | None = None  # every judged document + random others up to this many
    max_pairs: int | None = None  # a seeded sample of the pairs
    train_split: str | None = None  # the split a golden set's training pairs come from
    max_queries: int | None = None  # a seeded sample of the queries (and their judgements)
    gate_metric: str | None = None  # what the gate checks on this set: as a probe (NevIR: paired_accuracy) or golden

    @classmethod
    def from_config(cls, node: Mapping[str, Any], where: str) -> "SourceSpec":
        """Build from a config node, refusing a field a source does not have (a typo would be ignored)."""
        values = dict(node)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise DataError(f"{where}: unknown source field(s) {', '.join(unknown)} (a source has {', '.join(known)})")
        missing = [key for key in ("name", "path") if not values.get(key)]
        if missing:
            raise DataError(f"{where}: a source needs {' and '.join(missing)}")
        return cls(**values)

    def training(self) -> "SourceSpec":
        """The same source's training split (all its documents, all its pairs unless max_pairs says otherwise)."""
        if not self.train_split:
            raise DataError(f"{self.path}: source {self.name!r} has no train_split to train on")
        return dataclasses.replace(self, split=self.train_split, corpus_sample=None, pairs=None)


@dataclass
class Source:
    spec: SourceSpec
    dataset: Dataset
    pairs: list[Pair] = field(repr=False)  # every (query, relevant passage), sampled to spec.max_pairs

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def min_relevance(self) -> int:
        return self.spec.min_relevance


HOLD_OUT_GROUPS = ("documents", "queries")  # dev.group_by: what a held-out draw keeps together


def hold_out_queries(
    source: Source, share: float, seed: int, name: str = "dev", group_by: str = "documents"
) -> tuple[Source, Source]:
    """Split a training source by query: a seeded ``share`` of its queries becomes ``name`` (all their
    pairs with them), the rest stays to train on. The held-out set ranks against the whole corpus.

    ``group_by="documents"`` draws whole document groups (``recft.data.groups``: queries linked by a
    shared relevant document), so no held-out query shares a relevant document with a training pair
    and the held-out set measures what a new query would see; groups are taken in a seeded order while
    they fit in the share. ``"queries"`` draws queries one by one (a held-out query's documents may train)."""
    if group_by not in HOLD_OUT_GROUPS:
        raise DataError(f"dev.group_by must be one of {', '.join(HOLD_OUT_GROUPS)}, got {group_by!r}")
    relevant: dict[str, list[str]] = {}
    for pair in source.pairs:
        relevant.setdefault(pair.query_id, []).append(pair.doc_id)
    groups = document_groups(relevant) if group_by == "documents" else [[q] for q in relevant]
    n_dev = int(round(share * len(relevant)))
    held: set[str] = set()
    for i in np.random.default_rng(seed).permutation(len(groups)):
        if len(held) + len(groups[i]) <= n_dev:
            held.update(groups[i])
    if not 0 < len(held) < len(relevant):
        raise DataError(
            f"{source.spec.path}: dev.share={share} of {len(relevant)} training queries (grouped by {group_by}) "
            "leaves no dev or no train"
        )
    data = source.dataset
    dataset = Dataset(
        name=name,
        path=data.path,
        split=f"{data.split}[held out]",
        corpus=data.corpus,
        queries={q: data.queries[q] for q in data.queries if q in held},
        qrels={q: judged for q, judged in data.qrels.items() if q in held},
        titles=data.titles,
    )
    spec = dataclasses.replace(source.spec, name=name, corpus_sample=None, max_pairs=None, train_split=None)
    train = Source(source.spec, data, [p for p in source.pairs if p.query_id not in held])
    return train, Source(spec, dataset, [p for p in source.pairs if p.query_id in held])


QUERY_KEYED = ("queries", "qrels", "query_domains")  # a Dataset's fields keyed by query id


def sample_queries(dataset: Dataset, n: int, rng: np.random.Generator) -> Dataset:
    """A seeded sample of ``n`` queries with their judgements, in the file's order; the corpus is kept."""
    ids = list(dataset.queries)
    keep = {ids[i] for i in rng.choice(len(ids), size=n, replace=False)}
    kept = {name: {q: v for q, v in getattr(dataset, name).items() if q in keep} for name in QUERY_KEYED}
    return dataclasses.replace(dataset, **kept)


def load_source(spec: SourceSpec, seed: int) -> Source:
    dataset = load_beir(spec.path, split=spec.split, name=spec.name)
    rng = np.random.default_rng(seed)
    if spec.max_queries and len(dataset.queries) > spec.max_queries:
        dataset = sample_queries(dataset, int(spec.max_queries), rng)
    if spec.corpus_sample:
        dataset = subsample_corpus(dataset, int(spec.corpus_sample), rng)
    pairs = pairs_from_dataset(dataset, spec.min_relevance)
    if spec.max_pairs and len(pairs) > spec.max_pairs:
        keep = np.sort(rng.choice(len(pairs), size=int(spec.max_pairs), replace=False))
        pairs = [pairs[i] for i in keep]
    return Source(spec, dataset, pairs)
