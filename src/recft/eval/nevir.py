"""NevIR paired accuracy: does the model tell a passage from its negated twin?

Each NevIR instance has two passages that differ essentially by a negation and two questions,
``q1`` answered only by ``doc1`` and ``q2`` only by ``doc2``. The instance counts as correct only if
score(q1, doc1) > score(q1, doc2) *and* score(q2, doc2) > score(q2, doc1). A model that ignores
negation scores each pair the same way for both questions, so random ordering gives 25 % and a
negation-blind bi-encoder often lands below that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from recft.data.beir import DataError, open_text

COLUMNS = ("id", "q1_id", "q2_id", "doc1_id", "doc2_id")


@dataclass(frozen=True)
class ContrastivePair:
    """One NevIR instance: two passages that differ essentially by a negation, and the two questions
    that tell them apart (``q1`` is answered only by ``doc1``, ``q2`` only by ``doc2``) — all ids.

    Not a training ``recft.data.pairs.Pair`` (one query and one passage it is relevant to): this is
    two of those, crossed, and only scores on both together mean anything."""

    pair_id: str
    q1: str
    q2: str
    doc1: str
    doc2: str


def read_pairs(path: str | Path, query_ids: Mapping | set, doc_ids: Mapping | set) -> list[ContrastivePair]:
    """Read ``pairs.tsv`` (header ``id q1_id q2_id doc1_id doc2_id``), checking every id exists."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: pairs file not found")
    pairs: list[ContrastivePair] = []
    with open_text(path) as handle:
        header = handle.readline().rstrip("\n").split("\t")
        if tuple(header) != COLUMNS:
            raise DataError(f"{path}:1: header must be {' '.join(COLUMNS)} (tab-separated), got {header}")
        for lineno, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) != len(COLUMNS):
                raise DataError(f"{path}:{lineno}: expected {len(COLUMNS)} columns, got {len(parts)}")
            pair = ContrastivePair(*parts)
            for qid in (pair.q1, pair.q2):
                if qid not in query_ids:
                    raise DataError(f"{path}:{lineno}: query id {qid!r} is not in the queries")
            for docid in (pair.doc1, pair.doc2):
                if docid not in doc_ids:
                    raise DataError(f"{path}:{lineno}: corpus id {docid!r} is not in the corpus")
            pairs.append(pair)
    if not pairs:
        raise DataError(f"{path}: no pairs")
    return pairs


def paired_accuracy(
    pairs: list[ContrastivePair],
    query_emb: np.ndarray,
    query_row: Mapping[str, int],
    doc_emb: np.ndarray,
    doc_row: Mapping[str, int],
) -> dict[str, float]:
    """Per-pair correctness (1.0 / 0.0), keyed by pair id; the mean is NevIR's paired accuracy."""
    q1 = query_emb[[query_row[p.q1] for p in pairs]]
    q2 = query_emb[[query_row[p.q2] for p in pairs]]
    d1 = doc_emb[[doc_row[p.doc1] for p in pairs]]
    d2 = doc_emb[[doc_row[p.doc2] for p in pairs]]
    dot = lambda x, y: np.einsum("ij,ij->i", x, y)  # noqa: E731 - row-wise inner product
    correct = (dot(q1, d1) > dot(q1, d2)) & (dot(q2, d2) > dot(q2, d1))
    return {p.pair_id: float(c) for p, c in zip(pairs, correct)}
