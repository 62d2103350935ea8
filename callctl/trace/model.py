"""What the trace readers yield: captured SIP messages with their time, and input problems.

A reader never raises on bad input: it yields a :class:`Problem` that says where and what,
and goes on with the rest, so one bad packet never loses the good calls around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_MESSAGE_BYTES = 64 * 1024 + 4 + 256 * 1024
"""The largest SIP message accepted (the parser's header and body limits)."""


@dataclass(frozen=True, slots=True)
class Captured:
    """One SIP message as captured, not yet parsed."""

    at: datetime  # when it was captured (aware, UTC)
    data: bytes  # the message's bytes
    where: str  # e.g. "packet 12", "line 40": for problems with this message
    transport: str  # UDP, TCP or text
    source: str | None = None  # "ip:port" when the capture knows it
    destination: str | None = None


@dataclass(frozen=True, slots=True)
class Problem:
    """Part of the input that could not be used, and why."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


Item = Captured | Problem
