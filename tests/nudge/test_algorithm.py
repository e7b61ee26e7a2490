"""NUDGE-N and NUDGE-M against the reference implementation (``nudge-ft``) on the same inputs."""

import numpy as np
import pytest
import torch

from recft.nudge.algorithm import most_covered_point, nudge_m, nudge_n, split_validation

nudge_ft = pytest.importorskip("nudge")


def toy_problem(seed: int, n_docs: int = 80, dim: int = 16):
    """Unit-norm documents; queries near the mean of their 1–2 answers, plus noise."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n_docs, dim)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)

    def queries(m):
        answers = [sorted(rng.choice(n_docs, size=rng.integers(1, 3), replace=False).tolist()) for _ in range(m)]
        q = np.stack([emb[a].mean(0) + 0.3 * rng.normal(size=dim) for a in answers]).astype(np.float32)
        return q / np.linalg.norm(q, axis=1, keepdims=True), answers

    return emb, *queries(40), *queries(15)


def reference(cls, emb, tq, ta, vq, va):
    return cls(device=torch.device("cpu")).finetune_embeddings(
        emb, {"q_embs": tq, "q_ans_indx": ta}, {"q_embs": vq, "q_ans_indx": va}
    )


SEED = 9  # a problem where both variants choose γ > 0 (γ = 0 would make the comparison trivial)


def test_nudge_n_equals_the_reference():
    emb, tq, ta, vq, va = toy_problem(SEED)
    ours = nudge_n(emb, tq, ta, vq, va)
    assert ours.gamma > 0 and ours.changed.any()
    np.testing.assert_allclose(ours.embeddings, reference(nudge_ft.NUDGEN, emb, tq, ta, vq, va), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ours.embeddings, axis=1), 1.0, atol=1e-5)  # stays on the sphere


def test_nudge_m_equals_the_reference():
    emb, tq, ta, vq, va = toy_problem(SEED)
    ours = nudge_m(emb, tq, ta, vq, va)
    assert ours.gamma > 0 and ours.changed.any()
    np.testing.assert_allclose(ours.embeddings, reference(nudge_ft.NUDGEM, emb, tq, ta, vq, va), atol=1e-6)


@pytest.mark.parametrize("variant", [nudge_n, nudge_m])
def test_only_documents_with_training_queries_move(variant):
    emb, tq, ta, vq, va = toy_problem(1)
    result = variant(emb, tq, ta, vq, va)
    answered = {d for docs in ta for d in docs}
    assert set(np.flatnonzero(result.changed)) <= answered
    untouched = [d for d in range(len(emb)) if d not in answered]
    np.testing.assert_allclose(result.embeddings[untouched], emb[untouched], atol=1e-6)


def test_nudging_raises_validation_accuracy_on_a_learnable_problem():
    """Validation queries that are near-copies of training queries: moving their answers must help."""
    emb, tq, ta, _, _ = toy_problem(2)
    vq = tq[:15] + 0.01
    va = ta[:15]
    result = nudge_n(emb, tq, ta, vq, va)
    before = np.mean([np.argmax(q @ emb.T) in a for q, a in zip(vq, va)])
    after = np.mean([np.argmax(q @ result.embeddings.T) in a for q, a in zip(vq, va)])
    assert result.gamma > 0 and after > before


def test_most_covered_point_is_the_left_end_of_the_deepest_overlap():
    assert most_covered_point(np.array([0.0, 0.2, 0.3]), np.array([1.0, 0.5, 0.4])) == pytest.approx(0.3)
    assert most_covered_point(np.array([]), np.array([])) == 0.0


def test_split_validation_is_seeded_and_disjoint():
    ids = [f"q{i}" for i in range(20)]
    train, val = split_validation(ids, 0.1, seed=42)
    assert len(val) == 2 and not set(train) & set(val) and set(train) | set(val) == set(ids)
    assert split_validation(ids, 0.1, seed=42) == (train, val)
    with pytest.raises(ValueError, match="at least 2"):
        split_validation(["q0"], 0.1, seed=42)
