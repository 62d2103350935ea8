"""Shared fixtures: the shipped tariff's classifier (R1, R2)."""

from __future__ import annotations

import pytest

from callctl.core.classify import Classifier
from callctl.data import default_tariff


@pytest.fixture(scope="session")
def classify() -> Classifier:
    """R1/R2 classifier over the shipped tariff's numbering data."""
    return Classifier(default_tariff().numbering)
