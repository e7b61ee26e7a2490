import numpy as np
import pytest

from recft.model.index import Index, IndexMismatchError, IndexSpec


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


@pytest.mark.parametrize(
    "spec,at_least", [(IndexSpec("ivf", nlist=16, nprobe=8), 0.6), (IndexSpec("hnsw", hnsw_m=16, ef_search=64), 0.9)]
)
def test_approximate_indexes_search_and_measure_their_recall_of_exact_search(spec, at_least):
    docs, queries = _unit(2000, 32, 1), _unit(50, 32, 2)
    index = Index(32, use_gpu=False, spec=spec)
    index.add(docs, [f"d{i}" for i in range(2000)])
    _, ids = index.search(queries, k=10)
    assert len(ids) == 50 and all(len(row) == 10 for row in ids)
    recall = index.recall_vs_exact(docs, queries, 10)
    exact = Index(32, use_gpu=False)
    exact.add(docs, [f"d{i}" for i in range(2000)])
    _, truth = exact.search(queries, k=10)
    by_hand = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth)])
    assert recall == pytest.approx(by_hand) and at_least <= recall < 1.0 + 1e-9
    assert exact.recall_vs_exact(docs, queries, 10) == 1.0
    with pytest.raises(IndexMismatchError, match="eval.index.kind must be one of flat, ivf, hnsw"):
        IndexSpec("annoy")


def test_an_approximate_evaluation_records_its_recall_and_is_never_paired_with_an_exact_one(tiny_encoder, tiny_beir):
    from recft.data.beir import load_beir
    from recft.eval.evaluate import evaluate_dataset
    from recft.eval.settings import EvalSettings

    dataset = load_beir(tiny_beir)
    exact = evaluate_dataset(tiny_encoder, dataset, EvalSettings())
    hnsw = evaluate_dataset(tiny_encoder, dataset, EvalSettings(depth=5, index=IndexSpec("hnsw")))
    assert "index" not in exact.config and hnsw.config["index"]["kind"] == "hnsw"
    assert hnsw.config["index"]["recall_vs_exact@5"] == 1.0  # five documents: the graph finds them all
    assert EvalSettings().to_dict() == {"k_values": [1, 5, 10, 100], "depth": 100}  # exact: keys as before
    assert EvalSettings(index=IndexSpec("ivf")).to_dict()["index"]["kind"] == "ivf"


def test_reserving_room_keeps_chunked_adds_exact():
    docs = _unit(3000, 16, 3)
    reserved, plain = Index(16, use_gpu=False), Index(16, use_gpu=False)
    reserved.reserve(3000)
    for start in range(0, 3000, 1000):
        reserved.add(docs[start : start + 1000], [f"d{i}" for i in range(start, start + 1000)])
    plain.add(docs, [f"d{i}" for i in range(3000)])
    assert reserved.search(docs[:5], k=3)[1] == plain.search(docs[:5], k=3)[1] and len(reserved) == 3000


def test_a_memory_mapped_flat_index_searches_like_the_loaded_one_without_a_private_copy(tmp_path):
    docs = _unit(20000, 64, 5)  # 5 MB of vectors
    index = Index(64, use_gpu=False)
    index.add(docs, [str(i) for i in range(len(docs))])
    index.save(tmp_path / "idx")

    def private_mb() -> float:  # resident minus file-backed pages (Linux /proc/self/statm)
        fields = open("/proc/self/statm").read().split()
        return (int(fields[1]) - int(fields[2])) * 4096 / 2**20

    before = private_mb()
    mapped = Index.load(tmp_path / "idx", use_gpu=False, mmap=True)
    (scores, ids), (expected_scores, expected_ids) = mapped.search(docs[:50], 5), index.search(docs[:50], 5)
    assert ids == expected_ids and np.array_equal(scores, expected_scores)
    assert private_mb() - before < 2.5  # a private copy would be 5 MB
