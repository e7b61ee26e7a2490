"""Per-query retrieval metrics (nDCG@k, MRR@k, Recall@k, MAP) computed with torchmetrics.

Conventions follow trec_eval / pytrec_eval, which the tests check to 1e-6 on real runs:

* nDCG uses the graded relevance as a linear gain (pytrec_eval's ``ndcg_cut``); the ideal ranking
  is built from *all* judged documents, retrieved or not.
* MRR, Recall and MAP are binary: a document counts as relevant when its grade is at least
  ``min_relevance`` (TREC DL passage convention: 2; BEIR sets: 1).
* MAP is average precision over the retrieved depth with *all* relevant documents in the
  denominator (trec_eval ``map``). torchmetrics divides by the relevant documents it saw, so we
  rescale by retrieved-relevant / all-relevant.

Rankings are passed to torchmetrics as strictly decreasing pseudo-scores, so nothing reorders them
after ``trec_order`` has put equal scores in trec_eval's order (by document id, descending): two
documents with the same cosine score rank the same way here as in trec_eval, whatever order the
index returned them in.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import torch
from torchmetrics.functional.retrieval import (
    retrieval_average_precision,
    retrieval_normalized_dcg,
    retrieval_recall,
    retrieval_reciprocal_rank,
)

Run = Mapping[str, Sequence[str]]  # query id → ranked doc ids, best first
Qrels = Mapping[str, Mapping[str, int]]


def trec_order(doc_ids: Sequence[str], scores: Sequence[float]) -> list[str]:
    """Doc ids by score, best first; equal scores by doc id in descending order, as trec_eval sorts them."""
    by_id = sorted(zip(doc_ids, scores), key=lambda pair: pair[0], reverse=True)
    return [doc for doc, _ in sorted(by_id, key=lambda pair: -float(pair[1]))]  # stable: ties keep the id order


def metric_names(k_values: Iterable[int], depth: int) -> list[str]:
    ks = sorted(set(int(k) for k in k_values))
    return [f"{m}@{k}" for m in ("ndcg", "mrr", "recall") for k in ks] + [f"map@{depth}"]


def _query_tensors(
    ranked: Sequence[str],
    judged: Mapping[str, int],
    max_k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pseudo-scores and graded targets for one query.

    Order: the retrieved docs (rank order), non-relevant filler up to ``max_k`` positions (so a short
    run cannot pull unretrieved documents into the top k), then the unretrieved relevant docs, which
    only the ideal ranking of nDCG and the denominator of Recall may see.
    """
    retrieved = set(ranked)
    missing = [doc for doc, grade in judged.items() if grade > 0 and doc not in retrieved]
    filler = max(0, max_k - len(ranked))
    grades = [max(int(judged.get(doc, 0)), 0) for doc in ranked] + [0] * filler + [judged[d] for d in missing]
    scores = torch.arange(len(grades), 0, -1, dtype=torch.float64)  # strictly decreasing, all > 0
    return scores, torch.tensor(grades, dtype=torch.long)


def per_query_metrics(
    run: Run,
    qrels: Qrels,
    k_values: Iterable[int] = (1, 5, 10, 100),
    depth: int = 100,
    min_relevance: int = 1,
) -> dict[str, dict[str, float]]:
    """Return {metric name: {query id: value}} for every query in ``qrels``.

    A query absent from ``run`` scores 0 on every metric (it retrieved nothing).
    """
    ks = sorted(set(int(k) for k in k_values))
    names = metric_names(ks, depth)
    result: dict[str, dict[str, float]] = {name: {} for name in names}
    for qid, judged in qrels.items():
        ranked = list(dict.fromkeys(run.get(qid, ())))[:depth]  # a doc listed twice counts once
        scores, grades = _query_tensors(ranked, judged, max(ks))
        binary = grades >= min_relevance
        n_relevant = int(binary.sum())
        for k in ks:
            result[f"ndcg@{k}"][qid] = float(retrieval_normalized_dcg(scores, grades, top_k=k))
            result[f"mrr@{k}"][qid] = float(retrieval_reciprocal_rank(scores, binary, top_k=k))
            result[f"recall@{k}"][qid] = float(retrieval_recall(scores, binary, top_k=k))
        found = int(binary[: len(ranked)].sum())
        ap_seen = float(retrieval_average_precision(scores, binary, top_k=max(len(ranked), 1)))
        result[f"map@{depth}"][qid] = ap_seen * found / n_relevant if n_relevant else 0.0
    return result
