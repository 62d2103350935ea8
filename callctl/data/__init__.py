"""Data files shipped with callctl, and the one place that reads the tariff from disk."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from pathlib import Path

from callctl.core.emergency import EmergencyPlan, parse_emergency_plan
from callctl.core.tariff import Tariff, TariffError, parse_tariff

DEFAULT_TARIFF = "tariff.toml"


def read_tariff(path: str | Path | None = None) -> Tariff:
    """Read and check a tariff file; the shipped one when ``path`` is None."""
    try:
        if path is None:
            text = resources.files(__package__).joinpath(DEFAULT_TARIFF).read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise TariffError(f"cannot read tariff file {path}: {exc.strerror}") from None
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
    text = resources.files(__package__).joinpath("emergency.toml").read_text("utf-8")
    return parse_emergency_plan(tomllib.loads(text))
