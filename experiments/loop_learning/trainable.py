"""What a loop could have trained on by a cycle: every pair of the files its registry consumed in that
cycle or before, less the queries it held out (sealed into the golden set, or dev). The one-shot
reference trains on exactly these; the scorer reads their documents as ``seen_in_training``.

    .venv/bin/python experiments/loop_learning/trainable.py outputs/loop_learning/gated/registry 7 pairs.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from recft.data.arrivals import normalize
from recft.data.pairs import Pair
from recft.loop.storage.registry import Registry


def trainable_pairs(root: str | Path, through: int) -> list[Pair]:
    registry = Registry(Path(root))
    held = {normalize(e["text"]) for role in ("golden", "dev") for e in registry.sealed(role) if e["cycle"] <= through}
    pairs = []
    for sha, entry in registry.arrivals().items():
        if entry["status"] == "consumed" and entry["cycle"] <= through:
            stored = json.loads((registry.root / "arrivals" / f"{sha}.json").read_text(encoding="utf-8"))
            pairs += [Pair(**p) for p in stored["pairs"] if normalize(p["query"]) not in held]
    return pairs


def write_tevatron(pairs: list[Pair], path: Path) -> int:
    """One row per query with every positive: the format ``recft train pairs=…`` reads."""
    rows: dict[str, dict] = {}
    for pair in pairs:
        row = rows.setdefault(pair.query_id, {"query_id": pair.query_id, "query": pair.query, "positive_passages": []})
        row["positive_passages"].append({"docid": pair.doc_id})  # the corpus of record has its text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows.values()), encoding="utf-8")
    return len(rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("registry")
    parser.add_argument("through", type=int, help="the last cycle whose files count")
    parser.add_argument("out", type=Path, help="a Tevatron pair file to write")
    args = parser.parse_args()
    pairs = trainable_pairs(args.registry, args.through)
    print(json.dumps({"pairs": len(pairs), "queries": write_tevatron(pairs, args.out)}))
