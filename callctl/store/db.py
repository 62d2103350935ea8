"""Database URLs and engines: one async engine per store, SQLite or PostgreSQL.

SQLite is set up for several writers: WAL journal, a busy timeout, foreign keys, and
transactions that SQLAlchemy begins itself, so that a writer can take the write lock first
with ``BEGIN IMMEDIATE`` (see :func:`writer`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry

DEFAULT_URL = "sqlite:///callctl.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000

# Execution option read by the SQLite ``begin`` hook: how to begin a transaction.
_BEGIN_OPTION = "callctl_sqlite_begin"
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE", "EXCLUSIVE"})

_SQLITE_DRIVERS = {"sqlite": "sqlite+aiosqlite", "sqlite+pysqlite": "sqlite+aiosqlite"}
_POSTGRES_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+psycopg2": "postgresql+asyncpg",
}
_ASYNC_DRIVERS = frozenset({"sqlite+aiosqlite", "postgresql+asyncpg"})


def database_url(url: str) -> str:
    """The async form of a database URL.

    ``sqlite:///x.db`` → ``sqlite+aiosqlite:///x.db``, ``postgresql://…`` (or ``postgres://``)
    → ``postgresql+asyncpg://…``; URLs that already name the async driver are kept. Any other
    database or driver is a :class:`ValueError`.
    """
    text = url.strip()
    if text.startswith("postgres://"):  # the Heroku-style spelling SQLAlchemy rejects
        text = "postgresql://" + text[len("postgres://") :]
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise ValueError(f"not a database URL: {url!r}") from None
    name = parsed.drivername
    if name in _ASYNC_DRIVERS:
        return parsed.render_as_string(hide_password=False)
    target = _SQLITE_DRIVERS.get(name) or _POSTGRES_DRIVERS.get(name)
    if target is None:
        raise ValueError(
            f"unsupported database {name!r} in {url!r} (use sqlite:///FILE or postgresql://…)"
        )
    return parsed.set(drivername=target).render_as_string(hide_password=False)


def is_sqlite(engine: AsyncEngine) -> bool:
    """Whether the engine talks to SQLite."""
    return engine.dialect.name == "sqlite"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for ``url`` (normalised with :func:`database_url`).

    Extra keyword arguments go to :func:`~sqlalchemy.ext.asyncio.create_async_engine`.
    """
    async_url = database_url(url)
    _check_sqlite_directory(async_url)
    engine = create_async_engine(async_url, **kwargs)
    if is_sqlite(engine):
        _setup_sqlite(engine)
    return engine


def _check_sqlite_directory(url: str) -> None:
    """A SQLite file in a missing directory cannot be created: say so before connecting.

    (aiosqlite 0.22 also reports a failed connect late, from its worker thread, which can
    outlive the event loop: best not to get there.)
    """
    parsed = make_url(url)
    name = parsed.database
    if parsed.get_backend_name() != "sqlite" or not name or name == ":memory:":
        return
    if name.startswith("file:") or parsed.query.get("uri"):
        return  # a SQLite URI: let SQLite read it
    directory = Path(name).expanduser().parent
    if not directory.is_dir():
        raise ValueError(f"the directory {directory} of the SQLite database does not exist")


def writer(engine: AsyncEngine) -> AsyncEngine:
    """The same engine (same pool) whose transactions take the write lock at once.

    On SQLite a transaction then begins with ``BEGIN IMMEDIATE``, so two writers queue on the
    busy timeout instead of failing when a read lock cannot be upgraded; on PostgreSQL it
    changes nothing (rows are locked with ``SELECT … FOR UPDATE``).
    """
    return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})


def _setup_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # SQLAlchemy, not the driver, emits BEGIN (see _on_begin); COMMIT/ROLLBACK still work.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{_BEGIN_OPTION} must be one of {sorted(_BEGIN_MODES)}")
        conn.exec_driver_sql(f"BEGIN {mode}")
