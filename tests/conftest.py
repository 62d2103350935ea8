"""Shared fixtures: the shipped tariff's classifier (R1, R2)."""

from __future__ import annotations

import pytest

from callctl.core.classify import Classifier
from callctl.data import default_tariff
from tests.databases import db, pg_database

__all__ = ["classify", "db", "pg_database"]


@pytest.fixture(scope="session")
def classify() -> Classifier:
    """R1/R2 classifier over the shipped tariff's numbering data."""
    return Classifier(default_tariff().numbering)
