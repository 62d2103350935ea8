"""Running the store's Alembic migrations from code (no ``alembic.ini`` needed).

``await migrate(url)`` is ``alembic upgrade head`` on that database, in one transaction
(on PostgreSQL under an advisory lock, on SQLite under the write lock), so two processes
starting at once do not both create the tables.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from callctl.store.db import database_url, make_engine, writer

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_LOCK_KEY = 0x63616C6C63746C  # "callctl": the advisory lock taken while migrating


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for the shipped migrations (and ``url``, if given)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation: a literal "%" in a password must be doubled.
        cfg.set_main_option("sqlalchemy.url", database_url(url).replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The newest revision shipped with callctl."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations in {MIGRATIONS}")
    return head


async def migrate(url: str | AsyncEngine) -> None:
    """Bring the database at ``url`` (or behind an engine) to the newest revision."""
    if isinstance(url, AsyncEngine):
        await _migrate(url)
        return
    engine = make_engine(url, poolclass=NullPool)
    try:
        await _migrate(engine)
    finally:
        await engine.dispose()


async def current_revision(url: str | AsyncEngine) -> str | None:
    """The revision the database is at; None before the first migration."""
    if isinstance(url, AsyncEngine):
        return await _current(url)
    engine = make_engine(url, poolclass=NullPool)
    try:
        return await _current(engine)
    finally:
        await engine.dispose()


async def _migrate(engine: AsyncEngine) -> None:
    async with writer(engine).begin() as conn:
        await conn.run_sync(_upgrade)


async def _current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_revision_of)


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _revision_of(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
