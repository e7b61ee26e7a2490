"""Query slices: the slice file, the built-in rules, and a paired Δ per slice."""

import numpy as np
import pytest

from recft.eval.report import Report
from recft.eval.slices import SliceError, SliceSpec, build_slices, read_slice_file, slice_deltas

QUERIES = {"a": "short one", "b": "a much longer query with more than eight words in it", "c": "two words", "d": "x"}
QRELS = {"a": {"d1": 1}, "b": {"d2": 1}, "c": {"d3": 0, "d4": 1}, "d": {"d5": 2}}


def test_a_slice_file_with_a_header_comments_and_a_query_in_two_slices(tmp_path):
    path = tmp_path / "slices.tsv"
    path.write_text("query-id\tslice\n# the confusion set\na\tconfusion\nb\tconfusion\na\ttail\n")
    assert read_slice_file(path) == {"confusion": {"a", "b"}, "tail": {"a"}}


@pytest.mark.parametrize(
    "text, where", [("a\tconfusion\nb confusion\n", ":2:"), ("a\t\n", ":1:"), ("# only a comment\n", "no slices")]
)
def test_a_bad_slice_file_is_a_one_line_error_naming_file_and_line(tmp_path, text, where):
    path = tmp_path / "slices.tsv"
    path.write_text(text)
    with pytest.raises(SliceError, match=where) as err:
        read_slice_file(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_built_in_rules_split_every_query_once():
    spec = SliceSpec(rules=("query_length", "seen_in_training"))
    slices = build_slices(spec, QUERIES, QRELS, trained_docs={"d2", "d3"}, min_relevance=1)
    assert slices["query_length:long"] == {"b"} and slices["query_length:short"] == {"a", "c", "d"}
    assert slices["seen_in_training:seen"] == {"b"}  # c's d3 is judged not relevant
    assert slices["seen_in_training:unseen"] == {"a", "c", "d"}
    with pytest.raises(SliceError, match="unknown rule"):
        SliceSpec(rules=("length",))


def test_slice_deltas_are_paired_on_the_slice_queries_only(tmp_path):
    rng = np.random.default_rng(0)
    ids = [f"q{i}" for i in range(30)]
    base = {q: float(rng.uniform()) for q in ids}
    new = {q: v + (0.2 if i < 10 else -0.1) for i, (q, v) in enumerate(base.items())}
    slices = {"head": set(ids[:10]), "rest": set(ids[10:])}
    rows = slice_deltas(
        Report("s", "test", {"ndcg@10": base}), Report("s", "test", {"ndcg@10": new}), slices, ["ndcg@10"]
    )
    head, rest = rows["head"][0], rows["rest"][0]
    assert (head["n"], rest["n"]) == (10, 20)
    assert head["delta"] == pytest.approx(0.2) and rest["delta"] == pytest.approx(-0.1)
    assert rest["ci_high"] < 0 < head["ci_low"]
