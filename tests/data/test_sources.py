"""One source spec and one loader for golden sets, probes, replay and injected batches."""

import numpy as np
import pytest

from recft.data.beir import DataError, load_beir, subsample_corpus
from recft.data.sources import SourceSpec, hold_out_queries, load_source

from conftest import DATA, compose

CRANFIELD = SourceSpec(name="cranfield", path=str(DATA / "cranfield"), split="test", train_split="train")


def test_subsample_corpus_keeps_every_judged_document():
    ds = load_beir(DATA / "cranfield", split="test")
    small = subsample_corpus(ds, 600, np.random.default_rng(1))
    judged = {doc for docs in ds.qrels.values() for doc in docs}
    assert len(small.corpus) == 600 and judged <= set(small.corpus)
    assert subsample_corpus(ds, 600, np.random.default_rng(1)).corpus.keys() == small.corpus.keys()  # seeded
    assert subsample_corpus(ds, 10_000, np.random.default_rng(1)) is ds


def test_corpus_sample_and_max_pairs_are_seeded_draws_from_one_generator():
    spec = SourceSpec(**{**CRANFIELD.__dict__, "corpus_sample": 600, "max_pairs": 50})
    a, b, other = load_source(spec, 42), load_source(spec, 42), load_source(spec, 7)
    assert len(a.dataset.corpus) == 600 and len(a.pairs) == 50
    assert a.dataset.corpus.keys() == b.dataset.corpus.keys() and a.pairs == b.pairs
    assert a.pairs != other.pairs
    # the corpus is drawn first, from the same seed as subsample_corpus alone would use
    alone = subsample_corpus(load_beir(DATA / "cranfield", split="test"), 600, np.random.default_rng(42))
    assert a.dataset.corpus.keys() == alone.corpus.keys()
    order = [(p.query_id, p.doc_id) for p in a.pairs]
    everything = [(p.query_id, p.doc_id) for p in load_source(CRANFIELD, 42).pairs]
    assert order == [pair for pair in everything if pair in set(order)]  # the sample keeps the file's order
    assert {p.source for p in a.pairs} == {"cranfield"}


def test_max_queries_is_a_seeded_sample_drawn_before_the_corpus():
    spec = SourceSpec(**{**CRANFIELD.__dict__, "max_queries": 30, "corpus_sample": 300})
    a, b, other = load_source(spec, 42), load_source(spec, 42), load_source(spec, 7)
    assert len(a.dataset.queries) == 30 and a.dataset.queries.keys() == b.dataset.queries.keys()
    assert a.dataset.queries.keys() != other.dataset.queries.keys()
    assert set(a.dataset.qrels) == set(a.dataset.queries) and {p.query_id for p in a.pairs} <= set(a.dataset.queries)
    judged = {doc for docs in a.dataset.qrels.values() for doc in docs}
    assert judged <= set(a.dataset.corpus) and len(a.dataset.corpus) == 300  # the kept queries' documents are kept
    whole = load_source(CRANFIELD, 42).dataset
    assert list(a.dataset.queries) == [q for q in whole.queries if q in a.dataset.queries]  # the file's order
    unsampled = SourceSpec(**{**CRANFIELD.__dict__, "corpus_sample": 300})  # no max_queries: no draw, as before
    assert (
        load_source(unsampled, 42).dataset.corpus.keys()
        == subsample_corpus(whole, 300, np.random.default_rng(42)).corpus.keys()
    )


def test_training_split_of_a_source():
    train = load_source(CRANFIELD.training(), 42)
    assert train.dataset.split == "train" and len(train.dataset.corpus) == 1400
    with pytest.raises(DataError, match="has no train_split"):
        SourceSpec(name="x", path="/tmp").training()


def test_a_typo_in_a_source_is_refused_with_its_config_key():
    with pytest.raises(DataError, match=r"probes.trecdl: unknown source field\(s\) min_relevence"):
        SourceSpec.from_config({"name": "x", "path": "/x", "min_relevence": 2}, "probes.trecdl")
    with pytest.raises(DataError, match="data: a source needs path"):
        SourceSpec.from_config({"name": "x"}, "data")


def test_probes_and_replay_name_a_data_source_instead_of_repeating_it():
    cfg = compose("train", "replay=squad", "+probe@probes.nevir=nevir")
    data_spec = SourceSpec.from_config(compose("evaluate", "data=msmarco-trecdl-slice").data, "data")
    probe_spec = SourceSpec.from_config(cfg.probes.trecdl, "probes.trecdl")
    assert probe_spec == SourceSpec(**{**data_spec.__dict__, "corpus_sample": 6000})  # only the sample differs
    assert SourceSpec.from_config(cfg.probes.nevir, "probes.nevir").gate_metric == "paired_accuracy"
    replay = SourceSpec.from_config(cfg.replay.source, "replay.source")
    assert (replay.name, replay.split, replay.max_pairs, cfg.replay.alpha) == ("squad", "train", 20000, 0.25)


def test_a_dev_split_drawn_by_documents_shares_no_relevant_document_with_training():
    train = load_source(SourceSpec(name="scifact", path=str(DATA / "scifact"), split="train"), seed=42)
    rest, dev = hold_out_queries(train, 0.2, seed=42)
    trained_docs = {p.doc_id for p in rest.pairs}
    assert dev.pairs and not {p.doc_id for p in dev.pairs} & trained_docs
    n = len({p.query_id for p in train.pairs})
    assert abs(len(dev.dataset.queries) - 0.2 * n) <= 0.02 * n  # the share holds although groups are drawn whole
    _, by_query = hold_out_queries(train, 0.2, seed=42, group_by="queries")
    assert {p.doc_id for p in by_query.pairs} & trained_docs  # drawn one by one, dev documents also train


def test_an_unknown_dev_grouping_is_refused():
    train = load_source(SourceSpec(name="scifact", path=str(DATA / "scifact"), split="train"), seed=42)
    with pytest.raises(DataError, match="dev.group_by must be one of documents, queries"):
        hold_out_queries(train, 0.2, seed=42, group_by="claims")
