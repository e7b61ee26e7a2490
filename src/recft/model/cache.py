"""On-disk embedding cache: an unchanged model never re-encodes a text it has already seen.

Key = (encoder settings: model fingerprint, prompt, max length, pooling, precision) → a folder;
inside, append-only shards map a hash of each text to its embedding. A corpus that gains ten
documents costs ten encodings, not a re-encode of everything — which on a 2-core CPU is the
difference between seconds and a quarter of an hour.

Shards are written atomically (temp + rename) and never modified, so a killed run leaves at worst
a missing shard, never a corrupt one. A shard is one ``.npy`` of (key, vector) records, read
memory-mapped: the table's rows are views into the page cache, not a second copy in the process's
memory — at a million passages the vectors the index needs are the only private copy (older ``.npz``
shards are still read, into memory).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from recft.common.atomic import atomic_path, write_json
from recft.common.hashing import stable_hash


def text_keys(texts: Sequence[str]) -> np.ndarray:
    """16-byte blake2b digest per text (fixed-width bytes array, compact and fast to compare)."""
    return np.array([hashlib.blake2b(t.encode("utf-8"), digest_size=16).digest() for t in texts], dtype="S16")


def write_shard(path: Path, keys: np.ndarray, vectors: np.ndarray) -> None:
    """One ``.npy`` of (16-byte key, float32 vector) records, written atomically."""
    records = np.empty(len(keys), dtype=[("key", "S16"), ("emb", "<f4", (vectors.shape[1],))])
    records["key"], records["emb"] = keys, vectors
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, records)


def read_shard(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(keys, vectors) of a shard: a ``.npy`` memory-mapped (vectors are views of the file), an older
    ``.npz`` read into memory."""
    if path.suffix == ".npy":
        records = np.load(path, mmap_mode="r")
        return records["key"], records["emb"]
    with np.load(path) as data:
        return data["keys"], data["emb"]


def stored_keys(folder: str | Path) -> set[bytes]:
    """Every text key a cache folder holds (for checks of what was encoded where)."""
    shards = [*Path(folder).glob("shard-*.npy"), *Path(folder).glob("shard-*.npz")]
    return {bytes(k) for shard in shards for k in read_shard(shard)[0]}


@dataclass
class CacheStats:
    hits: int = 0
    encoded: int = 0
    encode_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.encoded / self.encode_seconds if self.encode_seconds else float("nan")


class EmbeddingCache:
    """Encode through the cache: ``cache.encode(encoder, texts, "passage")``."""

    def __init__(self, root: str | Path | None, processes: int = 1):
        self.root = Path(root) if root is not None else None
        self.processes = int(processes)  # > 1: missing texts are encoded in that many processes (model.parallel)
        self.stats = CacheStats()
        self._tables: dict[Path, dict[bytes, np.ndarray]] = {}
        self._shards_read: dict[Path, set[str]] = {}

    @classmethod
    def from_config(cls, cfg) -> "EmbeddingCache":
        """``cache_dir`` and ``encode_processes`` of a run's config."""
        return cls(cfg.cache_dir, cfg.get("encode_processes", 1))

    def folder(self, settings: dict) -> Path:
        assert self.root is not None
        return self.root / stable_hash(json.dumps(settings, sort_keys=True))

    def _load(self, folder: Path) -> dict[bytes, np.ndarray]:
        """The folder's table, reading only shards this object has not read yet (another process
        may have added some); per-epoch validation would otherwise re-read the corpus every call."""
        table = self._tables.setdefault(folder, {})
        seen = self._shards_read.setdefault(folder, set())
        for shard in sorted([*folder.glob("shard-*.npy"), *folder.glob("shard-*.npz")]):
            if shard.name in seen:
                continue
            keys, vectors = read_shard(shard)
            table.update(zip(map(bytes, keys), vectors))
            seen.add(shard.name)
        return table

    def encode(self, encoder, texts: Sequence[str], kind: str, show_progress: bool = True) -> np.ndarray:
        """Return embeddings for ``texts`` (input order), encoding only the ones not cached yet."""
        if self.root is None or not texts:
            return self._encode(encoder, list(texts), kind, show_progress)
        settings = encoder.settings(kind)
        folder = self.folder(settings)
        table = self._load(folder)
        keys = text_keys(texts)
        missing: dict[bytes, int] = {}
        for i, key in enumerate(keys):
            if bytes(key) not in table and bytes(key) not in missing:
                missing[bytes(key)] = i
        self.stats.hits += len(texts) - sum(1 for k in keys if bytes(k) in missing)
        if missing:
            positions = list(missing.values())
            fresh = self._encode(encoder, [texts[i] for i in positions], kind, show_progress)
            shard_keys = np.array(list(missing.keys()), dtype="S16")
            write_json(folder / "settings.json", settings)
            name = f"shard-{time.time_ns()}-{stable_hash(shard_keys.tobytes().hex(), 4)}.npy"
            write_shard(folder / name, shard_keys, fresh)
            self._shards_read[folder].add(name)
            table.update(zip(missing.keys(), fresh))
        return np.stack([table[bytes(k)] for k in keys]).astype(np.float32, copy=False)

    def _encode(self, encoder, texts: list[str], kind: str, show_progress: bool) -> np.ndarray:
        start = time.perf_counter()
        if self.processes > 1:
            from recft.model.parallel import encode_in_processes

            embeddings = encode_in_processes(encoder, texts, kind, self.processes)
        else:
            embeddings = encoder.encode(texts, kind=kind, show_progress=show_progress)
        self.stats.encode_seconds += time.perf_counter() - start
        self.stats.encoded += len(texts)
        return embeddings
