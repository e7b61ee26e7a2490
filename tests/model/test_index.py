import numpy as np
import pytest

from recft.model.index import Index, IndexMismatchError


def _unit(rows, dim, seed):
    x = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_search_is_exact_inner_product():
    docs, queries = _unit(300, 16, 0), _unit(20, 16, 1)
    index = Index(16, use_gpu=False)
    index.add(docs, [f"d{i}" for i in range(300)])
    scores, ids = index.search(queries, k=5)
    expected = np.argsort(-(queries @ docs.T), axis=1)[:, :5]
    assert ids == [[f"d{i}" for i in row] for row in expected]
    assert np.allclose(scores, np.sort(queries @ docs.T, axis=1)[:, ::-1][:, :5], atol=1e-5)


def test_save_load_roundtrip_and_dimension_check(tmp_path):
    docs = _unit(50, 8, 2)
    index = Index(8, use_gpu=False)
    index.add(docs, [str(i) for i in range(50)])
    index.save(tmp_path / "idx", meta={"fingerprint": "abc"})
    loaded = Index.load(tmp_path / "idx", expected_dim=8, use_gpu=False)
    assert loaded.search(docs[:3], 1)[1] == [["0"], ["1"], ["2"]]
    with pytest.raises(IndexMismatchError, match=r"index\.faiss: index has 8-d vectors but the encoder produces 384-d"):
        Index.load(tmp_path / "idx", expected_dim=384)
    with pytest.raises(IndexMismatchError, match="not found"):
        Index.load(tmp_path / "missing")


def test_refuses_wrong_width_and_id_count():
    index = Index(8, use_gpu=False)
    with pytest.raises(IndexMismatchError, match="shape"):
        index.add(_unit(3, 4, 0), ["a", "b", "c"])
    with pytest.raises(IndexMismatchError, match="2 ids for 3 embeddings"):
        index.add(_unit(3, 8, 0), ["a", "b"])
