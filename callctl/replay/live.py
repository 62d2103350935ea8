"""Live replay: placeholder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from callctl.core.lines import Line
from callctl.core.tariff import Tariff
from callctl.trace.dialogs import Dialog


def run_live(
    dialogs: Sequence[Dialog],
    lines: Sequence[Line],
    tariff: Tariff,
    *,
    speed: float,
    as_json: bool,
    out: TextIO,
) -> int:
    raise NotImplementedError
