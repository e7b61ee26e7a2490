"""Content hashes: short stable ids for texts and settings, and a file's sha256 (read in blocks)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def stable_hash(payload: str, size: int = 16) -> str:
    return hashlib.blake2b(payload.encode("utf-8"), digest_size=size).hexdigest()


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
