"""Clocks: the real one, and a test clock that shifts time so live calls land in any band."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Clock:
    """Now, plus a fixed offset (zero in production).

    The offset also applies to times the PBX reports (answer times), so a call placed at
    03:00 through the test PBX can be rated as if it happened on a weekday at 10:00.
    """

    offset: timedelta = timedelta(0)

    @classmethod
    def starting_at(cls, start: datetime) -> Clock:
        return cls(start - datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def shift(self, real: datetime) -> datetime:
        """A time reported by the PBX, on this clock."""
        return real + self.offset
