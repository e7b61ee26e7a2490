"""The null control keeps queries, counts and passages, and takes every query's own positives away."""

from collections import Counter

from recft.data.pairs import Pair
from recft.loop.null_control import derange_positives


def test_every_query_gets_another_querys_positives_and_nothing_else_changes():
    pairs = [Pair(f"q{i}", f"claim {i}", f"d{i}", f"passage {i}", "s") for i in range(50)]
    pairs += [Pair("q0", "claim 0", "d0b", "passage 0b", "s")]  # a query with two positives
    shuffled = derange_positives(pairs, seed=42)
    own = {(p.query, p.doc_id) for p in pairs}
    assert not {(p.query, p.doc_id) for p in shuffled} & own
    assert Counter(p.query for p in shuffled) == Counter(p.query for p in pairs)
    assert {(p.doc_id, p.passage) for p in shuffled} <= {(p.doc_id, p.passage) for p in pairs}  # whole positives
    assert derange_positives(pairs, seed=42) == shuffled and derange_positives(pairs, seed=7) != shuffled
