"""A pair file as a retrieval set: its queries judged against their positives, over the data source's
corpus or the file's own passages; a bad row stops it with every file:line."""

import json

import pytest

from recft.data.beir import DataError, load_beir
from recft.data.pair_sets import corpus_choice, pair_file_source

from conftest import TINY_CORPUS

TEXT = {doc: f"{title} {text}".strip() for doc, (title, text) in TINY_CORPUS.items()}


def write(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_pairs_over_the_data_corpus_join_new_text_and_keep_negatives(tiny_beir, tmp_path):
    base = load_beir(tiny_beir)
    path = write(
        tmp_path / "mine.jsonl",
        [
            {"query": "flea lifespan", "pos": [TEXT["d1"], "Fleas die in winter."], "neg": [TEXT["d2"]]},
            {"query": "violin lessons", "pos": ["The violin was taught to him by his mother."]},
        ],
    )
    source, negatives = pair_file_source({"path": str(path)}, base, "tiny")
    data = source.dataset
    assert len(data.corpus) == len(base.corpus) + 1 and len(data.queries) == 2
    flea = next(q for q, text in data.queries.items() if text == "flea lifespan")
    new_id = next(d for d in data.corpus if d.startswith("new:"))
    assert data.qrels[flea] == {"d1": 1, new_id: 1}
    assert negatives[("tiny", flea)] == [("d2", TEXT["d2"])]
    assert {p.source for p in source.pairs} == {"tiny"} and len(source.pairs) == 3


def test_pairs_without_a_corpus_rank_against_their_own_passages(tmp_path):
    path = write(tmp_path / "own.csv.jsonl", [{"anchor": "a", "positive": "first passage", "negative": "other one"}])
    source, _ = pair_file_source({"path": str(path), "corpus": "file"}, None, "own")
    assert sorted(source.dataset.corpus.values()) == ["first passage", "other one"]


def test_a_bad_pair_file_names_every_line_and_a_bad_choice_is_refused(tiny_beir, tmp_path):
    path = write(tmp_path / "bad.jsonl", [{"anchor": "", "positive": "x"}, "{nope", {"anchor": "q", "positive": "y"}])
    with pytest.raises(
        DataError, match=r"bad.jsonl: 2 bad row\(s\):\n.*bad.jsonl:1: empty query\n.*bad.jsonl:2: malformed"
    ):
        pair_file_source({"path": str(path)}, load_beir(tiny_beir), "tiny")
    with pytest.raises(DataError, match="pair file not found"):
        pair_file_source({"path": str(tmp_path / "absent.jsonl")}, None, "x")
    with pytest.raises(DataError, match="pairs.corpus must be data or file"):
        corpus_choice({"corpus": "web"})
