"""Text captures to SIP messages: plain messages one after another, or a SIPp ``-trace_msg`` log.

A text capture is read line by line. A line that starts a SIP message (a request line or a
status line) starts a message, which is framed by its ``Content-Length`` like a TCP stream
(a message without one has no body). Between messages, these lines are allowed:

- a **time line**, which gives the time of the messages that follow it: SIPp's separator
  (``----------------------------------------------- 2026-11-26 10:00:00.250000``) or a comment
  ``# 2026-11-26T10:00:00.250+01:00`` (ISO 8601; the rest of the line is free text). A time
  without an offset is read in the ``timezone`` given (SIPp writes the machine's local time);
- SIPp's direction lines (``UDP message sent (545 bytes):``), comments (``#``) and blank lines.

A message with no time line before it takes its ``Date`` header's time, else it is a problem.
Line ends are taken as CRLF whatever the file has (``Content-Length`` counts CRLF line ends,
as on the wire). Anything else is reported and skipped; nothing here raises on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, tzinfo
from email.utils import parsedate_to_datetime

from callctl.sip.message import SipParseError, frame_length
from callctl.trace.model import Captured, Item, Problem

_CRLF = re.compile(rb"(?<!\r)\n")
_TIME = rb"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?"
_SIPP_SEPARATOR = re.compile(rb"-{20,} *(" + _TIME + rb") *")
_COMMENT_TIME = re.compile(rb"# *(" + _TIME + rb"(?:Z|[+-]\d\d:?\d\d)?)")
_SIPP_DIRECTION = re.compile(rb"(?:UDP|TCP|TLS|SCTP|WS)? *message (?:sent|received)", re.I)
_START = re.compile(rb"(?:SIP/2\.0 [1-6][0-9][0-9](?: .*)?|[A-Za-z]+ [^ \r\n]+ SIP/2\.0)$")
_DATE = re.compile(rb"\r\nDate *: *([^\r\n]+)", re.I)


def _time(text: bytes, tz: tzinfo) -> datetime:
    value = datetime.fromisoformat(text.decode("ascii").replace("Z", "+00:00"))
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=tz).astimezone(UTC)


def _date_header(message: bytes) -> datetime | None:
    head = message.split(b"\r\n\r\n", 1)[0]
    found = _DATE.search(head)
    if found is None:
        return None
    try:
        value = parsedate_to_datetime(found.group(1).decode("ascii", "replace"))
    except (TypeError, ValueError):
        return None
    return value.astimezone(UTC) if value.tzinfo else None


def read_text(data: bytes, timezone: tzinfo = UTC) -> Iterator[Item]:
    """Every SIP message of a text capture, with its time, in file order."""
    text = _CRLF.sub(b"\r\n", data)
    if not text.endswith(b"\r\n\r\n"):  # the last message's empty line, left out by hand
        text += b"\r\n" if text.endswith(b"\r\n") else b"\r\n\r\n"
    pos = 0
    number = 0
    at: datetime | None = None
    while pos < len(text):
        end = text.find(b"\r\n", pos)
        end = len(text) if end < 0 else end
        line = text[pos:end].strip(b" \t")
        number += 1
        where = f"line {number}"
        if _START.match(line):
            try:
                length = frame_length(text, pos, missing_length=0)
            except SipParseError as exc:
                yield Problem(where, f"the message cannot be framed: {exc}; skipped")
                length = _next_entry(text, end) - pos
            else:
                if length is None:
                    yield Problem(where, "the message is cut short by the end of the file")
                    return
                message = text[pos : pos + length]
                when = at or _date_header(message)
                if when is None:
                    yield Problem(
                        where,
                        "no time for this message (a '# 2026-…' line before "
                        "it, a SIPp separator, or a Date header)",
                    )
                else:
                    yield Captured(when, message, where, "text")
            number += text.count(b"\r\n", pos, pos + length) - 1
            pos += length
            continue
        pos = end + 2
        if not line:
            continue
        found = _time_line(line)
        if found is not None:
            try:
                at = _time(found, timezone)
            except ValueError as exc:
                yield Problem(where, f"{found.decode()!r} is not a time: {exc}")
        elif not line.startswith(b"#") and not _SIPP_DIRECTION.match(line):
            shown = line[:60].decode("utf-8", "replace")
            yield Problem(where, f"not part of a SIP message: {shown!r}")


def _time_line(line: bytes) -> bytes | None:
    """The time a SIPp separator or a ``# <time>`` comment gives, as written; else None."""
    found = _SIPP_SEPARATOR.fullmatch(line) or _COMMENT_TIME.match(line)
    return None if found is None else found.group(1)


def _next_entry(text: bytes, pos: int) -> int:
    """Where the next message or time line starts after ``pos`` (the end if none)."""
    while pos < len(text):
        start = pos + 2 if text.startswith(b"\r\n", pos) else pos
        end = text.find(b"\r\n", start)
        end = len(text) if end < 0 else end
        line = text[start:end].strip(b" \t")
        if _START.match(line) or _time_line(line) is not None:
            return start
        pos = end
    return len(text)
