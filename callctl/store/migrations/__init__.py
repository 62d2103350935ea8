"""Alembic migrations of the store (``env.py``, ``versions/``); run with callctl.store.migrate."""
