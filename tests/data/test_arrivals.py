"""Pair files as sentence-transformers, FlagEmbedding and Tevatron write them, read into training pairs."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recft.data.arrivals import CorpusIndex, content_id, is_corpus_delta, read_arrival, read_corpus_delta
from recft.data.beir import DataError

CORPUS = {"d1": "Fleas A flea can live up to a year.", "d2": "Wings An experimental study of a wing."}
TITLES = {"d1": "Fleas", "d2": "Wings"}


@pytest.fixture
def corpus():
    return CorpusIndex(CORPUS, TITLES)


def jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_sentence_transformers_jsonl_maps_text_to_corpus_ids_and_keeps_negatives(tmp_path, corpus):
    path = jsonl(
        tmp_path / "day1.jsonl",
        [
            {
                "anchor": "how long do fleas live",
                "positive": "A flea can live up to a year.",
                "negative": "Wings An experimental study of a wing.",
            },
            {
                "anchor": "wing study",
                "positive": "wings an EXPERIMENTAL study of a wing.",
                "negative_1": "x",
                "negative_2": "y",
            },
            {"anchor": "a new question", "positive": "A passage no corpus has."},
        ],
    )
    arrival = read_arrival(path, corpus, "scifact")
    assert arrival.format == "sentence_transformers" and arrival.rows_read == 3
    assert [(p.query, p.doc_id) for p in arrival.pairs] == [
        ("how long do fleas live", "d1"),  # the text alone matched d1
        ("wing study", "d2"),  # title + text, case and spacing aside
        ("a new question", content_id("new", "A passage no corpus has.")),
    ]
    assert all(p.source == "scifact" for p in arrival.pairs) and arrival.pairs[0].passage == CORPUS["d1"]
    first_query = arrival.pairs[0].query_id
    assert arrival.negatives[("scifact", first_query)] == [("d2", CORPUS["d2"])]
    assert [n for n, _ in arrival.negatives[("scifact", arrival.pairs[1].query_id)]] == [
        content_id("new", "x"),
        content_id("new", "y"),
    ]
    assert set(arrival.new_documents) == {content_id("new", t) for t in ("A passage no corpus has.", "x", "y")}
    assert arrival.manifest() == {
        "file": "day1.jsonl",
        "format": "sentence_transformers",
        "rows_read": 3,
        "kept": 3,
        "dropped": {},
        "new_documents": 3,
    }


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet"])
def test_sentence_transformers_tables_with_a_column_map(tmp_path, corpus, suffix):
    rows = [
        {"question": "fleas", "answer": "A flea can live up to a year."},
        {"question": "wings", "answer": "An experimental study of a wing."},
    ]
    path = tmp_path / f"day{suffix}"
    if suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        sep = "\t" if suffix == ".tsv" else ","
        path.write_text("question" + sep + "answer\n" + "".join(f"{r['question']}{sep}{r['answer']}\n" for r in rows))
    arrival = read_arrival(path, corpus, "scifact", columns={"anchor": "question", "positive": "answer"})
    assert [(p.query, p.doc_id) for p in arrival.pairs] == [("fleas", "d1"), ("wings", "d2")]


def test_flag_embedding_gives_one_pair_per_positive(tmp_path, corpus):
    path = jsonl(
        tmp_path / "f.jsonl",
        [
            {
                "query": "insects",
                "pos": ["A flea can live up to a year.", "Wings An experimental study of a wing."],
                "neg": ["x"],
            }
        ],
    )
    arrival = read_arrival(path, corpus, "scifact")
    assert arrival.format == "flag_embedding" and [p.doc_id for p in arrival.pairs] == ["d1", "d2"]
    assert len({p.query_id for p in arrival.pairs}) == 1


def test_tevatron_uses_docids_and_falls_back_to_text(tmp_path, corpus):
    record = {
        "query_id": "7",
        "query": "fleas",
        "positive_passages": [
            {"docid": "d1", "title": "", "text": ""},
            {"docid": "zz", "title": "Wings", "text": "An experimental study of a wing."},
        ],
        "negative_passages": [{"docid": "d2", "title": "Wings", "text": "whatever"}],
    }
    arrival = read_arrival(jsonl(tmp_path / "t.jsonl", [record]), corpus, "scifact")
    assert arrival.format == "tevatron" and [(p.query_id, p.doc_id) for p in arrival.pairs] == [
        ("7", "d1"),
        ("7", "d2"),
    ]
    assert arrival.negatives[("scifact", "7")] == [("d2", CORPUS["d2"])]  # d2's own negative entry is dropped for row 2


def test_every_bad_row_is_reported_with_file_and_line_and_duplicates_are_counted(tmp_path, corpus):
    path = jsonl(
        tmp_path / "bad.jsonl",
        [
            {"anchor": "fleas", "positive": "A flea can live up to a year."},
            "{not json",
            {"anchor": "", "positive": "A flea can live up to a year."},
            {"anchor": "FLEAS ", "positive": "a flea can live up to a year."},  # the first row again
            '["a list"]',
            {"anchor": "wings", "positive": "   "},
        ],
    )
    arrival = read_arrival(path, corpus, "scifact")
    assert len(arrival.pairs) == 1 and arrival.rows_read == 6
    assert arrival.problems == [
        f"{path}:2: malformed JSON (Expecting property name enclosed in double quotes)",
        f"{path}:3: empty query",
        f"{path}:5: expected a JSON object, got list",
        f"{path}:6: empty positive",
    ]
    assert arrival.dropped == {"malformed_json": 1, "empty": 2, "expected_a_json_object": 1, "duplicate": 1}


def test_unknown_ids_and_absent_columns_are_named(tmp_path, corpus):
    record = {"query": "q", "positive_passages": [{"docid": "nope", "title": "", "text": ""}]}
    arrival = read_arrival(jsonl(tmp_path / "t.jsonl", [record]), corpus, "scifact")
    assert arrival.problems == [f"{tmp_path / 't.jsonl'}:1: unknown passage id 'nope' and no text"]
    st = jsonl(tmp_path / "s.jsonl", [{"question": "q", "positive": "p"}])
    with pytest.raises(DataError, match=r"s.jsonl:1: no column 'anchor' \(columns: question, positive\)"):
        read_arrival(st, corpus, "scifact")
    with pytest.raises(DataError, match="no column 'answer'"):
        read_arrival(st, corpus, "scifact", columns={"anchor": "question", "positive": "answer"})
    with pytest.raises(DataError, match="maps unknown field"):
        read_arrival(st, corpus, "scifact", columns={"passage": "positive"})


def test_a_corpus_delta_adds_documents_and_refuses_an_id_with_other_text(tmp_path, corpus):
    path = jsonl(
        tmp_path / "week2.corpus.jsonl",
        [
            {"_id": "d3", "title": "Otters", "text": "Sea otters hold hands."},
            {"_id": "d1", "title": "Fleas", "text": "A flea can live up to a year."},  # already there, same text
            {"_id": "d2", "title": "Wings", "text": "Something else entirely."},
            {"_id": "", "text": "no id"},
            {"_id": "d4", "text": "  "},
            "{broken",
        ],
    )
    assert (
        is_corpus_delta(path)
        and is_corpus_delta(tmp_path / "corpus.jsonl")
        and not is_corpus_delta(tmp_path / "a.jsonl")
    )
    delta = read_corpus_delta(path, corpus)
    assert delta.new_documents == {"d3": "Otters Sea otters hold hands."} and delta.titles == {"d3": "Otters"}
    assert delta.problems == [
        f"{path}:3: document id 'd2' is already in the corpus with other text",
        f"{path}:4: empty _id",
        f"{path}:5: empty text",
        f"{path}:6: malformed JSON (Expecting property name enclosed in double quotes)",
    ]
    assert dict(delta.dropped) == {
        "already_in_corpus": 1, "already_in_the_corpus_with_other_text": 1, "empty": 2, "malformed_json": 1
    }  # fmt: skip
    corpus.add("d3", "Otters Sea otters hold hands.", "Otters")  # once joined, its text alone finds it
    pairs = read_arrival(
        jsonl(tmp_path / "p.jsonl", [{"anchor": "otters", "positive": "sea otters hold HANDS."}]), corpus, "s"
    )
    assert [p.doc_id for p in pairs.pairs] == ["d3"]
