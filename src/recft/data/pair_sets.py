"""A pair file as a retrieval set: fine-tune on a team's own pairs, or evaluate on them, outside the loop.

``recft train pairs=PATH`` and ``recft evaluate pairs=PATH`` read the files the arrivals inbox
reads (sentence-transformers, FlagEmbedding, Tevatron; ``pairs.format``, ``pairs.columns``). Each
query of the file is relevant (grade 1) to each of its positives. The corpus is the data source's
(``pairs.corpus=data``) plus every passage the file gives as new text, or — for pairs that come
without a corpus — only the file's own passages, positives and negatives (``pairs.corpus=file``).
Outside the loop nothing is quarantined: a bad row stops the run, naming every ``file:line``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from recft.data.arrivals import CorpusIndex, read_arrival
from recft.data.beir import DataError, Dataset
from recft.data.growth import with_documents
from recft.data.sources import Source, SourceSpec, load_source

CORPORA = ("data", "file")
SHOWN = 20  # problems listed in the error; the rest are counted


def pair_file_source(node: Mapping, base: Dataset | None, name: str) -> tuple[Source, dict]:
    """The pair file ``node.path`` as a source named ``name`` (its pairs index into ``base``'s corpus,
    or into the file's own passages when ``base`` is None), and its file negatives."""
    path = Path(node["path"]).expanduser()
    if not path.is_file():
        raise DataError(f"{path}: pair file not found")
    corpus = CorpusIndex(base.corpus if base is not None else {}, base.titles if base is not None else {})
    arrival = read_arrival(path, corpus, name, node.get("format") or "auto", node.get("columns"))
    if len(arrival.problems) == 1:  # one line: the file, the line and why
        raise DataError(arrival.problems[0])
    if arrival.problems:
        more = len(arrival.problems) - SHOWN
        listed = "\n".join(arrival.problems[:SHOWN]) + (f"\n… and {more} more" if more > 0 else "")
        raise DataError(f"{path}: {len(arrival.problems)} bad row(s):\n{listed}")
    if not arrival.pairs:
        raise DataError(f"{path}: no pair left to use ({dict(arrival.dropped)})")
    qrels: dict[str, dict[str, int]] = {}
    for pair in arrival.pairs:
        qrels.setdefault(pair.query_id, {})[pair.doc_id] = 1
    empty = Dataset(name, path, "pairs", {}, {}, {})
    start = base if base is not None else empty
    dataset = with_documents(start, arrival.new_documents)
    dataset = Dataset(
        name=name,
        path=path,
        split="pairs",
        corpus=dataset.corpus,
        queries={pair.query_id: pair.query for pair in arrival.pairs},
        qrels=qrels,
        titles=dataset.titles,
    )
    spec = SourceSpec(name=name, path=str(path), split="pairs")
    return Source(spec, dataset, arrival.pairs), arrival.negatives


def configured_pair_source(node: Mapping, corpus_spec: SourceSpec, seed: int, name: str) -> tuple[Source, dict]:
    """``pair_file_source`` as a config node asks for it: over ``corpus_spec``'s corpus
    (``pairs.corpus=data``) or the file's own passages (``pairs.corpus=file``)."""
    base = load_source(corpus_spec, seed).dataset if corpus_choice(node) == "data" else None
    return pair_file_source(node, base, name)


def corpus_choice(node: Mapping) -> str:
    choice = node.get("corpus") or "data"
    if choice not in CORPORA:
        raise DataError(f"pairs.corpus must be data or file, got {choice!r}")
    return choice
