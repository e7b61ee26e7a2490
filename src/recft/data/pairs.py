"""(query, passage) pairs: what training reads, whatever source they come from.

A pair remembers its source's name because document ids are unique only within one source: a
SQuAD paragraph ``12`` and a SciFact abstract ``12`` are different documents, and the loss must not
mask one as a duplicate of the other.
"""

from __future__ import annotations

from dataclasses import dataclass

from recft.data.beir import Dataset


@dataclass(frozen=True)
class Pair:
    query_id: str
    query: str
    doc_id: str
    passage: str
    source: str = ""  # the data source's name: doc ids are unique only within a source
    domain: str = ""  # the product or collection the query belongs to ("" = unlabelled; recft.data.domain_labels)


def pairs_from_dataset(dataset: Dataset, min_relevance: int = 1) -> list[Pair]:
    """One pair per (query, relevant document) of the split, in qrels order, labelled with the dataset's
    name and the query's domain."""
    domains = dataset.query_domains
    return [
        Pair(qid, dataset.queries[qid], doc_id, dataset.corpus[doc_id], dataset.name, domains.get(qid, ""))
        for qid, judged in dataset.qrels.items()
        for doc_id, grade in judged.items()
        if grade >= min_relevance
    ]
