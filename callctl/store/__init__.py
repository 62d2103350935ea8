"""The store: lines, usage counters and call records in SQLite or PostgreSQL (R6, R7, R10).

``make_engine(url)`` opens a database, ``await migrate(url)`` brings its schema up to date,
and :class:`Store` reads and writes it; ``settle`` records a call and draws its counters in
one transaction.
"""

from __future__ import annotations

from callctl.store.db import DEFAULT_URL, database_url, make_engine
from callctl.store.migrate import current_revision, head_revision, migrate
from callctl.store.repository import Store, StoreError

__all__ = [
    "DEFAULT_URL",
    "Store",
    "StoreError",
    "current_revision",
    "database_url",
    "head_revision",
    "make_engine",
    "migrate",
]
