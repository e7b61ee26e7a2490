"""Leakage audit of arriving pairs: a query that copies a golden or probe query must not train.

Training on a query the gate will judge — the same text, or a near-duplicate of it — inflates the
golden gain without making the model better. Arrival queries equal after normalisation to any
evaluation query, or whose cosine with one (embedded by the incumbent encoder, through the cache)
is at least ``arrivals.near_dup``, are dropped and counted; passages that are relevant documents of
the golden set are reported (they may be legitimate, but they are where a gain would come from).
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping

import numpy as np

from recft.data.arrivals import normalize
from recft.data.pairs import Pair
from recft.data.sources import Source


def audit(
    pairs: list[Pair],
    sets: Mapping[str, Source],
    golden: str,
    embed,
    near_dup: float,
) -> tuple[list[Pair], dict]:
    """(the pairs that may train, the audit); ``embed(texts) → unit vectors`` is the incumbent's query tower."""
    evaluation: dict[str, str] = {}  # normalised query → the first set (golden first) that has it
    for name, source in sorted(sets.items(), key=lambda item: item[0] != golden):
        for text in source.dataset.queries.values():
            evaluation.setdefault(normalize(text), name)
    texts = list(evaluation)
    kept, dropped, examples = [], Counter(), []
    queries = list(dict.fromkeys(p.query for p in pairs))
    nearest = {}
    if queries and texts and near_dup <= 1:
        similarity = embed(queries) @ embed(texts).T
        best = similarity.argmax(1)
        nearest = {q: (float(similarity[i, best[i]]), texts[best[i]]) for i, q in enumerate(queries)}
    for pair in pairs:
        key = normalize(pair.query)
        if key in evaluation:
            dropped[f"copies a {evaluation[key]} query"] += 1
            examples.append({"query": pair.query, "why": "equal after normalisation", "set": evaluation[key]})
            continue
        score, match = nearest.get(pair.query, (0.0, ""))
        if score >= near_dup:
            dropped[f"near-duplicate of a {evaluation[match]} query"] += 1
            examples.append(
                {"query": pair.query, "why": f"cosine {score:.3f}", "set": evaluation[match], "match": match}
            )
            continue
        kept.append(pair)
    relevant = {d for judged in sets[golden].dataset.qrels.values() for d, g in judged.items() if g > 0}
    touching = sorted({p.doc_id for p in kept if p.doc_id in relevant})
    report = {
        "pairs": len(pairs),
        "kept": len(kept),
        "dropped": dict(dropped),
        "examples": examples[:20],
        "near_dup": near_dup,
        "golden_relevant_passages": len(touching),
        "golden_relevant_examples": touching[:20],
    }
    return kept, report


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)
