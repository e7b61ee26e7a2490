"""recft's torchmetrics-based metrics must equal pytrec_eval (trec_eval) to 1e-6."""

import numpy as np
import pytest
import pytrec_eval

from recft.data.beir import load_beir
from recft.eval.metrics import per_query_metrics, trec_order
from recft.model.index import Index

from conftest import DATA

K_VALUES = (1, 3, 5, 10, 100)
DEPTH = 100


def trec_reference(run: dict[str, list[str]], qrels, min_relevance: int) -> dict[str, dict[str, float]]:
    """Score the same rankings with pytrec_eval; scores are rank-based so ties cannot reorder."""
    as_scores = lambda ranked: {doc: float(len(ranked) - i) for i, doc in enumerate(ranked)}  # noqa: E731
    full = {q: as_scores(docs[:DEPTH]) for q, docs in run.items()}
    graded = pytrec_eval.RelevanceEvaluator(
        qrels, {"ndcg_cut." + ",".join(map(str, K_VALUES))}, relevance_level=min_relevance
    )
    binary = pytrec_eval.RelevanceEvaluator(
        qrels, {"recall." + ",".join(map(str, K_VALUES)), "map"}, relevance_level=min_relevance
    )
    out: dict[str, dict[str, float]] = {}
    for qid, values in graded.evaluate(full).items():
        for k in K_VALUES:
            out.setdefault(f"ndcg@{k}", {})[qid] = values[f"ndcg_cut_{k}"]
    for qid, values in binary.evaluate(full).items():
        for k in K_VALUES:
            out.setdefault(f"recall@{k}", {})[qid] = values[f"recall_{k}"]
        out.setdefault(f"map@{DEPTH}", {})[qid] = values["map"]
    for k in K_VALUES:  # recip_rank has no cut-off in trec_eval: cut the run itself
        rr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}, relevance_level=min_relevance)
        for qid, values in rr.evaluate({q: as_scores(d[:k]) for q, d in run.items()}).items():
            out.setdefault(f"mrr@{k}", {})[qid] = values["recip_rank"]
    return out


def assert_equal_to_trec(run, qrels, min_relevance):
    ours = per_query_metrics(run, qrels, K_VALUES, DEPTH, min_relevance)
    reference = trec_reference(run, qrels, min_relevance)
    assert set(ours) == set(reference)
    for metric, values in reference.items():
        qids = sorted(values)
        assert qids == sorted(ours[metric]), metric
        diff = np.abs(np.array([ours[metric][q] for q in qids]) - np.array([values[q] for q in qids]))
        assert diff.max() <= 1e-6, f"{metric}: max |recft - pytrec_eval| = {diff.max():.2e}"
    return ours


def test_hand_checked_example():
    qrels = {"q": {"a": 3, "b": 1, "z": 2}}  # z is never retrieved but counts in the ideal ranking
    run = {"q": ["x", "a", "y", "b"]}
    ours = assert_equal_to_trec(run, qrels, min_relevance=1)
    ideal = 3 + 2 / np.log2(3) + 1 / np.log2(4)
    assert ours["ndcg@5"]["q"] == pytest.approx((3 / np.log2(3) + 1 / np.log2(5)) / ideal)
    assert ours["mrr@1"]["q"] == 0 and ours["mrr@10"]["q"] == 0.5
    assert ours["recall@3"]["q"] == pytest.approx(1 / 3)
    assert ours[f"map@{DEPTH}"]["q"] == pytest.approx((1 / 2 + 2 / 4) / 3)
    binary = assert_equal_to_trec(run, qrels, min_relevance=2)
    assert binary["recall@10"]["q"] == 0.5 and binary["mrr@10"]["q"] == 0.5


def test_query_missing_from_run_scores_zero():
    ours = per_query_metrics({}, {"q": {"a": 1}}, (10,), DEPTH)
    assert all(values["q"] == 0 for values in ours.values())


@pytest.fixture(scope="module")
def cranfield_run(minilm):
    """All-MiniLM-L6-v2 on Cranfield test: 112 queries, 1,400 abstracts, grades 1-4."""
    ds = load_beir(DATA / "cranfield", split="test")
    doc_ids = list(ds.corpus)
    index = Index(minilm.dim)
    index.add(minilm.encode([ds.corpus[d] for d in doc_ids], "passage", show_progress=False), doc_ids)
    _, ranked = index.search(minilm.encode(list(ds.queries.values()), "query", show_progress=False), k=DEPTH)
    return ds, dict(zip(ds.queries, ranked))


@pytest.mark.slow
@pytest.mark.parametrize("min_relevance", [1, 2])
def test_equal_to_pytrec_eval_on_a_real_run(cranfield_run, min_relevance):
    """Graded nDCG and binary metrics at relevance >= 1 and >= 2."""
    ds, run = cranfield_run
    ours = assert_equal_to_trec(run, ds.qrels, min_relevance)
    assert len(ours["ndcg@10"]) == 112
    assert 0.2 < np.mean(list(ours["ndcg@10"].values())) < 0.6  # a real retriever, not a degenerate run


def test_ties_are_ordered_as_trec_eval_orders_them():
    """Equal scores: pytrec_eval sees the raw scores, recft the run ordered by ``trec_order``."""
    qrels = {"q1": {"a": 1, "c": 2}, "q2": {"a": 1}, "q3": {"e": 1}}  # every tie decides a relevant doc's rank
    scored = {
        "q1": {"a": 0.5, "b": 0.5, "c": 0.5, "d": 0.9, "e": 0.1},
        "q2": {"c": 0.7, "b": 0.7, "a": 0.7},
        "q3": {"a": 0.3, "c": 0.2, "b": 0.3, "e": 0.3},
    }
    run = {q: trec_order(list(docs), list(docs.values())) for q, docs in scored.items()}
    assert run["q1"] == ["d", "c", "b", "a", "e"] and run["q2"] == ["c", "b", "a"] and run["q3"][0] == "e"
    in_index_order = {q: sorted(docs, key=lambda d: -docs[d]) for q, docs in scored.items()}  # ties as given
    assert per_query_metrics(in_index_order, qrels, (1,), 5)["mrr@1"]["q3"] == 0.0  # so the order matters
    ours = per_query_metrics(run, qrels, k_values=(1, 2, 3), depth=5)
    evaluator = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.1,2,3", "recip_rank", "map"})
    theirs = evaluator.evaluate(scored)
    for q in qrels:
        for k in (1, 2, 3):
            assert ours[f"ndcg@{k}"][q] == pytest.approx(theirs[q][f"ndcg_cut_{k}"], abs=1e-6), (q, k)
        assert ours["mrr@3"][q] == pytest.approx(theirs[q]["recip_rank"], abs=1e-6), q
        assert ours["map@5"][q] == pytest.approx(theirs[q]["map"], abs=1e-6), q
