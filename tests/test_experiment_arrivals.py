"""experiments/arrivals/prepare.py: the week of deliveries is what its README says it is."""

import importlib.util
from pathlib import Path

from recft.data.arrivals import CorpusIndex, is_corpus_delta, read_arrival, read_corpus_delta
from recft.data.beir import load_beir

from conftest import REPO


def load_prepare():
    spec = importlib.util.spec_from_file_location("prepare", REPO / "experiments" / "arrivals" / "prepare.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_week_covers_every_training_pair_once_in_four_formats_with_two_deltas(tmp_path):
    counts = load_prepare().prepare(tmp_path)
    golden = load_beir(tmp_path / "scifact-start", "test")  # the golden split resolves on the smaller corpus
    full = load_beir(REPO / "data" / "scifact", "train")
    assert len(golden.queries) == 300 and len(golden.corpus) == counts["start_documents"]
    assert counts["start_documents"] + sum(counts["deltas"].values()) == 5183
    corpus = CorpusIndex(dict(golden.corpus), golden.titles)
    formats, pairs, problems = {}, set(), []
    files = sorted((tmp_path / "deliveries").iterdir(), key=lambda p: (p.name.split(".")[0], not is_corpus_delta(p)))
    for path in files:
        if is_corpus_delta(path):
            delta = read_corpus_delta(path, corpus)
            assert not delta.problems and not set(delta.new_documents) & {d for q in golden.qrels.values() for d in q}
            for doc_id, text in delta.new_documents.items():
                corpus.add(doc_id, text, delta.titles[doc_id])
            continue
        arrival = read_arrival(path, corpus, "scifact")
        formats[path.name] = (arrival.format, Path(path).suffix)
        pairs |= {(p.query, p.doc_id) for p in arrival.pairs}
        problems += arrival.problems
    assert {f for f, _ in formats.values()} == {"sentence_transformers", "flag_embedding", "tevatron"}
    assert {s for _, s in formats.values()} == {".jsonl", ".parquet", ".tsv"}
    assert "2026-12-04.jsonl" not in formats  # the day with nothing
    assert len(problems) == 1 and problems[0].endswith("2026-12-07-late.tsv:6: empty positive")
    expected = {(full.queries[q], d) for q, docs in full.qrels.items() for d, s in docs.items() if s > 0}
    copied = pairs - expected  # the one golden query copied into day 2, for the leakage audit
    assert len(copied) == 1 and next(iter(copied))[0] in golden.queries.values()
    assert len(expected - pairs) == 1  # the quarantined row's pair
