"""Hard-negative mining from the current model's own ranking, with a false-negative filter.

``topk_margin`` (NV-Retriever's "TopK-PercPos"): take candidates from a rank window of the model's
top-k for each training query, drop every known positive, and drop candidates scoring above
``(1 - relative_margin) × positive score`` — on sparse labels (SciFact, SQuAD) the passages that
score almost as high as the labelled positive are often unlabelled positives, and training against
them teaches the model to push relevant text away.

Mining must never see evaluation queries: a negative mined for a test query leaks the test
labels' neighbourhood into training. ``mine`` refuses any query id in ``forbidden_query_ids``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from recft.model.index import Index


@dataclass(frozen=True)
class TopKMarginMiner:
    """Pick ``num_negatives`` negatives per query from ranks [rank_start, rank_end) of the model's search."""

    num_negatives: int = 1
    rank_start: int = 0
    rank_end: int = 50
    relative_margin: float = 0.05  # drop candidates above (1 - margin) × positive score
    remine_every_epoch: bool = False

    def mine(
        self,
        query_ids: Sequence[str],
        query_emb: np.ndarray,
        index: Index,
        doc_emb_by_id: Mapping[str, np.ndarray],
        positives: Mapping[str, Sequence[str]],
        forbidden_query_ids: set[str] | frozenset[str] = frozenset(),
    ) -> dict[str, list[str]]:
        """Return {query id: [negative doc ids]} (possibly fewer than asked where the filter is strict)."""
        leaked = set(query_ids) & set(forbidden_query_ids)
        if leaked:
            raise ValueError(f"refusing to mine with {len(leaked)} evaluation queries (e.g. {sorted(leaked)[0]!r})")
        scores, ranked = index.search(query_emb, k=self.rank_end)
        mined: dict[str, list[str]] = {}
        for row, qid in enumerate(query_ids):
            known = set(positives.get(qid, ()))
            pos_scores = [float(query_emb[row] @ doc_emb_by_id[d]) for d in known if d in doc_emb_by_id]
            ceiling = (1 - self.relative_margin) * max(pos_scores) if pos_scores else np.inf
            chosen: list[str] = []
            for rank in range(self.rank_start, len(ranked[row])):
                doc, score = ranked[row][rank], float(scores[row][rank])
                if doc in known or score > ceiling:
                    continue
                chosen.append(doc)
                if len(chosen) == self.num_negatives:
                    break
            mined[qid] = chosen
        return mined
