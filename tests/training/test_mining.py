import numpy as np
import pytest

from recft.model.index import Index
from recft.training.mining import TopKMarginMiner


def setup_corpus():
    """One query; docs at known cosine scores: pos 0.9, near-duplicate 0.89, others 0.8 … 0.1."""
    scores = {"pos": 0.9, "twin": 0.89, "a": 0.8, "b": 0.7, "c": 0.5, "d": 0.1}
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    docs = {d: np.array([s, np.sqrt(1 - s * s)], dtype=np.float32) for d, s in scores.items()}
    index = Index(2, use_gpu=False)
    index.add(np.stack(list(docs.values())), list(docs))
    return q, index, docs


def test_never_returns_a_positive_and_respects_the_margin():
    q, index, docs = setup_corpus()
    miner = TopKMarginMiner(num_negatives=3, rank_end=6, relative_margin=0.05)
    mined = miner.mine(["q1"], q, index, docs, {"q1": ["pos"]})
    assert mined == {"q1": ["a", "b", "c"]}  # "twin" (0.89 > 0.95 × 0.9) is a likely false negative
    for doc in mined["q1"]:
        assert "pos" != doc and float(q[0] @ docs[doc]) <= 0.95 * 0.9


def test_rank_window_and_zero_margin():
    q, index, docs = setup_corpus()
    mined = TopKMarginMiner(num_negatives=2, rank_start=3, rank_end=6, relative_margin=0.0).mine(
        ["q1"], q, index, docs, {"q1": ["pos"]}
    )
    assert mined == {"q1": ["b", "c"]}
    mined = TopKMarginMiner(num_negatives=1, relative_margin=0.0).mine(["q1"], q, index, docs, {"q1": ["pos"]})
    assert mined == {"q1": ["twin"]}


def test_refuses_evaluation_queries():
    q, index, docs = setup_corpus()
    with pytest.raises(ValueError, match="evaluation queries"):
        TopKMarginMiner().mine(["q1"], q, index, docs, {"q1": ["pos"]}, forbidden_query_ids={"q1"})
