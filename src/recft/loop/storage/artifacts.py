"""What the registry serves lives under its root: every version's files, stored by their content.

A run writes a version folder into its own run folder (``outputs/…/candidate``) — a folder people
delete. The registry copies it in before recording the version: each file to
``artifacts/objects/<sha256>`` (under a temp name, then renamed; a file already there is shared, not
written again), and the folder rebuilt as ``artifacts/trees/<tree hash>/`` — hard links to those
objects, copies where the filesystem has none — built under a temp name and renamed, so a tree is
whole or absent. The registry records the tree by its path *relative to its root*: deleting run
folders, or moving or copying the registry to another disk, leaves every command working. Two
versions whose adapter is byte-identical (a NUDGE step on kept weights) share its files, and a
serving index that did not change is the same tree.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from recft.common.atomic import atomic_path, new_folder
from recft.common.hashing import file_sha256, stable_hash

OBJECTS, TREES, INCOMING = "artifacts/objects", "artifacts/trees", "artifacts/incoming"


def object_path(root: Path, sha: str) -> Path:
    return root / OBJECTS / sha[:2] / sha


def store_object(root: Path, path: Path) -> str:
    """Copy ``path`` into the object store (atomically) unless its content is already there; its sha256."""
    sha = file_sha256(path)
    target = object_path(root, sha)
    if not target.is_file():
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
    return sha


def _link_or_copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:  # no hard links here (another filesystem, some network disks): a copy
        shutil.copyfile(source, target)


def store_tree(root: str | Path, folder: str | Path) -> str:
    """Store every file of ``folder`` under ``root`` and return the tree's path relative to ``root``
    (``artifacts/trees/<hash>``); the same content always gives the same tree."""
    root, folder = Path(root), Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    manifest = {p.relative_to(folder).as_posix(): store_object(root, p) for p in files}
    relative = f"{TREES}/{stable_hash(json.dumps(manifest, sort_keys=True))}"
    target = root / relative
    if not target.is_dir():
        with new_folder(target) as tmp:
            for name, sha in manifest.items():
                _link_or_copy(object_path(root, sha), tmp / name)
    return relative


@contextmanager
def incoming(root: str | Path) -> Iterator[Path]:
    """A scratch folder under ``root`` (same filesystem as the store) to build a tree in; removed after."""
    base = Path(root) / INCOMING
    base.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=base))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
