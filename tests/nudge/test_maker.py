"""A NUDGE candidate: fitted from pairs over cached embeddings, stored atomically, made by ``recft train``."""

import json

import numpy as np
import pytest

from recft.data.beir import load_beir
from recft.data.pairs import Pair
from recft.eval.report import Report
from recft.model.store import load_overrides
from recft.nudge.analysis import delta_by_touch, touched_queries
from recft.nudge.corpus import NudgedCorpus, NudgeError, group_pairs
from recft.training.job import load_training_data, train_job

from conftest import compose_train


def test_group_pairs_keeps_pairs_of_the_corpus_source_whose_passage_is_in_it():
    corpus = {"d1": "a", "d2": "b"}
    pairs = [
        Pair("q1", "x", "d1", "a", "sci"),
        Pair("q1", "x", "d2", "b", "sci"),
        Pair("q1", "x", "d1", "a", "sci"),  # duplicate judgement: one answer
        Pair("q2", "y", "7", "c", "sci"),  # a passage outside the corpus
        Pair("q3", "z", "d2", "b", "squad"),  # another source's d2 is another document
    ]
    queries, answers, skipped = group_pairs(pairs, corpus, "sci")
    assert queries == {"q1": "x"} and answers == {"q1": ["d1", "d2"]} and skipped == 2


def test_touched_queries_and_the_delta_on_each_side():
    qrels = {"a": {"d1": 1}, "b": {"d2": 0, "d3": 1}, "c": {"d2": 2}}
    assert touched_queries(qrels, {"d2"}) == {"c"}  # b's d2 is judged not relevant
    base = Report("x", "test", {"ndcg@10": {"a": 0.5, "b": 0.5, "c": 0.0}})
    new = Report("x", "test", {"ndcg@10": {"a": 0.25, "b": 0.25, "c": 1.0}})
    rows = delta_by_touch(base, new, "ndcg@10", {"c"})
    assert rows["touched"]["delta"] == 1.0 and rows["touched"]["n"] == 1
    assert rows["untouched"]["delta"] == -0.25 and rows["untouched"]["n"] == 2


def test_save_load_round_trip_and_bad_folder(tmp_path):
    nudged = NudgedCorpus(["d1", "d9"], np.eye(2, 4, dtype=np.float32), 0.12, "n", "abc", {"docs_moved": 2})
    nudged.save(tmp_path / "v")
    loaded = NudgedCorpus.load(tmp_path / "v")
    assert loaded.doc_ids == ["d1", "d9"] and loaded.gamma == 0.12 and loaded.fingerprint == "abc"
    np.testing.assert_array_equal(loaded.overrides()["d9"], np.eye(2, 4)[1])
    assert not list(tmp_path.glob(".*tmp"))
    (tmp_path / "broken").mkdir()
    with pytest.raises(NudgeError, match="broken: not a readable NUDGE version"):
        NudgedCorpus.load(tmp_path / "broken")


@pytest.mark.parametrize("adapter", ["nudge", "nudge_m"])
def test_train_with_a_nudge_adapter_moves_only_the_golden_corpus(tiny_model_dir, tiny_train_beir, tmp_path, adapter):
    cfg = compose_train(tiny_model_dir, tiny_train_beir, tmp_path, f"adapter={adapter}", "adapter.val_fraction=0.25")
    summary = train_job(cfg, tmp_path)
    stats = summary["nudge"]
    assert stats["variant"] == ("m" if adapter == "nudge_m" else "n") and summary["kind"] == "nudge"
    # 12 training queries, 2 held out as dev (never used), 10 for NUDGE: 8 move documents, 2 choose γ
    assert stats["train_queries"] == 8 and stats["val_queries"] == 2 and stats["pairs_skipped"] == 0
    moved = load_overrides(tmp_path / "candidate")
    assert stats["docs_moved"] == len(moved) and stats["docs"] == 5
    test_qrels = load_beir(tiny_train_beir, split="test").qrels
    assert stats["test_queries_touched"] == len(touched_queries(test_qrels, set(moved)))
    data, _ = load_training_data(cfg)  # dev is drawn by document group: its documents are not trained on
    in_training = touched_queries(test_qrels, {p.doc_id for p in data.pairs})
    assert stats["test_queries_in_training_pairs"] == len(in_training) and 0 < len(in_training) < 4
    assert set(summary["epochs"]) == {0, 1}
    probe = {row["metric"]: row for row in summary["deltas"]["trecdl"]}
    assert probe["ndcg@10"]["delta"] == 0 and probe["ndcg@10"]["n"] == 4  # another corpus: unchanged
    golden = {row["metric"]: row for row in summary["deltas"]["tiny"]}
    if not moved:  # nothing moved: the golden set scores exactly as zero-shot
        assert golden["ndcg@10"]["delta"] == 0
    assert json.loads((tmp_path / "summary.json").read_text())["nudge"]["gamma"] == stats["gamma"]
