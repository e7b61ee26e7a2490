import numpy as np
import pytest

from recft.data.beir import DataError
from recft.eval.nevir import COLUMNS, paired_accuracy, read_pairs


def _pairs_file(tmp_path, rows):
    path = tmp_path / "pairs.tsv"
    path.write_text("\t".join(COLUMNS) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    return path


def test_paired_accuracy_needs_both_questions_right(tmp_path):
    rows = [("p1", "a1", "a2", "x1", "x2"), ("p2", "b1", "b2", "y1", "y2")]
    queries, docs = ["a1", "a2", "b1", "b2"], ["x1", "x2", "y1", "y2"]
    pairs = read_pairs(_pairs_file(tmp_path, rows), set(queries), set(docs))
    e = np.eye(4, dtype=np.float32)
    # Pair 1: a1 → x1, a2 → x2 (both right). Pair 2: both questions prefer y1 (negation-blind).
    query_emb = np.stack([e[0], e[1], e[2], e[2]])
    doc_emb = np.stack([e[0], e[1], e[2], e[3]])
    result = paired_accuracy(
        pairs, query_emb, {q: i for i, q in enumerate(queries)}, doc_emb, {d: i for i, d in enumerate(docs)}
    )
    assert result == {"p1": 1.0, "p2": 0.0}


def test_bad_pairs_files(tmp_path):
    with pytest.raises(DataError, match=r"pairs\.tsv:2: query id 'zz' is not in the queries"):
        read_pairs(_pairs_file(tmp_path, [("p1", "zz", "a2", "x1", "x2")]), {"a2"}, {"x1", "x2"})
    with pytest.raises(DataError, match=r"pairs\.tsv:2: expected 5 columns, got 2"):
        read_pairs(_pairs_file(tmp_path, [("p1", "a1")]), set(), set())
    (tmp_path / "pairs.tsv").write_text("a\tb\n")
    with pytest.raises(DataError, match=r"pairs\.tsv:1: header must be"):
        read_pairs(tmp_path / "pairs.tsv", set(), set())
