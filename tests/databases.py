"""Real databases for tests: a SQLite file, or a database on the PostgreSQL server.

The PostgreSQL database is created for the test session on the server at
``$CALLCTL_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/postgres``, the admin
connection). If the server does not answer, the session tries to start the local cluster
with ``pg_ctlcluster``; if it still does not answer, the PostgreSQL tests fail (never skip).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from callctl.store import database_url, make_engine, migrate

PG_ADMIN = os.environ.get("CALLCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin_engine() -> AsyncEngine:
    return create_async_engine(
        database_url(PG_ADMIN),
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
        connect_args={"timeout": 5},
    )


async def _admin(*statements: str) -> None:
    engine = _admin_engine()
    try:
        async with engine.connect() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _reachable() -> bool:
    try:
        asyncio.run(_admin("SELECT 1"))
    except (OSError, TimeoutError) as exc:  # refused, no route, timed out
        return _log_unreachable(exc)
    except Exception as exc:  # a DBAPI error while connecting, e.g. the server starting up
        return _log_unreachable(exc)
    return True


def _log_unreachable(exc: BaseException) -> bool:
    print(f"PostgreSQL at {PG_ADMIN} not reachable: {exc}")
    return False


def _start_local_cluster() -> str:
    versions = sorted(os.listdir("/etc/postgresql")) if Path("/etc/postgresql").is_dir() else []
    if not versions:
        return "no cluster in /etc/postgresql"
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(cmd)}: {exc}"
    return f"{' '.join(cmd)}: exit {proc.returncode} {proc.stderr.strip()}"


def ensure_server() -> None:
    """The PostgreSQL server answers, started here if need be; else the test fails."""
    if _reachable():
        return
    started = _start_local_cluster()
    deadline = time.monotonic() + 20
    while not _reachable():
        if time.monotonic() > deadline:
            pytest.fail(f"PostgreSQL at {PG_ADMIN} is not reachable ({started})")
        time.sleep(0.5)


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new, migrated PostgreSQL database, dropped on exit."""
    ensure_server()
    name = f"callctl_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(migrate(url))
        yield url
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this session, dropped at the end."""
    with fresh_database() as url:
        yield url


async def _empty_tables(url: str) -> None:
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("TRUNCATE lines, usage, call_records, api_tokens RESTART IDENTITY")
            )
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty, migrated database: a SQLite file, or the session's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        asyncio.run(migrate(url))
        return url
    pg: str = request.getfixturevalue("pg_database")
    asyncio.run(_empty_tables(pg))
    return pg


PG_BIN = Path("/usr/lib/postgresql/15/bin")


class PrivateCluster:
    """A PostgreSQL cluster of its own (initdb in a temporary folder, as user ``postgres``,
    on a free port), for tests that stop and start the database: the shared server is never
    touched. ``url`` is its ``postgres`` database (trust authentication)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.dir = Path(tempfile.mkdtemp(prefix="callctl-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        shutil.chown(self.dir, "postgres", "postgres")
        self._as_postgres(PG_BIN / "initdb", "-D", str(self.data), "-A", "trust",
                          "-U", "postgres", "--no-sync")  # fmt: skip

    def _as_postgres(self, *cmd: str | Path) -> None:
        proc = subprocess.run(["runuser", "-u", "postgres", "--", *map(str, cmd)],
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[0]} failed: {proc.stdout}\n{proc.stderr}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c max_connections=60")  # fmt: skip
        self._as_postgres(PG_BIN / "pg_ctl", "-D", str(self.data), "-l",
                          str(self.dir / "server.log"), "-o", options, "-w", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop it: ``fast`` ends every session at once (in-flight transactions fail)."""
        self._as_postgres(PG_BIN / "pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)
