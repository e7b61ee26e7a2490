"""SciFact's training pairs as a week of dated deliveries, and the smaller corpus the week starts from.

    .venv/bin/python experiments/arrivals/prepare.py --out outputs/arrivals

Writes ``OUT/scifact-start/`` (SciFact without the documents the two corpus deltas bring back; the
test split untouched, so the golden set is the same all week) and ``OUT/deliveries/`` — what
arrives each day, in the formats teams use:

    2026-12-01.jsonl          sentence-transformers (anchor, positive as title + text)
    2026-12-02.jsonl          FlagEmbedding (query, pos as text alone, neg) + one copied golden query
    2026-12-03.corpus.jsonl   corpus delta 1: the documents day 3's pairs need, and unjudged others
    2026-12-03.jsonl          Tevatron (query_id, query, positive_passages by docid)
    (2026-12-04: nothing)
    2026-12-05.parquet        sentence-transformers parquet (query, positive)
    2026-12-06.corpus.jsonl   corpus delta 2
    2026-12-06.jsonl          Tevatron
    2026-12-07.tsv            sentence-transformers tsv (anchor, positive, negative)
    2026-12-07-late.tsv       the same format with one empty positive: quarantined

Queries are dealt to days by a seeded shuffle (every pair of a query arrives on one day). Held-out
documents are never golden-relevant (the test qrels must resolve on day 1). Deterministic (seed 42).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[2]
SCIFACT = REPO / "data" / "scifact"
DAYS = {  # day → (format, share of the training queries)
    "2026-12-01": ("st_jsonl", 0.25),
    "2026-12-02": ("flag", 0.15),
    "2026-12-03": ("tevatron", 0.15),
    "2026-12-05": ("st_parquet", 0.15),
    "2026-12-06": ("tevatron", 0.15),
    "2026-12-07": ("st_tsv", 0.15),
}
DELTA_DAYS = ("2026-12-03", "2026-12-06")
DISTRACTORS = 100  # unjudged documents each delta adds besides the ones its day's pairs need


def read_jsonl(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_qrels(path: Path) -> list[tuple[str, str, int]]:
    rows = [line.rstrip("\n").split("\t") for line in path.read_text(encoding="utf-8").splitlines()[1:] if line]
    return [(q, d, int(s)) for q, d, s in rows]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def deal_queries(train: list[tuple[str, str, int]], seed: int) -> dict[str, list[str]]:
    queries = sorted({q for q, _, s in train if s > 0})
    order = [queries[i] for i in np.random.default_rng(seed).permutation(len(queries))]
    days, start = {}, 0
    for index, (day, (_, share)) in enumerate(DAYS.items()):
        end = len(order) if index == len(DAYS) - 1 else start + round(share * len(order))
        days[day], start = order[start:end], end
    return days


def prepare(out: Path, seed: int = 42) -> dict:
    corpus = {str(r["_id"]): r for r in read_jsonl(SCIFACT / "corpus.jsonl.gz")}
    queries = {str(r["_id"]): r["text"] for r in read_jsonl(SCIFACT / "queries.jsonl.gz")}
    train, test = read_qrels(SCIFACT / "qrels" / "train.tsv"), read_qrels(SCIFACT / "qrels" / "test.tsv")
    golden_docs = {d for _, d, _ in test}
    positives: dict[str, list[str]] = {}
    for q, d, s in train:
        if s > 0:
            positives.setdefault(q, []).append(d)
    days = deal_queries(train, seed)
    rng = np.random.default_rng(seed + 1)

    # Each delta brings back what its day's pairs need and no earlier day has used, never a golden document.
    used: set[str] = set()
    deltas: dict[str, list[str]] = {}
    judged = golden_docs | {d for _, d, _ in train}
    unjudged = sorted(set(corpus) - judged)
    for day, day_queries in days.items():
        needed = {d for q in day_queries for d in positives[q]}
        if day in DELTA_DAYS:
            later = needed - used - golden_docs
            picks = set(rng.choice(len(unjudged), size=DISTRACTORS, replace=False).tolist())
            deltas[day] = sorted(later) + [d for i, d in enumerate(unjudged) if i in picks]
            unjudged = [d for i, d in enumerate(unjudged) if i not in picks]
        used |= needed
    held = {d for docs in deltas.values() for d in docs}

    shutil.rmtree(out / "scifact-start", ignore_errors=True)
    shutil.rmtree(out / "deliveries", ignore_errors=True)
    start, deliveries = out / "scifact-start", out / "deliveries"
    (start / "qrels").mkdir(parents=True)
    deliveries.mkdir(parents=True)
    write_jsonl(start / "corpus.jsonl", [r for d, r in corpus.items() if d not in held])
    write_jsonl(start / "queries.jsonl", [{"_id": q, "text": t} for q, t in queries.items()])
    shutil.copy(SCIFACT / "qrels" / "test.tsv", start / "qrels" / "test.tsv")
    kept_train = [(q, d, s) for q, d, s in train if d not in held]  # the split must resolve on the smaller corpus
    (start / "qrels" / "train.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in kept_train), encoding="utf-8"
    )

    def full(doc: str) -> str:
        return f"{corpus[doc]['title']} {corpus[doc]['text']}".strip()

    others = sorted(set(corpus) - held - golden_docs)

    def negative(doc: str) -> str:  # a random other document as the file's hard negative (not in a delta)
        other = others[int(rng.integers(len(others)))]
        return full(other) if other != doc else negative(doc)

    counts = {}
    for day, day_queries in days.items():
        kind, _ = DAYS[day]
        pairs = [(q, d) for q in day_queries for d in positives[q]]
        counts[day] = len(pairs)
        if day in deltas:
            rows = [{"_id": d, "title": corpus[d]["title"], "text": corpus[d]["text"]} for d in deltas[day]]
            write_jsonl(deliveries / f"{day}.corpus.jsonl", rows)
        if kind == "st_jsonl":
            write_jsonl(deliveries / f"{day}.jsonl", [{"anchor": queries[q], "positive": full(d)} for q, d in pairs])
        elif kind == "flag":
            rows = [flag_row(queries[q], [corpus[d]["text"] for d in positives[q]], negative(positives[q][0]))
                    for q in day_queries]  # fmt: skip
            q, d, _ = test[0]  # a golden query copied into the day, with its relevant document: the audit drops it
            rows.append({"query": queries[q], "pos": [corpus[d]["text"]]})
            write_jsonl(deliveries / f"{day}.jsonl", rows)
        elif kind == "tevatron":
            rows = [tevatron_row(f"train-{q}", queries[q], positives[q]) for q in day_queries]
            write_jsonl(deliveries / f"{day}.jsonl", rows)
        elif kind == "st_parquet":
            table = pa.table({"query": [queries[q] for q, _ in pairs], "positive": [full(d) for _, d in pairs]})
            pq.write_table(table, deliveries / f"{day}.parquet")
        elif kind == "st_tsv":
            rows = [(queries[q], full(d), negative(d)) for q, d in pairs]
            write_tsv(deliveries / f"{day}.tsv", rows[:-5])
            write_tsv(deliveries / f"{day}-late.tsv", [*rows[-5:-1], (rows[-1][0], "", rows[-1][2])])
    return {
        "start_documents": len(corpus) - len(held),
        "deltas": {day: len(docs) for day, docs in deltas.items()},
        "pairs": counts,
    }


def flag_row(query: str, positives: list[str], negative: str) -> dict:
    return {"query": query, "pos": positives, "neg": [negative]}


def tevatron_row(query_id: str, query: str, doc_ids: list[str]) -> dict:
    return {"query_id": query_id, "query": query, "positive_passages": [{"docid": d} for d in doc_ids]}


def write_tsv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["anchor", "positive", "negative"])
        writer.writerows(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "arrivals")
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    print(json.dumps(prepare(args.out, args.seed), indent=1))


if __name__ == "__main__":
    main()
