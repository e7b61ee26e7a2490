"""A development copy of the shipped week with a seeded share of its claims held back as our own
evaluation set: the loop's design is tuned on it, never on SciFact test.

    .venv/bin/python experiments/loop_learning/holdback.py --out outputs/loop_learning/holdback

Writes ``OUT/deliveries/`` (the seven files without the held-back claims) and ``OUT/beir/`` (a BEIR
folder: SciFact's corpus and queries, and ``qrels/holdback.tsv`` judging the held-back claims). A
claim is held back by a seeded hash of its id, so both files and the judgements are reproducible;
the claims are training claims that no delivery of this copy carries, so neither the loop nor the
one-shot reference ever trains on them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCIFACT = REPO / "data" / "scifact"


def held_back(query_id: str, share: float, seed: int) -> bool:
    digest = hashlib.blake2b(f"{seed}\tholdback\t{query_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--share", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    deliveries, beir = args.out / "deliveries", args.out / "beir"
    deliveries.mkdir(parents=True, exist_ok=True)
    (beir / "qrels").mkdir(parents=True, exist_ok=True)
    judged: list[tuple[str, str]] = []
    kept = 0
    for path in sorted((SCIFACT / "deliveries").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        keep = [r for r in rows if not held_back(r["query_id"], args.share, args.seed)]
        judged += [(r["query_id"].removeprefix("train-"), p["docid"]) for r in rows if r not in keep
                   for p in r["positive_passages"]]  # fmt: skip
        kept += len(keep)
        (deliveries / path.name).write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
    for name in ("corpus.jsonl.gz", "queries.jsonl.gz"):
        link = beir / name
        if not link.exists():
            link.symlink_to(SCIFACT / name)
    lines = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, d in judged)]
    (beir / "qrels" / "holdback.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(json.dumps({"claims_kept": kept, "claims_held_back": len({q for q, _ in judged}), "judgements": len(judged)}))


if __name__ == "__main__":
    main()
