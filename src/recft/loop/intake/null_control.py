"""The null control: a loop fed pairs that carry no signal must never promote.

``loop.null_control=true`` gives every training query the positives of another training query (a
seeded rotation of the queries, so none keeps its own), *after* sealing and the dev split: the
sealed golden queries and the dev queries keep their true judgements, so dev and the gate judge a
candidate trained on noise exactly as they would judge a real one. Any promotion in such a loop is
a false one — the loop's error rate, measured rather than assumed (``experiments/arrivals``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from recft.data.pairs import Pair


def derange_positives(pairs: list[Pair], seed: int) -> list[Pair]:
    """``pairs`` with each query's positives taken from the next query in a seeded order (its k-th pair
    gets that query's k-th positive, cycling): the same queries, pair counts and passages, no signal."""
    by_query: dict[str, list[int]] = {}
    for i, pair in enumerate(pairs):
        by_query.setdefault(pair.query, []).append(i)
    queries = list(by_query)
    if len(queries) < 2:
        return list(pairs)
    order = [queries[i] for i in np.random.default_rng(seed).permutation(len(queries))]
    out = list(pairs)
    for j, query in enumerate(order):
        donors = by_query[order[(j + 1) % len(order)]]
        for k, i in enumerate(by_query[query]):
            donor = pairs[donors[k % len(donors)]]
            out[i] = dataclasses.replace(pairs[i], doc_id=donor.doc_id, passage=donor.passage)
    return out
