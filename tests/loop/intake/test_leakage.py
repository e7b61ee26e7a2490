"""The leakage audit on its own: exact copies after normalisation, near-duplicates by cosine."""

import numpy as np

from recft.data.beir import Dataset
from recft.data.pairs import Pair
from recft.data.sources import Source, SourceSpec
from recft.loop.intake.leakage import audit


def source(name, queries, qrels=None):
    dataset = Dataset(name, "/x", "test", {"d1": "a", "d2": "b"}, queries, qrels or {q: {"d1": 1} for q in queries})
    return Source(SourceSpec(name=name, path="/x"), dataset, [])


AXES = ["fleas", "wings", "violin"]


def embed(texts):
    """A stand-in query tower: a text points along the axis of its first word, a little off by its length."""
    vectors = np.array([[1.0 if t.lower().split()[0] == a else 0.0 for a in AXES] + [len(t) / 200] for t in texts])
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_copies_and_near_duplicates_are_dropped_and_golden_passages_reported():
    sets = {
        "gold": source("gold", {"g1": "fleas live a year"}),
        "probe": source("probe", {"p1": "wings in slipstreams"}),
    }
    pairs = [
        Pair("a1", "Fleas  LIVE a year", "d2", "b", "gold"),  # equal after normalisation
        Pair("a2", "wings in a slipstream", "d2", "b", "gold"),  # the same direction as the probe query
        Pair("a3", "violin lessons", "d1", "a", "gold"),  # new, and its passage is golden-relevant
    ]
    kept, report = audit(pairs, sets, "gold", embed, near_dup=0.95)
    assert [p.query_id for p in kept] == ["a3"]
    assert report["dropped"] == {"copies a gold query": 1, "near-duplicate of a probe query": 1}
    assert report["golden_relevant_passages"] == 1 and report["golden_relevant_examples"] == ["d1"]
    kept_all, off = audit(pairs, sets, "gold", embed, near_dup=1.01)  # cosine never reaches 1.01: copies only
    assert len(kept_all) == 2 and off["dropped"] == {"copies a gold query": 1}


def test_the_schedule_mode_runs_the_same_audit_as_an_inbox(tiny_model_dir, tmp_path, monkeypatch):
    """A training query that copies a golden one never trains, however pairs arrive: here the simulated
    schedule (``arrivals.path=null``), which ran no audit before (SciFact's train 1291 is test 1292)."""
    from hydra.utils import instantiate as hydra_instantiate

    import recft.loop.orchestration.run as run_module
    from recft.loop.orchestration.run import run_loop

    from conftest import (
        TINY_CORPUS,
        TINY_QRELS,
        TINY_QUERIES,
        TRAIN_QRELS,
        TRAIN_QUERIES,
        SpyMaker,
        compose,
        tiny_run_overrides,
        write_beir,
    )

    queries = {**TINY_QUERIES, **TRAIN_QUERIES, "copy": "How long do FLEAS live"}  # golden q1, re-cased
    folder = write_beir(tmp_path / "data", TINY_CORPUS, queries, TINY_QRELS)
    write_beir(folder, TINY_CORPUS, queries, [*TRAIN_QRELS, ("copy", "d1", 1)], split="train")
    batches: list[set] = []
    monkeypatch.setattr(run_module, "instantiate", lambda node: SpyMaker(hydra_instantiate(node), batches))
    overrides = tiny_run_overrides(tiny_model_dir, folder, tmp_path, "adapter.rank=4", "train.epochs=1")
    audited = ("arrivals.near_dup=1.01", "golden.seal=0")  # exact copies: a random tiny BERT finds every text near
    cfg = compose("cycle", *overrides, f"registry.root={tmp_path}/registry", "gate.min_queries=1", *audited)
    [line] = run_loop(cfg)
    assert line["leakage"]["schedule"]["dropped"] == {"copies a tiny query": 1}
    assert line["pairs"]["new"] == 12 and batches and "How long do FLEAS live" not in set().union(*batches)
