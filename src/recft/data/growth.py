"""The corpus of record grows: a dataset over its own documents plus those that arrived since.

Documents join, never leave or change (an id names one text for good — ``read_corpus_delta``
refuses a changed one), so a grown corpus is the starting corpus plus an ordered set of additions,
and the embedding cache encodes only the additions.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Mapping

from recft.common.hashing import stable_hash
from recft.data.beir import Dataset


def with_documents(dataset: Dataset, documents: Mapping[str, str], titles: Mapping[str, str] | None = None) -> Dataset:
    """``dataset`` over its corpus plus ``documents`` (id → text to embed); ids it has keep their text."""
    added = {doc_id: text for doc_id, text in documents.items() if doc_id not in dataset.corpus}
    if not added:
        return dataset
    new_titles = {doc_id: (titles or {}).get(doc_id, "") for doc_id in added}
    return dataclasses.replace(dataset, corpus={**dataset.corpus, **added}, titles={**dataset.titles, **new_titles})


def corpus_fingerprint(corpus: Mapping[str, str]) -> str:
    """A hash of a corpus's ids and texts (not of where it lives): what a version was trained and
    indexed against."""
    rows = (
        f"{doc_id}\t{hashlib.blake2b(corpus[doc_id].encode(), digest_size=8).hexdigest()}" for doc_id in sorted(corpus)
    )
    return stable_hash("\n".join(rows))
