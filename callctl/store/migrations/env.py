"""Alembic environment of the store, for an async engine.

:func:`callctl.store.migrate.migrate` hands over a synchronous connection (from
``AsyncConnection.run_sync``) in ``config.attributes["connection"]`` and owns the
transaction. Run by the ``alembic`` command instead, this file opens its own async engine
on ``sqlalchemy.url`` and goes through ``connection.run_sync`` too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from callctl.store.db import make_engine, writer
from callctl.store.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_as_batch=True,  # SQLite cannot ALTER most things: copy-and-move instead
        **kwargs,
    )


def run_migrations_offline() -> None:
    """Print the SQL instead of running it (``alembic upgrade --sql``)."""
    _configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    """Run the pending revisions on a synchronous connection."""
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Open an async engine on ``sqlalchemy.url`` and migrate through ``run_sync``."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic: set sqlalchemy.url (or use callctl.store.migrate)")
    engine = make_engine(url, poolclass=NullPool)
    try:
        async with writer(engine).begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    given = config.attributes.get("connection")
    if given is not None:
        do_run_migrations(given)
    else:
        asyncio.run(run_async_migrations())
