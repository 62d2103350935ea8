"""Data files shipped with callctl, and the one place that reads the tariff from disk."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

from callctl.core.emergency import EmergencyDataError, EmergencyPlan, parse_emergency_plan
from callctl.core.tariff import Tariff, TariffError, parse_tariff

DEFAULT_TARIFF = "tariff.toml"


def read_text(shipped: str, path: str | Path | None, error: type[ValueError], what: str) -> str:
    """A data file's text: the shipped ``shipped`` when ``path`` is None, else ``path``.

    An unreadable file raises ``error`` naming it (``what``: "tariff", "provinces", …).
    """
    try:
        if path is None:
            return resources.files(__package__).joinpath(shipped).read_text("utf-8")
        return Path(path).read_text("utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} file {path or shipped}: {exc.strerror}") from None


def read_tariff(path: str | Path | None = None) -> Tariff:
    """Read and check a tariff file; the shipped one when ``path`` is None."""
    text = read_text(DEFAULT_TARIFF, path, TariffError, "tariff")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise TariffError(
            f"tariff file {path or DEFAULT_TARIFF} is not valid TOML: {exc}"
        ) from None
    return parse_tariff(data)


@cache
def default_tariff() -> Tariff:
    """The shipped tariff, read once."""
    return read_tariff()


@cache
def default_emergency_plan() -> EmergencyPlan:
    """The shipped emergency routing data (R9), read once."""
    text = read_text("emergency.toml", None, EmergencyDataError, "emergency data")
    return parse_emergency_plan(tomllib.loads(text))
