"""The registry of model versions: who is in production, where every candidate came from.

Storage is one SQLite file (``registry.sqlite``): every change — a new candidate, a promotion that
moves the incumbent pointer and retires the old incumbent, a rollback — is one transaction, so a
run killed at any instant (even ``kill -9``) leaves either the old state or the new one, never a
mix. A cycle holds an exclusive ``fcntl`` lock on ``cycle.lock``; the kernel releases it when the
holder dies, so a crash never leaves a stale lock behind, and a concurrent second cycle is refused.

Statuses: ``incumbent`` (exactly one, after the first version), ``candidate`` (trained, undecided or
pending approval), ``rejected``, ``retired`` (a former incumbent).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import re
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from recft.common.errors import RecftError
from recft.common.faults import pause_point
from recft.loop.gate.verdicts import ABANDONED
from recft.loop.storage.artifacts import store_tree

STATUSES = ("incumbent", "candidate", "rejected", "retired")  # of a version
ARRIVAL_STATUSES = CONSUMED, QUARANTINED = ("consumed", "quarantined")  # of an arrival file
PENDING = "pending approval"  # a candidate's note while it waits for `recft manage approve`


def _one_of(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


SCHEMA = f"""
CREATE TABLE IF NOT EXISTS versions (
    id TEXT PRIMARY KEY,
    parent TEXT REFERENCES versions(id),
    created TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_one_of(STATUSES)})),
    kind TEXT NOT NULL,
    path TEXT,
    data_fingerprint TEXT,
    config TEXT NOT NULL DEFAULT '{{}}',
    metrics TEXT NOT NULL DEFAULT '{{}}',
    note TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS looks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    golden TEXT NOT NULL,
    version TEXT REFERENCES versions(id),
    at TEXT NOT NULL,
    alpha REAL NOT NULL,
    p REAL,
    sd REAL,
    verdict TEXT NOT NULL,
    metric TEXT
);
CREATE TABLE IF NOT EXISTS ledger (
    term TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sealed (
    query_id TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    qrels TEXT NOT NULL,
    file TEXT NOT NULL,
    line INTEGER,
    cycle INTEGER NOT NULL,
    at TEXT NOT NULL,
    role TEXT NOT NULL DEFAULT 'golden' CHECK (role IN ('golden', 'dev'))
);
CREATE TABLE IF NOT EXISTS arrivals (
    sha256 TEXT PRIMARY KEY,
    file TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ({_one_of(ARRIVAL_STATUSES)})),
    version TEXT REFERENCES versions(id),
    cycle INTEGER,
    at TEXT NOT NULL,
    manifest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS incumbents (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL REFERENCES versions(id),
    at TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


class RegistryError(RecftError, RuntimeError):
    """A registry operation that cannot be done; the message says why."""


@dataclass(frozen=True)
class Version:
    id: str
    parent: str | None
    created: str
    status: str
    kind: str
    path: str | None
    data_fingerprint: str | None
    config: dict
    metrics: dict
    note: str


def safe_id(text: str) -> str:
    """A version id usable as a file name on any OS, whatever the input."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")[:48]
    return slug or "version"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Registry:
    """``Registry(root)`` opens (or creates) ``root/registry.sqlite``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "registry.sqlite"
        try:
            with self._connect() as db:
                db.executescript(SCHEMA)
                db.execute("SELECT count(*) FROM versions").fetchone()
                columns = {row[1] for row in db.execute("PRAGMA table_info(looks)")}
                if "metric" not in columns:  # a registry made before looks named their metric keeps its looks
                    db.execute("ALTER TABLE looks ADD COLUMN metric TEXT")
                if "role" not in {row[1] for row in db.execute("PRAGMA table_info(sealed)")}:
                    db.execute("ALTER TABLE sealed ADD COLUMN role TEXT NOT NULL DEFAULT 'golden'")
        except sqlite3.DatabaseError as err:
            raise RegistryError(f"{self.path}: not a readable registry ({err})") from None

    @classmethod
    def existing(cls, root: str | Path) -> "Registry":
        """A registry that must already be there (every ``recft manage`` verb): a mistyped ``--registry``
        is refused in one line instead of reading as an empty loop — only ``recft cycle`` creates one."""
        if not (Path(root) / "registry.sqlite").is_file():
            raise RegistryError(f"{root}: no registry here (recft cycle creates one; check --registry / --domain)")
        return cls(root)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")  # readers never block; a killed writer is rolled back
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    @contextmanager
    def cycle_lock(self) -> Iterator[None]:
        """Exclusive for one cycle; refuses (does not wait) if another process holds it."""
        handle = open(self.root / "cycle.lock", "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise RegistryError(f"{self.root / 'cycle.lock'}: a cycle is already running ({holder})") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} since {now()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    # ---- reading -------------------------------------------------------------------------------

    def _row(self, row) -> Version:
        """A version as stored; its folder (kept relative to the root: ``recft.loop.storage.artifacts``) as a path
        where the registry is now — a version recorded by an older recft keeps its absolute path."""
        path = None if row[5] is None else str(self.root / row[5])
        return Version(
            row[0], row[1], row[2], row[3], row[4], path, row[6], json.loads(row[7]), json.loads(row[8]), row[9]
        )

    def own(self, path: str | Path | None) -> str | None:
        """What ``add`` records of a version's folder: a folder already in the registry by its path relative
        to the root; any other folder copied in first (``artifacts.store_tree``), so that what the registry
        serves never lives in a run folder someone may delete."""
        if path is None:
            return None
        folder = Path(path).resolve()
        if folder.is_relative_to(self.root.resolve()) and folder.is_dir():
            return folder.relative_to(self.root.resolve()).as_posix()
        if not folder.is_dir():
            raise RegistryError(f"{path}: no such folder to store as a version's artifacts")
        return store_tree(self.root, folder)

    def get(self, version_id: str) -> Version:
        with self._connect() as db:
            row = db.execute("SELECT * FROM versions WHERE id = ?", (version_id,)).fetchone()
        if row is None:
            raise RegistryError(f"{self.path}: no version {version_id!r}")
        return self._row(row)

    def versions(self) -> list[Version]:
        with self._connect() as db:
            return [self._row(r) for r in db.execute("SELECT * FROM versions ORDER BY created, rowid")]

    def incumbent(self) -> Version | None:
        with self._connect() as db:
            row = db.execute("SELECT version FROM incumbents ORDER BY seq DESC LIMIT 1").fetchone()
        return self.get(row[0]) if row else None

    def resolve(self, name: str) -> Version:
        """A version by id or alias: ``champion`` is the incumbent, ``candidate`` the newest version
        pending approval."""
        if name == "champion":
            incumbent = self.incumbent()
            if incumbent is None:
                raise RegistryError(f"{self.root}: no champion yet (no cycle has run)")
            return incumbent
        if name == "candidate":
            pending = self.pending()
            if not pending:
                raise RegistryError(f"{self.root}: no candidate is pending approval")
            return pending[-1]
        return self.get(name)

    def looks(self) -> list[dict]:
        """Every golden decision on this registry's one ledger, oldest first (``recft.loop.gate.looks``):
        looks made on earlier contents of a golden set that has grown count too."""
        keys = ("seq", "golden", "version", "at", "alpha", "p", "sd", "verdict", "metric")
        with self._connect() as db:
            rows = db.execute(f"SELECT {', '.join(keys)} FROM looks ORDER BY seq").fetchall()
        return [dict(zip(keys, row)) for row in rows]

    def sealed(self, role: str = "golden") -> list[dict]:
        """Every arrival query held out as ``role`` (golden: sealed; dev: the cycles' dev splits;
        ``recft.loop.intake.sealing``), in the order it was held out."""
        keys = ("query_id", "text", "qrels", "file", "line", "cycle", "at", "role")
        with self._connect() as db:
            query = f"SELECT {', '.join(keys)} FROM sealed WHERE role = ? ORDER BY rowid"
            rows = db.execute(query, (role,)).fetchall()
        return [{**dict(zip(keys, row)), "qrels": json.loads(row[2])} for row in rows]

    def arrivals(self) -> dict[str, dict]:
        """Every pair file the loop has consumed or quarantined, by content hash."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT sha256, file, status, version, cycle, at, manifest FROM arrivals ORDER BY at, rowid"
            )
            keys = ("sha256", "file", "status", "version", "cycle", "at")
            return {row[0]: {**dict(zip(keys, row)), "manifest": json.loads(row[6])} for row in rows}

    def lineage_root(self, version: Version) -> Version:
        """The first ancestor of ``version``: the base model every later version descends from."""
        while version.parent is not None:
            version = self.get(version.parent)
        return version

    def incumbent_history(self) -> list[tuple[str, str, str]]:
        with self._connect() as db:
            return list(db.execute("SELECT version, at, reason FROM incumbents ORDER BY seq"))

    # ---- writing -------------------------------------------------------------------------------

    def _new_id(self, db, name: str) -> str:
        count = db.execute("SELECT count(*) FROM versions").fetchone()[0]
        return f"v{count + 1:04d}-{safe_id(name)}"

    def add(
        self,
        name: str,
        kind: str,
        path: str | None,
        parent: str | None = None,
        status: str = "candidate",
        config: dict | None = None,
        metrics: dict | None = None,
        data_fingerprint: str | None = None,
    ) -> Version:
        if status not in ("candidate", "incumbent"):
            raise RegistryError(f"a new version starts as candidate or incumbent, not {status!r}")
        path = self.own(path)  # before the transaction: a version is recorded only once its files are stored
        with self.transaction() as db:
            if parent is not None and db.execute("SELECT 1 FROM versions WHERE id=?", (parent,)).fetchone() is None:
                raise RegistryError(f"{self.path}: parent version {parent!r} does not exist")
            version_id = self._new_id(db, name)
            db.execute(
                "INSERT INTO versions VALUES (?, ?, ?, 'candidate', ?, ?, ?, ?, ?, '')",
                (
                    version_id,
                    parent,
                    now(),
                    kind,
                    path,
                    data_fingerprint,
                    json.dumps(config or {}),
                    json.dumps(metrics or {}),
                ),
            )
            if status == "incumbent":
                self._make_incumbent(db, version_id, "initial version")
        return self.get(version_id)

    def _make_incumbent(self, db, version_id: str, reason: str) -> None:
        db.execute("UPDATE versions SET status='retired' WHERE status='incumbent'")
        pause_point("promotion")  # inside the open transaction: a kill here must change nothing
        db.execute("UPDATE versions SET status='incumbent' WHERE id=?", (version_id,))
        db.execute("INSERT INTO incumbents (version, at, reason) VALUES (?, ?, ?)", (version_id, now(), reason))

    def ledger_terms(self) -> dict:
        """The terms this registry's ledger was opened with at its first look (``recft.loop.gate.looks``)."""
        with self._connect() as db:
            return {term: json.loads(value) for term, value in db.execute("SELECT term, value FROM ledger")}

    def open_look(self, golden: str, alpha: float, metric: str | None = None, terms: dict | None = None) -> int:
        """Spend one look before anything of the candidate's golden result is stored: written ABANDONED
        with p = 1 at its level, so a run that dies before judging has still looked, and its re-run is held
        to the next level. ``terms`` are fixed with the first look, in the same transaction, and never
        change after. Returns the look's number; ``close_look`` records what the gate said."""
        with self.transaction() as db:
            for term, value in (terms or {}).items():
                db.execute("INSERT OR IGNORE INTO ledger (term, value) VALUES (?, ?)", (term, json.dumps(value)))
            cursor = db.execute(
                "INSERT INTO looks (golden, version, at, alpha, p, sd, verdict, metric) "
                "VALUES (?, NULL, ?, ?, 1.0, NULL, ?, ?)",
                (golden, now(), alpha, ABANDONED, metric),
            )
            return int(cursor.lastrowid)

    def close_look(self, seq: int, version_id: str, p: float, sd: float, verdict: str) -> int:
        """The gate's verdict on look ``seq`` (before acting on it: a killed cycle has still looked); returns
        the look's number on the ledger."""
        with self.transaction() as db:
            row = (version_id, p, sd, verdict, seq)
            db.execute("UPDATE looks SET version=?, p=?, sd=?, verdict=? WHERE seq=?", row)
            return db.execute("SELECT count(*) FROM looks WHERE seq <= ?", (seq,)).fetchone()[0]

    def record_look(
        self,
        golden: str,
        version_id: str | None,
        alpha: float,
        p: float,
        sd: float,
        verdict: str,
        metric: str | None = None,
        terms: dict | None = None,
    ) -> int:
        """One look opened and closed at once (what a decision outside a cycle records); its number."""
        seq = self.open_look(golden, alpha, metric, terms)
        return self.close_look(seq, version_id, p, sd, verdict)

    def record_sealed(self, entries: list[dict], db=None) -> None:
        """Seal arrival queries into the golden set of record (an id sealed before is kept as it was)."""
        if db is None:
            with self.transaction() as db:
                return self.record_sealed(entries, db)
        for e in entries:
            db.execute(
                "INSERT OR IGNORE INTO sealed (query_id, text, qrels, file, line, cycle, at, role) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    e["query_id"],
                    e["text"],
                    json.dumps(e["qrels"]),
                    e["file"],
                    e.get("line"),
                    e["cycle"],
                    now(),
                    e.get("role", "golden"),
                ),
            )

    def record_arrivals(self, entries: list[dict], sealed: list[dict] = ()) -> None:
        """Mark pair files consumed (with the version they went into) or quarantined, and seal their
        sealed queries, all in one transaction: a killed cycle leaves every file either recorded or not."""
        with self.transaction() as db:
            self.record_sealed(list(sealed), db)
            for entry in entries:
                values = (entry["sha256"], entry["file"], entry["status"], entry.get("version"), entry.get("cycle"))
                db.execute(
                    "INSERT INTO arrivals (sha256, file, status, version, cycle, at, manifest) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (*values, now(), json.dumps(entry["manifest"])),
                )
                pause_point("consumption")

    def update_metrics(self, version_id: str, metrics: dict) -> None:
        self.get(version_id)
        with self.transaction() as db:
            db.execute("UPDATE versions SET metrics=? WHERE id=?", (json.dumps(metrics), version_id))

    def promote(self, version_id: str, reason: str = "promoted by the gate") -> Version:
        """Make a candidate the incumbent (the old one is retired) in one transaction."""
        version = self.get(version_id)
        if version.status != "candidate":
            raise RegistryError(f"{self.path}: {version_id} is {version.status}, only a candidate can be promoted")
        with self.transaction() as db:
            self._make_incumbent(db, version_id, reason)
        return self.get(version_id)

    def reject(self, version_id: str, reason: str = "rejected") -> Version:
        version = self.get(version_id)
        if version.status != "candidate":
            raise RegistryError(f"{self.path}: {version_id} is {version.status}, only a candidate can be rejected")
        with self.transaction() as db:
            db.execute("UPDATE versions SET status='rejected', note=? WHERE id=?", (reason, version_id))
        return self.get(version_id)

    def pending(self) -> list[Version]:
        return [v for v in self.versions() if v.status == "candidate" and v.note == PENDING]

    def undecided(self) -> list[Version]:
        """Candidates with no verdict acted on and none pending approval: held by the cycle lock, these
        are from a cycle that died."""
        return [v for v in self.versions() if v.status == "candidate" and v.note != PENDING]

    def mark_pending(self, version_id: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE versions SET note=? WHERE id=?", (PENDING, version_id))

    def approve(self, version_id: str) -> Version:
        version = self.get(version_id)
        if version.status != "candidate" or version.note != PENDING:
            raise RegistryError(f"{self.path}: {version_id} is not pending approval (status {version.status})")
        with self.transaction() as db:
            db.execute("UPDATE versions SET note='approved' WHERE id=?", (version_id,))
            self._make_incumbent(db, version_id, "approved by a human")
        return self.get(version_id)

    def rollback(self, reason: str = "manual rollback") -> Version:
        """Reinstate the previous incumbent; the current one is retired."""
        history = self.incumbent_history()
        if len(history) < 2:
            raise RegistryError(f"{self.path}: no previous incumbent to roll back to")
        current, previous = history[-1][0], history[-2][0]
        with self.transaction() as db:
            db.execute("UPDATE versions SET status='retired' WHERE id=?", (current,))
            db.execute("UPDATE versions SET status='incumbent' WHERE id=?", (previous,))
            db.execute("INSERT INTO incumbents (version, at, reason) VALUES (?, ?, ?)", (previous, now(), reason))
        return self.get(previous)
