"""On-disk embedding cache: an unchanged model never re-encodes a text it has already seen.

Key = (encoder settings: model fingerprint, prompt, max length, pooling, precision) → a folder;
inside, append-only shards map a hash of each text to its embedding. A corpus that gains ten
documents costs ten encodings, not a re-encode of everything — which on a 2-core CPU is the
difference between seconds and a quarter of an hour.

Shards are written atomically (temp + rename) and never modified, so a killed run leaves at worst
a missing shard, never a corrupt one. A shard is one ``.npy`` of (key, vector) records, read
memory-mapped, and looked up with one sorted array of every shard's keys (``ShardIndex``): the
vectors a caller asks for are gathered straight from the mapped files into its array, so at a
million passages that array is the only private copy — no per-text Python objects (a dict of a
million row views cost ~0.8 GB beside the 1.5 GB of vectors). Older ``.npz`` shards are still
read, into memory.

A shard damaged from outside (a full disk, a killed copy of the cache) fails its size or header
check when read: it is set aside (renamed ``*.damaged``, named in one warning line) and its texts
are encoded again.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from recft.common.atomic import atomic_path, write_json
from recft.common.errors import RecftError
from recft.common.hashing import stable_hash


class CacheError(RecftError, OSError):
    """A cache folder that cannot be used; the message names it."""


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
    ``.npz`` read into memory. A short file or a bad header raises ``ValueError`` (or ``OSError``)."""
    if path.suffix == ".npy":
        records = np.load(path, mmap_mode="r")  # a file shorter than its header says: ValueError
        if records.ndim != 1 or records.dtype.names != ("key", "emb") or records.dtype["key"] != np.dtype("S16"):
            raise ValueError(f"not (16-byte key, vector) records: {records.dtype}, shape {records.shape}")
        return records["key"], records["emb"]
    with np.load(path) as data:
        return data["keys"], data["emb"]


DAMAGE = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile)  # what a torn or foreign shard raises


def readable_shard(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """``read_shard``, or None for a damaged shard, which is set aside (``<name>.damaged``, no longer a
    shard) with one warning line: its texts are simply not cached any more."""
    try:
        return read_shard(path)
    except DAMAGE as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    aside = path.with_name(f"{path.name}.damaged")
    try:
        path.replace(aside)
    except FileNotFoundError:  # another process set it aside first
        return None
    except OSError as err:
        raise CacheError(f"{path}: damaged cache shard ({reason}) that cannot be set aside ({err})") from None
    print(f"warning: {path}: damaged cache shard ({reason}); set aside as {aside.name}, its texts are encoded again",
          file=sys.stderr)  # fmt: skip
    return None


def stored_keys(folder: str | Path) -> set[bytes]:
    """Every text key a cache folder holds (for checks of what was encoded where)."""
    shards = [*Path(folder).glob("shard-*.npy"), *Path(folder).glob("shard-*.npz")]
    return {bytes(k) for shard in shards if (read := readable_shard(shard)) is not None for k in read[0]}


GATHER_ROWS = 65_536  # rows copied from a shard at a time (~100 MB at 384-d)


class ShardIndex:
    """Every shard of one cache folder, searchable by key without a Python object per text."""

    def __init__(self) -> None:
        self.shards: list[tuple[np.ndarray, np.ndarray]] = []  # (keys, vectors) per shard, vectors mapped
        self.names: set[str] = set()
        self._sorted = np.empty(0, dtype="S16")
        self._shard = np.empty(0, dtype=np.int32)
        self._row = np.empty(0, dtype=np.int64)

    def add(self, shards: list[tuple[str, np.ndarray, np.ndarray]]) -> None:
        """Add (name, keys, vectors) shards, then sort every key once (a folder of many shards is read at once)."""
        if not shards:
            return
        for name, keys, vectors in shards:
            self.shards.append((keys, vectors))
            self.names.add(name)
        every = np.concatenate([k for k, _ in self.shards])
        order = np.argsort(every, kind="stable")
        self._sorted = every[order]
        shard = [np.full(len(k), i, dtype=np.int32) for i, (k, _) in enumerate(self.shards)]
        self._shard = np.concatenate(shard)[order]
        self._row = np.concatenate([np.arange(len(k)) for k, _ in self.shards])[order]

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's position in the sorted index, −1 where no shard has it."""
        if not len(self._sorted):
            return np.full(len(keys), -1, dtype=np.int64)
        at = np.minimum(np.searchsorted(self._sorted, keys), len(self._sorted) - 1)
        return np.where(self._sorted[at] == keys, at, -1)

    def gather(self, found: np.ndarray, out: np.ndarray) -> None:
        """Copy the vectors at ``found`` positions (≥ 0) into the same rows of ``out``, shard by shard."""
        rows = np.flatnonzero(found >= 0)
        shard, row = self._shard[found[rows]], self._row[found[rows]]
        for index, (_, vectors) in enumerate(self.shards):
            mine = shard == index
            if mine.any():
                picked, targets = row[mine], rows[mine]
                order = np.argsort(picked)  # read the mapped file front to back
                for start in range(0, len(order), GATHER_ROWS):  # bounded temporaries: never a second full copy
                    part = order[start : start + GATHER_ROWS]
                    out[targets[part]] = vectors[picked[part]]


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
        self._indexes: dict[Path, ShardIndex] = {}

    @classmethod
    def from_config(cls, cfg) -> "EmbeddingCache":
        """``cache_dir`` and ``encode_processes`` of a run's config."""
        return cls(cfg.cache_dir, cfg.encode_processes)

    def folder(self, settings: dict) -> Path:
        assert self.root is not None
        return self.root / stable_hash(json.dumps(settings, sort_keys=True))

    def _load(self, folder: Path) -> ShardIndex:
        """The folder's index, reading only shards this object has not read yet (another process
        may have added some); per-epoch validation would otherwise re-read the corpus every call."""
        index = self._indexes.setdefault(folder, ShardIndex())
        shards = sorted([*folder.glob("shard-*.npy"), *folder.glob("shard-*.npz")])
        fresh = [(shard, readable_shard(shard)) for shard in shards if shard.name not in index.names]
        index.add([(shard.name, *read) for shard, read in fresh if read is not None])
        return index

    def encode(self, encoder, texts: Sequence[str], kind: str, show_progress: bool = True) -> np.ndarray:
        """Return embeddings for ``texts`` (input order), encoding only the ones not cached yet."""
        if self.root is None or not texts:
            return self._encode(encoder, list(texts), kind, show_progress)
        settings = encoder.settings(kind)
        folder = self.folder(settings)
        index = self._load(folder)
        keys = text_keys(texts)
        found = index.find(keys)
        absent = np.flatnonzero(found < 0)
        self.stats.hits += len(texts) - len(absent)
        if len(absent):
            shard_keys, first = np.unique(keys[absent], return_index=True)
            order = np.argsort(first)  # encode in the order the texts came
            fresh = self._encode(encoder, [texts[absent[first[i]]] for i in order], kind, show_progress)
            write_json(folder / "settings.json", settings)
            shard_keys, fresh = shard_keys[order], np.asarray(fresh, dtype=np.float32)
            name = f"shard-{time.time_ns()}-{stable_hash(shard_keys.tobytes().hex(), 4)}.npy"
            write_shard(folder / name, shard_keys, fresh)
            index.add([(name, shard_keys, fresh)])
            found = index.find(keys)
        out = np.empty((len(texts), index.shards[0][1].shape[1]), dtype=np.float32)
        index.gather(found, out)
        return out

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
