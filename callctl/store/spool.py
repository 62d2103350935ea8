"""The durable local spool: call records and hangup settlements kept while the database is down.

When the database does not answer, ``callctl serve`` appends what it could not write to this
SQLite file (WAL journal, ``synchronous = FULL``: an entry is on disk when :meth:`Spool.append`
returns) and writes it to the database once it answers again (docs/operations.md, "Database
unavailable"). Entries keep their arrival order (an ``AUTOINCREMENT`` id); an entry is deleted
only after the database committed it, and a repeated entry changes nothing there (R10: one
record per call key), so a crash between the commit and the delete duplicates nothing.

The file remembers which database it belongs to and refuses to open for another one, so
leftover entries are never written into the wrong database. This module is synchronous
(stdlib ``sqlite3``); :mod:`callctl.service.spooler` runs it on one worker thread.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from callctl.core.records import CallKey, CallRecord
from callctl.store.convert import record_from_columns, record_values
from callctl.store.db import database_url

SETTLE = "settle"  # a routed call's hangup: rated and drawn when written (R6, R7)
RECORD = "record"  # a record that draws nothing (a refusal, a cancelled attempt)
KINDS = (SETTLE, RECORD)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    call_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    spooled_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    call_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    spooled_at TEXT NOT NULL,
    error TEXT NOT NULL
);
"""


class SpoolError(RuntimeError):
    """The spool file cannot be used (another database's, unreadable, not a spool)."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One spooled write, in arrival order (``id``)."""

    id: int
    kind: str
    key: CallKey
    payload: dict[str, Any]
    attempts: int


def database_identity(url: str) -> str:
    """The database a spool belongs to: its async URL without the password."""
    return make_url(database_url(url)).render_as_string(hide_password=True)


def default_spool_path(url: str, cwd: Path | None = None) -> Path:
    """Where the spool of ``url`` lives by default: next to a SQLite file, else in ``cwd``.

    The name carries a short digest of the database, so that two databases (or two tests)
    never share a spool.
    """
    digest = hashlib.sha256(database_identity(url).encode()).hexdigest()[:10]
    name = f"callctl-spool-{digest}.db"
    parsed = make_url(database_url(url))
    db_file = parsed.database
    sqlite_file = db_file and db_file != ":memory:" and not db_file.startswith("file:")
    if parsed.get_backend_name() == "sqlite" and sqlite_file:
        assert db_file is not None
        return Path(db_file).expanduser().resolve().parent / name
    return (cwd or Path.cwd()) / name


class Spool:
    """A spool file, opened for one database. Not thread-safe: use it from one thread."""

    def __init__(self, path: Path | str, database: str) -> None:
        self.path = Path(path)
        self.database = database_identity(database)
        if not self.path.parent.is_dir():
            raise SpoolError(f"the directory {self.path.parent} of the spool does not exist")
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = FULL")
            self._db.executescript(_SCHEMA)
            self._claim()
        except sqlite3.DatabaseError as exc:
            raise SpoolError(f"{self.path}: {exc}") from None

    def _claim(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE name = 'database'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO meta VALUES ('database', ?)", (self.database,))
        elif row[0] != self.database:
            self._db.close()
            raise SpoolError(
                f"{self.path} is the spool of {row[0]}, not of {self.database}: "
                "give this database its own spool (setting spool)"
            )

    def close(self) -> None:
        self._db.close()

    def append(self, kind: str, key: CallKey, payload: Mapping[str, Any], now: datetime) -> int:
        """Add an entry (on disk when this returns); its id."""
        if kind not in KINDS:
            raise ValueError(f"unknown spool entry kind {kind!r}")
        cursor = self._db.execute(
            "INSERT INTO entries (kind, host, call_id, payload, spooled_at) VALUES (?,?,?,?,?)",
            (kind, key.host, key.call_id, json.dumps(payload), now.isoformat()),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def head(self, limit: int = 100) -> list[Entry]:
        """The oldest ``limit`` entries, oldest first."""
        rows = self._db.execute(
            "SELECT id, kind, host, call_id, payload, attempts FROM entries ORDER BY id LIMIT ?",
            (limit,),
        ).fetchall()
        return [Entry(i, k, CallKey(h, c), json.loads(p), a) for i, k, h, c, p, a in rows]

    def delete(self, ids: list[int]) -> None:
        """Forget entries the database has committed."""
        self._db.executemany("DELETE FROM entries WHERE id = ?", [(i,) for i in ids])

    def failed(self, entry_id: int, error: str) -> int:
        """Count a failed attempt at an entry (not a database outage); the attempts so far."""
        self._db.execute(
            "UPDATE entries SET attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, entry_id),
        )
        row = self._db.execute("SELECT attempts FROM entries WHERE id = ?", (entry_id,)).fetchone()
        return int(row[0]) if row else 0

    def reject(self, entry_id: int, error: str) -> None:
        """Move an entry the database keeps refusing aside (kept for the operator)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(
                "INSERT INTO rejected SELECT id, kind, host, call_id, payload, spooled_at, ? "
                "FROM entries WHERE id = ?",
                (error, entry_id),
            )
            self._db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def depth(self) -> dict[str, int]:
        """Entries waiting, by kind (every kind present, zero included)."""
        counts = dict.fromkeys(KINDS, 0)
        for kind, n in self._db.execute("SELECT kind, count(*) FROM entries GROUP BY kind"):
            counts[kind] = n
        return counts

    def rejected(self) -> int:
        """How many entries were moved aside."""
        return int(self._db.execute("SELECT count(*) FROM rejected").fetchone()[0])


# ------------------------------------------------------------------------- record codec

_TIMES = ("decided_at", "answered_at", "ended_at")
_MONEY = ("setup_fee", "per_call_fee", "amount")


def record_to_json(record: CallRecord) -> dict[str, Any]:
    """A record as JSON values: times ISO 8601 with their offset, money as decimal text."""
    values = record_values(record)
    for name in _TIMES:
        value = values[name]
        values[name] = None if value is None else value.isoformat()
    for name in _MONEY:
        values[name] = str(values[name])
    return values


def record_from_json(values: Mapping[str, Any]) -> CallRecord:
    """The record :func:`record_to_json` wrote, exactly (aware times, Decimal money)."""
    columns = dict(values)
    for name in _TIMES:
        value = columns[name]
        columns[name] = None if value is None else datetime.fromisoformat(value)
    for name in _MONEY:
        columns[name] = Decimal(columns[name])
    return record_from_columns(columns)
