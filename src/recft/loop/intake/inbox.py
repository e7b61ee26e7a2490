"""The arrivals inbox: which pair files are new, what they hold, and what the loop has consumed.

``arrivals.path`` is one pair file, or a folder whose files (``.jsonl .csv .tsv .parquet``, in name
order) are arrivals until consumed. A file is known by its content hash, so a renamed copy is not
consumed twice. The resolved pairs of every consumed file are kept in ``<registry>/arrivals/`` (the
loop trains on every pair seen so far without re-reading old files), written before the registry
marks the file consumed; the marking happens in one transaction after the cycle's decision, so a
killed cycle leaves every file either consumed, with its version, or not. A file with a bad row is
quarantined — recorded, then moved to ``<inbox>/quarantine/`` — or, with ``arrivals.strict=true``,
refuses the whole cycle.

Corpus deltas (``corpus.jsonl``, ``<name>.corpus.jsonl``) are read first, so pair files of the same
delivery may name their documents by id; their documents, and passages given as new text, are kept
with the file and join the corpus of record when it is consumed (``Consumed.documents``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping

from recft.common.atomic import read_json, write_json
from recft.common.hashing import file_sha256
from recft.data.arrivals import SUFFIXES, Arrival, CorpusIndex, is_corpus_delta, read_arrival, read_corpus_delta
from recft.data.beir import DataError
from recft.data.growth import with_documents
from recft.data.pairs import Pair
from recft.loop.storage.registry import CONSUMED, QUARANTINED, Registry, RegistryError

QUARANTINE = "quarantine"


@dataclass
class Delivery:
    path: Path
    sha256: str
    arrival: Arrival

    @property
    def is_corpus_delta(self) -> bool:
        return self.arrival.format == "corpus"


@dataclass
class Consumed:
    """What the files consumed so far brought, in the order they arrived."""

    pairs: list[Pair] = field(default_factory=list)
    negatives: dict = field(default_factory=dict)  # (source, query id) → [(doc id, text)]
    documents: dict[str, str] = field(default_factory=dict)  # id → text: what the corpus of record gained
    titles: dict[str, str] = field(default_factory=dict)

    def grow(self, dataset):
        """``dataset`` over the corpus of record: its own documents plus every consumed one."""
        return with_documents(dataset, self.documents, self.titles)


class Inbox:
    def __init__(
        self,
        path: str | Path,
        registry: Registry,
        fmt: str = "auto",
        columns: Mapping | None = None,
        domain: str | None = None,
    ):
        """``domain``: this registry is one domain's (``recft cycle domain=X``): it consumes a shared
        inbox's files for itself, taking only their rows of X (or unlabelled)."""
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.path}: arrivals path not found")
        self.registry, self.format, self.columns = registry, fmt, dict(columns or {})
        self.domain = domain
        self.store = registry.root / "arrivals"  # what consumed_from reads back

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
        """(good, bad) deliveries among the new files, corpus deltas first (their documents join
        ``corpus`` before any pair file is resolved against it); a file with any bad row is bad."""
        new = sorted(self.new_files(), key=lambda item: not is_corpus_delta(item[0]))
        good, bad = [], []
        for path, sha in new:
            if is_corpus_delta(path):
                arrival = read_corpus_delta(path, corpus)
                if not arrival.problems:
                    for doc_id, text in arrival.new_documents.items():
                        corpus.add(doc_id, text, arrival.titles.get(doc_id, ""))
            else:
                arrival = read_arrival(path, corpus, source, self.format, self.columns, self.domain)
            (bad if arrival.problems else good).append(Delivery(path, sha, arrival))
        return good, bad

    def quarantine(self, bad: list[Delivery], cycle: int) -> list[dict]:
        """Record the bad files as quarantined, then move them aside; returns what the report names."""
        entries = [self._entry(d, QUARANTINED, None, cycle) for d in bad]
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
            {
                "pairs": [asdict(p) for p in arrival.pairs],
                "negatives": negatives,
                "documents": arrival.new_documents,
                "titles": arrival.titles,
            },
        )

    def set_aside_other_domains(self, deliveries: list[Delivery], cycle: int) -> list[Delivery]:
        """Record as consumed, with no version, the files wholly of other domains (nothing in them for
        this registry, so no cycle runs for them); the deliveries left."""
        elsewhere = [d for d in deliveries if not d.arrival.pairs and d.arrival.dropped.get("other_domain")]
        for delivery in elsewhere:
            self.keep(delivery)
        if elsewhere:
            self.consume(elsewhere, None, cycle)
        return [d for d in deliveries if all(d is not e for e in elsewhere)]

    def consume(self, deliveries: list[Delivery], version: str | None, cycle: int, sealed: list[dict] = ()) -> None:
        """Mark the files consumed and seal their sealed queries (``recft.loop.intake.sealing``) in one transaction."""
        entries = [self._entry(d, CONSUMED, version, cycle) for d in deliveries]
        self.registry.record_arrivals(entries, list(sealed))

    def consumed(self) -> Consumed:
        return consumed_from(self.registry)

    @staticmethod
    def _entry(delivery: Delivery, status: str, version: str | None, cycle: int) -> dict:
        manifest = {**delivery.arrival.manifest(), "sha256": delivery.sha256, "problems": delivery.arrival.problems}
        return {"sha256": delivery.sha256, "file": delivery.path.name, "status": status, "version": version,
                "cycle": cycle, "manifest": manifest}  # fmt: skip


def consumed_files(registry: Registry) -> list[str]:
    """The content hashes of the files a registry has consumed so far, in the order it consumed them."""
    return [sha for sha, entry in registry.arrivals().items() if entry["status"] == CONSUMED]


def consumed_from(registry: Registry) -> Consumed:
    """Every pair, file negative and new document of the files a registry has consumed so far."""
    consumed = Consumed()
    for sha in consumed_files(registry):
        stored = read_json(registry.root / "arrivals" / f"{sha}.json", RegistryError)
        consumed.pairs += [Pair(**p) for p in stored["pairs"]]
        add_negatives(consumed.negatives, stored["negatives"])
        consumed.documents.update(stored.get("documents", {}))
        consumed.titles.update(stored.get("titles", {}))
    return consumed


def add_negatives(into: dict, items) -> None:
    for key, value in items:
        into.setdefault(tuple(key), []).extend(tuple(v) for v in value)
