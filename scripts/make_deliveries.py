"""The week of SciFact deliveries the default job walks through (``data/scifact/deliveries/``).

    .venv/bin/python scripts/make_deliveries.py                                  # the shipped week
    .venv/bin/python scripts/make_deliveries.py --null --out outputs/null-week   # the null control

SciFact's training claims are dealt to seven dated Tevatron files (``query_id``, ``query``,
``positive_passages`` by docid, so the files stay small): a larger first delivery, then six equal
ones. Why a larger first day: each cycle seals ``golden.seal`` of its arrivals into the golden set
and trains on the rest of everything seen so far, and ``train.min_pairs`` (200) refuses a smaller
training set — with a week of equal days (~130 pairs) the first two cycles would train nothing.
Every pair of a claim arrives on one day; the deal is a seeded shuffle (seed 42).

``--null`` writes the same week with every claim's positives replaced by another claim's (a seeded
derangement of the claims): pairs that teach nothing true, which a loop must never promote.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO / "data" / "scifact"
DAYS = [f"2026-12-0{d}" for d in range(1, 8)]
FIRST_SHARE = 0.5  # of the training claims on day 1; the rest dealt equally over days 2–7


def read_queries() -> dict[str, str]:
    with gzip.open(SCIFACT / "queries.jsonl.gz", "rt", encoding="utf-8") as handle:
        return {str(r["_id"]): r["text"] for r in map(json.loads, handle) if r}


def read_positives() -> dict[str, list[str]]:
    positives: dict[str, list[str]] = {}
    for line in (SCIFACT / "qrels" / "train.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        q, d, s = line.split("\t")
        if int(s) > 0:
            positives.setdefault(q, []).append(d)
    return positives


def deal(claims: list[str], seed: int) -> dict[str, list[str]]:
    order = [claims[i] for i in np.random.default_rng(seed).permutation(len(claims))]
    first = round(FIRST_SHARE * len(order))
    rest = np.array_split(np.array(order[first:], dtype=object), len(DAYS) - 1)
    return {DAYS[0]: order[:first], **{day: list(part) for day, part in zip(DAYS[1:], rest)}}


def derangement(items: list[str], seed: int) -> dict[str, str]:
    """Each item → another item (a seeded shuffle rotated so that none maps to itself)."""
    order = [items[i] for i in np.random.default_rng(seed).permutation(len(items))]
    return {item: order[(i + 1) % len(order)] for i, item in enumerate(order)}


def make_week(out: Path, seed: int = 42, null: bool = False) -> dict[str, int]:
    queries, positives = read_queries(), read_positives()
    claims = sorted(positives)
    source = derangement(claims, seed + 1) if null else {q: q for q in claims}
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    for day, day_claims in deal(claims, seed).items():
        rows = [
            {
                "query_id": f"train-{q}",
                "query": queries[q],
                "positive_passages": [{"docid": d} for d in positives[source[q]]],
            }
            for q in day_claims
        ]
        (out / f"{day}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        counts[day] = sum(len(r["positive_passages"]) for r in rows)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SCIFACT / "deliveries")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--null", action="store_true", help="every claim's positives are another claim's")
    args = parser.parse_args()
    print(json.dumps(make_week(args.out, args.seed, args.null)))


if __name__ == "__main__":
    main()
