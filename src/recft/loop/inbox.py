"""The arrivals inbox: which pair files are new, what they hold, and what the loop has consumed.

``arrivals.path`` is one pair file, or a folder whose files (``.jsonl .csv .tsv .parquet``, in name
order) are arrivals until consumed. A file is known by its content hash, so a renamed copy is not
consumed twice. The resolved pairs of every consumed file are kept in ``<registry>/arrivals/`` (the
loop trains on every pair seen so far without re-reading old files), written before the registry
marks the file consumed; the marking happens in one transaction after the cycle's decision, so a
killed cycle leaves every file either consumed, with its version, or not. A file with a bad row is
quarantined — recorded, then moved to ``<inbox>/quarantine/`` — or, with ``arrivals.strict=true``,
refuses the whole cycle.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping

from recft.common.atomic import write_json
from recft.common.hashing import file_sha256
from recft.data.arrivals import SUFFIXES, Arrival, CorpusIndex, read_arrival
from recft.data.beir import DataError
from recft.data.pairs import Pair
from recft.loop.registry import Registry

QUARANTINE = "quarantine"


@dataclass
class Delivery:
    path: Path
    sha256: str
    arrival: Arrival


class Inbox:
    def __init__(self, path: str | Path, registry: Registry, fmt: str = "auto", columns: Mapping | None = None):
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.path}: arrivals path not found")
        self.registry, self.format, self.columns = registry, fmt, dict(columns or {})
        self.store = registry.root / "arrivals"

    def files(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        return sorted(
            p for p in self.path.iterdir() if p.is_file() and p.suffix in SUFFIXES and not p.name.startswith(".")
        )

    def new_files(self) -> list[tuple[Path, str]]:
        known = self.registry.arrivals()
        return [(path, sha) for path in self.files() if (sha := file_sha256(path)) not in known]

    def read(self, corpus: CorpusIndex, source: str) -> tuple[list[Delivery], list[Delivery]]:
        """(good, bad) deliveries among the new files; a file with any bad row is bad."""
        good, bad = [], []
        for path, sha in self.new_files():
            arrival = read_arrival(path, corpus, source, self.format, self.columns)
            (bad if arrival.problems else good).append(Delivery(path, sha, arrival))
        return good, bad

    def quarantine(self, bad: list[Delivery], cycle: int) -> list[dict]:
        """Record the bad files as quarantined, then move them aside; returns what the report names."""
        entries = [self._entry(d, "quarantined", None, cycle) for d in bad]
        if entries:
            self.registry.record_arrivals(entries)
        for delivery in bad:
            if self.path.is_dir():
                (self.path / QUARANTINE).mkdir(exist_ok=True)
                delivery.path.rename(self.path / QUARANTINE / delivery.path.name)
        return [{"file": e["file"], "problems": e["manifest"]["problems"]} for e in entries]

    def keep(self, delivery: Delivery) -> None:
        """Store a delivery's resolved pairs (and negatives) before it can be marked consumed."""
        arrival = delivery.arrival
        negatives = [[list(key), value] for key, value in arrival.negatives.items()]
        write_json(
            self.store / f"{delivery.sha256}.json",
            {"pairs": [asdict(p) for p in arrival.pairs], "negatives": negatives},
        )

    def consume(self, deliveries: list[Delivery], version: str | None, cycle: int) -> None:
        self.registry.record_arrivals([self._entry(d, "consumed", version, cycle) for d in deliveries])

    def consumed_pairs(self) -> tuple[list[Pair], dict]:
        """Every pair (and file negative) of the files consumed so far, in the order they arrived."""
        pairs: list[Pair] = []
        negatives: dict = {}
        for sha, entry in self.registry.arrivals().items():
            if entry["status"] != "consumed":
                continue
            stored = json.loads((self.store / f"{sha}.json").read_text(encoding="utf-8"))
            pairs += [Pair(**p) for p in stored["pairs"]]
            for key, value in stored["negatives"]:
                negatives.setdefault(tuple(key), []).extend(tuple(v) for v in value)
        return pairs, negatives

    @staticmethod
    def _entry(delivery: Delivery, status: str, version: str | None, cycle: int) -> dict:
        manifest = {**delivery.arrival.manifest(), "sha256": delivery.sha256, "problems": delivery.arrival.problems}
        return {"sha256": delivery.sha256, "file": delivery.path.name, "status": status, "version": version,
                "cycle": cycle, "manifest": manifest}  # fmt: skip
