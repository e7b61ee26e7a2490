import gzip
import json
import shutil

import pytest

from recft.data.beir import DataError, load_beir

from conftest import DATA, TINY_CORPUS, TINY_QRELS, TINY_QUERIES, write_beir


def test_vendored_scifact_matches_published_counts():
    ds = load_beir(DATA / "scifact", split="test")
    assert (len(ds.corpus), len(ds.queries), sum(map(len, ds.qrels.values()))) == (5183, 300, 339)
    train = load_beir(DATA / "scifact", split="train")
    assert (len(train.queries), sum(map(len, train.qrels.values()))) == (809, 919)


def test_corpus_text_is_title_space_text(tiny_beir):
    ds = load_beir(tiny_beir)
    assert ds.corpus["d1"] == "Fleas A flea can live up to a year, depending on its hosts."
    assert ds.corpus["d4"] == "The violin was taught to him by his mother."  # empty title: no leading space
    assert set(ds.queries) == {"q1", "q2", "q3", "q4"}
    assert ds.qrels["q3"] == {"d3": 1, "d1": 1}


def test_gzip_and_plain_load_the_same(tiny_beir, tmp_path):
    gz = tmp_path / "gz"
    shutil.copytree(tiny_beir, gz)
    for name in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        with open(gz / name, "rb") as src, gzip.open(gz / f"{name}.gz", "wb") as dst:
            dst.write(src.read())
        (gz / name).unlink()
    a, b = load_beir(tiny_beir), load_beir(gz)
    assert (a.corpus, a.queries, a.qrels) == (b.corpus, b.queries, b.qrels)


def test_queries_without_relevant_documents_are_left_out(tmp_path):
    folder = write_beir(tmp_path / "y", TINY_CORPUS, TINY_QUERIES, [("q1", "d1", 1), ("q2", "d2", 0)])
    assert set(load_beir(folder).queries) == {"q1"}


def _corrupt(folder, name, line_number, text):
    lines = (folder / name).read_text().splitlines()
    lines[line_number - 1] = text
    (folder / name).write_text("\n".join(lines) + "\n")


def test_malformed_json_names_file_and_line(tiny_beir):
    _corrupt(tiny_beir, "corpus.jsonl", 3, '{"_id": "d3", "text": ')
    with pytest.raises(DataError, match=r"corpus\.jsonl:3: malformed JSON"):
        load_beir(tiny_beir)


def test_missing_id_field(tiny_beir):
    _corrupt(tiny_beir, "queries.jsonl", 2, json.dumps({"text": "no id"}))
    with pytest.raises(DataError, match=r"queries\.jsonl:2: missing field '_id'"):
        load_beir(tiny_beir)


@pytest.mark.parametrize(
    "column,bad,message",
    [
        (0, "q99", r"test\.tsv:3: query id 'q99' is not in queries\.jsonl"),
        (1, "d99", r"test\.tsv:3: corpus id 'd99' is not in corpus\.jsonl"),
    ],
)
def test_qrels_naming_unknown_ids(tiny_beir, column, bad, message):
    rows = [list(r) for r in TINY_QRELS]
    rows[1][column] = bad
    write_beir(tiny_beir, TINY_CORPUS, TINY_QUERIES, [tuple(r) for r in rows])
    with pytest.raises(DataError, match=message):
        load_beir(tiny_beir)


def test_empty_corpus(tiny_beir):
    (tiny_beir / "corpus.jsonl").write_text("\n")
    with pytest.raises(DataError, match=r"corpus\.jsonl: corpus is empty"):
        load_beir(tiny_beir)


@pytest.mark.parametrize("name,line", [("corpus.jsonl", 4), ("queries.jsonl", 2)])
def test_duplicate_ids(tiny_beir, name, line):
    first = json.loads((tiny_beir / name).read_text().splitlines()[0])
    _corrupt(tiny_beir, name, line, json.dumps({**first, "text": "again"}))
    with pytest.raises(DataError, match=rf"{name}:{line}: duplicate id '{first['_id']}' \(first on line 1\)"):
        load_beir(tiny_beir)


def test_duplicate_judgement(tiny_beir):
    write_beir(tiny_beir, TINY_CORPUS, TINY_QUERIES, TINY_QRELS + [TINY_QRELS[0]])
    with pytest.raises(DataError, match=r"test\.tsv:7: duplicate judgement for \('q1', 'd1'\)"):
        load_beir(tiny_beir)


def test_missing_split_lists_the_available_ones(tiny_beir):
    with pytest.raises(DataError, match=r"qrels/dev\.tsv: split 'dev' not found \(available: test\)"):
        load_beir(tiny_beir, split="dev")


def test_missing_folder_and_missing_corpus(tiny_beir, tmp_path):
    with pytest.raises(DataError, match="data folder not found"):
        load_beir(tmp_path / "nope")
    (tiny_beir / "corpus.jsonl").unlink()
    with pytest.raises(DataError, match=r"corpus\.jsonl: file not found"):
        load_beir(tiny_beir)


@pytest.mark.parametrize(
    "row,message",
    [
        ("q1\td1", "expected 3 tab-separated columns, got 2"),
        ("q1\td1\thigh", "score 'high' is not a number"),
    ],
)
def test_bad_qrels_rows(tiny_beir, row, message):
    with open(tiny_beir / "qrels" / "test.tsv", "a") as handle:
        handle.write(row + "\n")
    with pytest.raises(DataError, match=rf"test\.tsv:7: {message}"):
        load_beir(tiny_beir)
