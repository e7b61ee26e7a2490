"""A golden set that grows: sealing keeps near-duplicate groups whole, never trains a sealed query, and
three cycles on a growing golden set count looks 1, 2, 3 on one ledger."""

import json
from pathlib import Path

import numpy as np
import pytest
from hydra.utils import instantiate as hydra_instantiate

import recft.loop.orchestration.run as run_module
from recft.data.beir import Dataset
from recft.data.pairs import Pair
from recft.loop.gate.dev_check import dev_strata
from recft.loop.gate.looks import levels
from recft.loop.intake.sealing import (
    SealError,
    Shares,
    composition,
    golden_of_record,
    near_duplicate_groups,
    seal,
)
from recft.loop.orchestration.run import run_loop
from recft.loop.storage.registry import Registry

from conftest import TINY_CORPUS, SpyMaker, compose, inbox_cycle_overrides

TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}


def topic_embed(texts):
    """Unit vectors by the first word: texts with the same first word are near-duplicates (cosine 1)."""
    words = sorted({t.split()[0] for t in texts})
    vectors = np.zeros((len(texts), len(words)), dtype=np.float32)
    for i, text in enumerate(texts):
        vectors[i, words.index(text.split()[0])] = 1.0
    return vectors


def pairs_of(queries):
    """One pair per query, each with its own relevant document."""
    return [Pair(f"q{i}", text, f"d:{text}", "passage") for i, text in enumerate(queries)]


def test_near_duplicate_groups_are_connected_components_of_cosine_and_equal_text():
    texts = ["alpha one", "alpha two", "beta one", "Beta  ONE", "gamma"]
    labels = near_duplicate_groups(texts, topic_embed, 0.95)
    assert labels[0] == labels[1] and labels[2] == labels[3] and len(set(labels)) == 3
    plain = near_duplicate_groups(texts, None, None)  # without embeddings: equal after normalisation only
    assert plain[2] == plain[3] and len(set(plain)) == 4


def test_near_duplicate_groups_are_never_split_across_sealed_and_training():
    topics = [f"topic{t}" for t in range(40)]
    queries = [f"{topic} variant {v}" for topic in topics for v in range(3)]
    new = pairs_of(queries)
    result = seal(new, [], Shares(0.25, seed=42, dev=0.0), cycle=1, origins={}, embed=topic_embed, near_dup=0.95)
    sealed_topics = {e["text"].split()[0] for e in result.entries}
    trained_topics = {p.query.split()[0] for p in result.train}
    assert sealed_topics and trained_topics and not sealed_topics & trained_topics
    assert all(sum(e["text"].startswith(t + " ") for e in result.entries) in (0, 3) for t in topics)
    assert 0.1 < len(sealed_topics) / len(topics) < 0.45  # a seeded share, drawn per group
    again = seal(
        list(reversed(new)), [], Shares(0.25, seed=42, dev=0.0), cycle=7, origins={}, embed=topic_embed, near_dup=0.95
    )
    assert {e["text"] for e in again.entries} == {e["text"] for e in result.entries}  # order and cycle free
    other = seal(new, [], Shares(0.25, seed=7, dev=0.0), cycle=1, origins={}, embed=topic_embed, near_dup=0.95)
    assert {e["text"] for e in other.entries} != {e["text"] for e in result.entries}


def test_a_group_that_reaches_an_already_trained_query_trains():
    new = pairs_of([f"topic{t} new" for t in range(30)])
    trained = pairs_of([f"topic{t} old" for t in range(30)])
    result = seal(new, trained, Shares(0.5, seed=42, dev=0.0), cycle=2, origins={}, embed=topic_embed, near_dup=0.95)
    assert result.entries == [] and len(result.train) == len(new)
    with pytest.raises(SealError, match=r"golden.seal must be in \[0, 1\)"):
        seal(new, [], Shares(1.0, seed=42, dev=0.0), cycle=1, origins={})


def test_the_golden_set_of_record_adds_sealed_queries_with_their_origin():
    new = [Pair("a1", "why do cats purr", "d1", "p", "src"), Pair("a1", "why do cats purr", "d2", "p", "src")]
    [entry] = seal(new, [], Shares(0.999, seed=1, dev=0.0), cycle=3, origins={"a1": ("2026-12-01.jsonl", 4)}).entries
    assert entry == {
        "query_id": "sealed:a1",
        "text": "why do cats purr",
        "qrels": {"d1": 1, "d2": 1},
        "file": "2026-12-01.jsonl",
        "line": 4,
        "cycle": 3,
        "role": "golden",
    }
    split = Dataset("g", Path("g"), "test", {"d1": "x", "d2": "y", "d3": "z"}, {"t1": "q"}, {"t1": {"d3": 1}})
    grown = golden_of_record(split, [entry])
    assert grown.queries == {"t1": "q", "sealed:a1": "why do cats purr"} and grown.qrels["sealed:a1"] == {
        "d1": 1,
        "d2": 1,
    }
    held = composition(grown, [entry], trained_docs={"d3"})
    assert held == {"n": 2, "source_split": 1, "sealed": 1, "sealed_by_cycle": {"3": 1}, "seen_in_training": 1}


def write_days(folder):
    """Three days of pair files, 8 distinct questions each over the tiny corpus."""
    folder.mkdir(parents=True)
    for day in range(3):
        rows = [{"anchor": f"day {day} question {i}", "positive": TEXT[f"d{1 + i % 5}"]} for i in range(8)]
        (folder / f"2026-12-0{day + 1}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_three_cycles_on_a_growing_golden_set_count_looks_1_2_3_and_sealed_queries_never_train(
    tiny_model_dir, tiny_train_beir, tmp_path, monkeypatch
):
    trained: list[set] = []
    monkeypatch.setattr(run_module, "instantiate", lambda node: SpyMaker(hydra_instantiate(node), trained))
    inbox = write_days(tmp_path / "inbox")
    cfg = compose(
        "cycle",
        *inbox_cycle_overrides(
            tiny_model_dir, tiny_train_beir, tmp_path, inbox, "loop.per_file=true", "golden.seal=0.4"
        ),
    )
    lines = run_loop(cfg)
    registry = Registry(tmp_path / "registry")
    sealed = registry.sealed()
    assert [ln["looks"]["look"] for ln in lines] == [1, 2, 3]
    assert len({ln["looks"]["golden"] for ln in lines}) == 3  # three contents, one ledger
    expected = levels(0.025, "fallback", [ln["golden"]["p_superiority"] for ln in lines])
    assert [ln["looks"]["alpha"] for ln in lines] == pytest.approx(expected)
    sizes = [ln["golden_set"]["n"] for ln in lines]
    assert sizes[0] >= 4 and sizes == sorted(sizes) and sizes[-1] == 4 + len(sealed) > 4
    assert [ln["golden_set"]["judged"] for ln in lines] == sizes
    assert sum(ln["sealed"]["queries"] for ln in lines) == len(sealed)
    assert all(e["file"].startswith("2026-12-0") and e["line"] >= 1 for e in sealed)
    sealed_texts = {e["text"] for e in sealed}
    assert len(trained) == 3 and all(batch and not batch & sealed_texts for batch in trained)
    assert [ln["pairs"]["new"] + ln["sealed"]["pairs"] for ln in lines] == [8, 8, 8]


def test_manage_golden_shows_origins_and_exports_a_beir_folder_that_loads(
    tiny_model_dir, tiny_train_beir, tmp_path, capsys
):
    from recft.data.beir import load_beir
    from recft.manage import main

    inbox = write_days(tmp_path / "inbox")
    cfg = compose("cycle", *inbox_cycle_overrides(tiny_model_dir, tiny_train_beir, tmp_path, inbox, "golden.seal=0.4"))
    [line] = run_loop(cfg)
    sealed = Registry(tmp_path / "registry").sealed()
    assert sealed and line["golden_set"]["sealed"] == len(sealed)
    capsys.readouterr()
    assert main(["--registry", str(tmp_path / "registry"), "golden"]) == 0
    shown = capsys.readouterr().out
    assert "source golden split" in shown and f"{4 + len(sealed)}" in shown and "2026-12-0" in shown
    assert main(["--registry", str(tmp_path / "registry"), "golden", "--export", str(tmp_path / "export")]) == 0
    exported = load_beir(tmp_path / "export", "test")
    assert len(exported.queries) == 4 + len(sealed) and all(e["query_id"] in exported.qrels for e in sealed)
    assert main(["--registry", str(tmp_path / "registry"), "power", "--metrics", "--current", "mrr@10"]) == 0
    assert "ndcg@10" in capsys.readouterr().out


def test_sealed_groups_stay_whole_by_document_while_dev_may_share_a_document_with_training():
    """No sealed query of a cycle points at a document that cycle trains on; a dev query may, as a
    golden query of the source's split may: dev mirrors the golden set's mix."""
    queries = [f"claim {i}" for i in range(300)]
    docs = [f"doc{i // 3}" if i < 150 else f"own{i}" for i in range(300)]  # 3 claims per doc, then one each
    new = [Pair(f"q{i}", text, doc, "passage") for i, (text, doc) in enumerate(zip(queries, docs))]
    result = seal(new, [], Shares(0.25, seed=42, dev=0.15), cycle=1, origins={})
    trained_docs = {p.doc_id for p in result.train}
    sealed = [doc for entry in result.entries for doc in entry["qrels"]]
    assert result.entries and not set(sealed) & trained_docs
    assert all(sealed.count(doc) == docs.count(doc) for doc in sealed)  # a sealed document's claims are all sealed
    dev_docs = {doc for entry in result.dev for doc in entry["qrels"]}
    assert dev_docs & trained_docs and dev_docs - trained_docs  # both strata
    assert not {e["text"] for e in result.dev} & {p.query for p in result.train}
    share = len(result.dev) / len(queries)
    assert 0.08 < share < 0.22  # dev.arrival_share of all arriving queries, drawn among the unsealed


def test_a_dev_query_may_point_at_a_document_trained_in_an_earlier_cycle():
    earlier = [Pair(f"old{i}", f"old claim {i}", f"doc{i}", "passage") for i in range(200)]
    new = [Pair(f"q{i}", f"new claim {i}", f"doc{i}", "passage") for i in range(200)]  # the same documents
    result = seal(new, earlier, Shares(0.25, seed=42, dev=0.15), cycle=2, origins={})
    assert result.entries and result.dev  # both may be "seen": the strata tell them apart
    assert dev_strata(result.dev, {p.doc_id for p in earlier})["unseen"] == set()


def test_a_copy_of_a_dev_query_of_record_is_dev_and_its_document_may_train():
    """Later deliveries never train a dev query again; other claims on its document are drawn as usual."""
    dev_of_record = [{"query_id": f"dev:old{i}", "text": f"old claim {i}", "qrels": {f"doc{i}": 1}} for i in range(100)]
    copies = [Pair(f"c{i}", f"Old  Claim {i}", f"doc{i}", "passage") for i in range(100)]
    others = [Pair(f"q{i}", f"new claim {i}", f"doc{i}", "passage") for i in range(100)]  # the dev documents again
    shares = Shares(0.25, seed=42, dev=0.15)
    result = seal(copies + others, [], shares, cycle=3, origins={}, dev_of_record=dev_of_record)
    assert {e["text"] for e in result.dev} >= {p.query for p in copies}
    assert not {p.query for p in result.train} & {p.query for p in copies}
    assert result.train and {p.doc_id for p in result.train} & {d for e in dev_of_record for d in e["qrels"]}
    without = seal(copies, [], shares, cycle=3, origins={})
    assert without.train  # without the record a copy is drawn like any query


def test_a_near_duplicate_of_a_dev_query_of_record_is_dev_like_a_near_duplicate_of_a_sealed_one():
    """Cosine ≥ ``arrivals.near_dup`` by the incumbent's query tower (here: the same first word) to an
    earlier dev query makes a new query dev, never training — the same rule that keeps a sealed query's
    near-copy out; without the embedding the reworded claims are drawn like any other."""
    dev_of_record = [
        {"query_id": f"dev:d{i}", "text": f"w{i} as first worded", "qrels": {f"doc{i}": 1}} for i in range(100)
    ]
    reworded = [Pair(f"n{i}", f"w{i} said again in other words", f"doc{i}", "passage") for i in range(100)]
    shares = Shares(0.25, seed=42, dev=0.15)
    near = seal(
        reworded, [], shares, cycle=4, origins={}, embed=topic_embed, near_dup=0.95, dev_of_record=dev_of_record
    )
    assert not near.train and not near.entries and len(near.dev) == 100
    plain = seal(reworded, [], shares, cycle=4, origins={}, dev_of_record=dev_of_record)
    assert plain.train and plain.entries  # without the tower nothing ties them to the dev claims


def test_a_repeat_of_a_trained_query_trains_and_an_earlier_held_out_query_is_not_trained():
    """``trained`` holds only what trained: a repeat of a trained query trains (never sealed); the cycle
    passes held-out queries of record as dev or golden rows, never as trained (``seal_arrivals``)."""
    trained = [Pair(f"t{i}", f"claim {i}", f"doc{i}", "passage") for i in range(100)]
    repeats = [Pair(f"r{i}", f"claim {i}", f"other{i}", "passage") for i in range(100)]
    result = seal(repeats, trained, Shares(0.25, seed=42, dev=0.15), cycle=2, origins={})
    assert len(result.train) == len(repeats) and not result.entries and not result.dev
