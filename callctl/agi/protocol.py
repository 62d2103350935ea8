"""FastAGI wire protocol as res_agi speaks it (Asterisk 22): pure, no I/O, no clock.

Written in-house: the asyncio FastAGI libraries on PyPI are unmaintained and mishandle the
unsolicited ``HANGUP`` line (which can arrive before or in place of a command reply) and
``511`` replies. This module parses the environment block, quotes and formats commands the way
res_agi's ``parse_args`` reads them, and parses replies incrementally from raw bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl, urlsplit

MAX_LINE_BYTES = 8192
"""Longest line accepted from Asterisk, without its line ending."""

MAX_ENV_LINES = 200
"""Most ``agi_*`` lines accepted in an environment block."""

MAX_ENV_BYTES = 65536
"""Most bytes accepted in an environment block (its lines and line endings, blank line
included). The dialplan's ``route`` request is about 1 KiB; without this cap a peer could
make each connection hold ``MAX_ENV_LINES * MAX_LINE_BYTES`` (1.6 MB)."""

MAX_REPLY_LINES = 200
"""Most lines accepted in one multi-line ``520`` reply."""

MAX_REPLY_BYTES = 65536
"""Most bytes accepted in one multi-line ``520`` reply (its usage text)."""

MAX_COMMAND_BYTES = 2047
"""Longest command line we send, newline included.

res_agi reads a command with ``fgets`` into ``AGI_BUF_LEN`` bytes (2048 up to Asterisk 22.5,
8192 from 22.6) and treats the rest of an over-long line as a *second command*; staying under
the smaller size keeps every Asterisk 22 safe.
"""

MAX_COMMAND_WORDS = 127
"""res_agi keeps at most ``MAX_ARGS - 1`` = 127 words and silently drops the rest."""


class AgiError(Exception):
    """Base class of every FastAGI error."""


class AgiProtocolError(AgiError):
    """The peer sent something that is not FastAGI; ``line`` is the offending line, if any."""

    def __init__(self, message: str, line: str | None = None) -> None:
        self.message = message
        self.line = line
        if line is None:
            super().__init__(message)
        else:
            shown = line if len(line) <= 120 else line[:120] + "…"
            super().__init__(f"{message}: {shown!r}")


def _decode(raw: bytes) -> str:
    # Asterisk passes channel data through as bytes; undecodable bytes become U+FFFD rather
    # than surrogates, so a value read here can always be encoded again.
    return raw.decode("utf-8", errors="replace")


def _take_line(buf: bytearray, limit: int) -> bytes | None:
    """Remove and return the first complete line of ``buf`` (no LF/CRLF), or None if partial."""
    end = buf.find(b"\n")
    if end < 0:
        if len(buf) > limit + 1:  # +1: a CR may still be followed by its LF
            raise AgiProtocolError(f"line longer than {limit} bytes", _decode(bytes(buf[:120])))
        return None
    line = bytes(buf[:end])
    del buf[: end + 1]
    if line.endswith(b"\r"):
        line = line[:-1]
    if len(line) > limit:
        raise AgiProtocolError(f"line longer than {limit} bytes", _decode(line[:120]))
    return line


# ---------------------------------------------------------------------------------------------
# Environment


_ENV_LINE = re.compile(r"(agi_[A-Za-z0-9_]+):(?: (.*))?")
_ARG_PREFIX = "agi_arg_"


@dataclass(frozen=True, slots=True, eq=False)
class AgiEnvironment(Mapping[str, str]):
    """The ``agi_*`` variables Asterisk sends first, as a read-only mapping.

    Keys are stored as sent (``agi_channel``); lookups also accept them without the ``agi_``
    prefix (``env["channel"]``, ``env.get("channel")``). Values may be empty strings.
    """

    variables: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", MappingProxyType(dict(self.variables)))

    def __getitem__(self, key: str) -> str:
        try:
            return self.variables[key]
        except KeyError:
            if not key.startswith("agi_") and "agi_" + key in self.variables:
                return self.variables["agi_" + key]
            raise

    def __iter__(self) -> Iterator[str]:
        return iter(self.variables)

    def __len__(self) -> int:
        return len(self.variables)

    def __repr__(self) -> str:
        return f"AgiEnvironment({dict(self.variables)!r})"

    def _str(self, key: str) -> str:
        return self.variables.get(key, "")

    @property
    def request(self) -> str:
        """``agi_request``: the whole AGI URL, e.g. ``agi://127.0.0.1:4573/route?x=1``."""
        return self._str("agi_request")

    def _script_and_query(self) -> tuple[str, str]:
        script = self.variables.get("agi_network_script")
        if script is None:  # fall back on the request URL's path
            return _path_and_query(self.request)
        if "://" in script:  # not what res_agi sends, but unambiguous
            return _path_and_query(script)
        path, _, query = script.partition("?")
        return path.lstrip("/"), query

    @property
    def script(self) -> str:
        """The script path without query string: ``route`` for ``agi://host:4573/route?x=1``.

        res_agi sends it as ``agi_network_script`` (``route?x=1``, no leading slash); without
        that line the path of ``agi_request`` is used. Empty if the URL has no path or cannot
        be read (an unclosed ``[`` in its host).
        """
        return self._script_and_query()[0]

    @property
    def query_string(self) -> str:
        """The raw query string after ``?`` in the script, or ``""``."""
        return self._script_and_query()[1]

    @property
    def query(self) -> dict[str, str]:
        """The query string decoded (blank values kept; a repeated key keeps its last value)."""
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def args(self) -> tuple[str, ...]:
        """``agi_arg_1`` … ``agi_arg_N`` in numeric order, stopping at the first missing one."""
        out: list[str] = []
        while (value := self.variables.get(f"{_ARG_PREFIX}{len(out) + 1}")) is not None:
            out.append(value)
        return tuple(out)

    @property
    def uniqueid(self) -> str:
        """``agi_uniqueid`` (``""`` if absent)."""
        return self._str("agi_uniqueid")

    @property
    def channel(self) -> str:
        """``agi_channel``, e.g. ``PJSIP/alice-00000001`` (``""`` if absent)."""
        return self._str("agi_channel")

    @property
    def callerid(self) -> str:
        """``agi_callerid`` as sent: Asterisk writes ``unknown`` when there is no number."""
        return self._str("agi_callerid")


def _path_and_query(url: str) -> tuple[str, str]:
    """The path (without its leading ``/``) and the query of a URL; empty if unreadable."""
    try:
        parts = urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL": the values come from the peer, never raise
        return "", ""
    return parts.path.lstrip("/"), parts.query


class EnvironmentParser:
    """Incremental parser of the environment block (``agi_key: value`` lines, then a blank line).

    ``feed`` bytes as they arrive; it returns the environment once the blank line is seen.
    Bytes after the blank line (e.g. an early ``HANGUP``) are kept in ``remainder``.
    """

    def __init__(
        self,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_lines: int = MAX_ENV_LINES,
        max_bytes: int = MAX_ENV_BYTES,
    ) -> None:
        self._max_line = max_line_bytes
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self._taken = 0  # bytes of the block consumed so far (whole lines)
        self._buf = bytearray()
        self._values: dict[str, str] = {}
        self._env: AgiEnvironment | None = None

    @property
    def environment(self) -> AgiEnvironment | None:
        """The parsed environment, once complete."""
        return self._env

    @property
    def remainder(self) -> bytes:
        """Bytes received after the end of the environment block."""
        return bytes(self._buf) if self._env is not None else b""

    def feed(self, data: bytes) -> AgiEnvironment | None:
        """Add received bytes; the environment when complete, else None.

        Raises AgiProtocolError on a line that is not ``agi_key: value``, a repeated key, a
        line longer than the cap, too many lines or bytes, or an empty environment.
        """
        self._buf += data
        if self._env is not None:
            return self._env
        while (raw := _take_line(self._buf, self._max_line)) is not None:
            self._taken += len(raw) + 1
            if self._taken > self._max_bytes:
                raise AgiProtocolError(f"AGI environment longer than {self._max_bytes} bytes")
            line = _decode(raw)
            if not line:
                if not self._values:
                    raise AgiProtocolError("empty AGI environment")
                self._env = AgiEnvironment(self._values)
                return self._env
            match = _ENV_LINE.fullmatch(line)
            if match is None:
                raise AgiProtocolError("not an AGI environment line", line)
            key, value = match.group(1), match.group(2) or ""
            if key in self._values:
                raise AgiProtocolError("repeated AGI environment key", line)
            if len(self._values) >= self._max_lines:
                raise AgiProtocolError(f"more than {self._max_lines} AGI environment lines", line)
            self._values[key] = value
        return None


def parse_environment(data: bytes | str) -> AgiEnvironment:
    """Parse a complete environment block (ending with its blank line); nothing may follow."""
    raw = data.encode() if isinstance(data, str) else data
    parser = EnvironmentParser()
    env = parser.feed(raw)
    if env is None:
        raise AgiProtocolError("AGI environment is not terminated by an empty line")
    if parser.remainder:
        raise AgiProtocolError("data after the AGI environment", _decode(parser.remainder))
    return env


# ---------------------------------------------------------------------------------------------
# Commands

_COMMAND_NAME = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*")
_FORBIDDEN = ("\n", "\r", "\0")


def quote_arg(value: str) -> str:
    """``value`` as one res_agi argument: in double quotes, with ``\\`` and ``"`` escaped.

    Raises ValueError on a newline, carriage return or NUL: a newline would end the command
    and inject the rest as a second one, and NUL would silently cut the value.
    """
    for bad in _FORBIDDEN:
        if bad in value:
            raise ValueError(f"AGI argument may not contain {bad!r}: {value[:60]!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(command: str, *args: str) -> bytes:
    """One command line: ``command`` written bare, each argument quoted, then ``\\n``.

    ``format_command("SET VARIABLE", "NAME", "value")`` is ``b'SET VARIABLE "NAME" "value"\\n'``.
    ``command`` must be letters and single spaces. Raises ValueError on a bad command name,
    an argument that cannot be sent, more than 127 words, or a line longer than
    ``MAX_COMMAND_BYTES`` (res_agi would split it into two commands).
    """
    if not _COMMAND_NAME.fullmatch(command):
        raise ValueError(f"AGI command name must be words of letters: {command!r}")
    words = command.split(" ")
    if len(words) + len(args) > MAX_COMMAND_WORDS:
        raise ValueError(f"AGI command has more than {MAX_COMMAND_WORDS} words")
    line = " ".join([command, *(quote_arg(arg) for arg in args)]).encode() + b"\n"
    if len(line) > MAX_COMMAND_BYTES:
        raise ValueError(f"AGI command line is {len(line)} bytes; at most {MAX_COMMAND_BYTES}")
    return line


# ---------------------------------------------------------------------------------------------
# Replies


@dataclass(frozen=True, slots=True)
class Reply:
    """One reply to one command.

    ``200 result=1 (data) endpos=42`` gives code 200, result ``"1"``, data ``"data"`` and
    extra ``(("endpos", "42"),)``; ``510``/``511``/``520`` give their text in ``message``.
    ``lines`` holds the raw lines (several for a multi-line ``520``).
    """

    code: int
    result: str | None = None
    data: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    message: str = ""
    lines: tuple[str, ...] = field(default=())

    @property
    def raw(self) -> str:
        """The reply as received, lines joined with ``\\n``."""
        return "\n".join(self.lines)

    @property
    def ok(self) -> bool:
        """True for a ``200`` reply."""
        return self.code == 200

    @property
    def usage(self) -> str:
        """For a multi-line ``520``: the usage text between its first and last line."""
        return "\n".join(self.lines[1:-1])


@dataclass(frozen=True, slots=True)
class Hangup:
    """The unsolicited ``HANGUP`` line: the channel hung up (it is not a command reply)."""

    line: str = "HANGUP"


HANGUP = Hangup()

AgiEvent = Reply | Hangup

_REPLY_200 = re.compile(
    r"200 result=(?P<result>-?\d+)(?: \((?P<data>.*)\))?(?P<extra>(?: [A-Za-z_]+=\S*)*)"
)
_REPLY_ERROR = re.compile(r"(?P<code>510|511|520) (?P<message>.*)")
_BLOCK_START = "520-"
_BLOCK_END = "520 "


class ReplyParser:
    """Incremental parser of what res_agi sends after the environment: replies and HANGUP.

    ``feed`` takes raw bytes and returns the complete events (``Reply`` or ``HANGUP``) in
    order; a partial line or an unfinished ``520-`` block is kept for the next call. A
    ``HANGUP`` before a reply is reported on its own; the reply still follows. Inside a
    ``520-`` block every line is usage text until ``520 …`` (res_agi writes the block in one
    go, so HANGUP cannot fall inside it). Anything else raises AgiProtocolError.
    """

    def __init__(
        self,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_block_lines: int = MAX_REPLY_LINES,
        max_block_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self._max_line = max_line_bytes
        self._max_block = max_block_lines
        self._max_block_bytes = max_block_bytes
        self._buf = bytearray()
        self._block: list[str] | None = None
        self._block_bytes = 0

    @property
    def idle(self) -> bool:
        """True when no partial line or unfinished block is buffered."""
        return not self._buf and self._block is None

    def feed(self, data: bytes) -> list[AgiEvent]:
        """Add received bytes; the events they complete, in order."""
        self._buf += data
        events: list[AgiEvent] = []
        while (raw := _take_line(self._buf, self._max_line)) is not None:
            event = self.feed_line(_decode(raw))
            if event is not None:
                events.append(event)
        return events

    def feed_line(self, line: str) -> AgiEvent | None:
        """Add one line (without its line ending); the event it completes, if any."""
        line = line.removesuffix("\n").removesuffix("\r")
        if len(line) > self._max_line:
            raise AgiProtocolError(f"line longer than {self._max_line} bytes", line[:120])
        if self._block is not None:
            self._block.append(line)
            self._block_bytes += len(line) + 1
            if line.startswith(_BLOCK_END):
                lines, self._block = tuple(self._block), None
                return Reply(code=520, message=lines[0][len(_BLOCK_START) :], lines=lines)
            if len(self._block) >= self._max_block:
                raise AgiProtocolError(f"520 reply longer than {self._max_block} lines", line)
            if self._block_bytes > self._max_block_bytes:
                raise AgiProtocolError(f"520 reply longer than {self._max_block_bytes} bytes")
            return None
        if line == "HANGUP":
            return HANGUP
        if line.startswith(_BLOCK_START):
            self._block = [line]
            self._block_bytes = len(line) + 1
            return None
        if (match := _REPLY_200.fullmatch(line)) is not None:
            extra = tuple(
                (key, value)
                for key, _, value in (item.partition("=") for item in match["extra"].split())
            )
            return Reply(
                code=200,
                result=match["result"],
                data=match["data"],
                extra=extra,
                lines=(line,),
            )
        if (match := _REPLY_ERROR.fullmatch(line)) is not None:
            return Reply(code=int(match["code"]), message=match["message"], lines=(line,))
        raise AgiProtocolError("not an AGI reply", line)


def parse_reply(text: str | bytes) -> Reply:
    """Parse exactly one complete reply (no HANGUP, nothing after it)."""
    raw = text.encode() if isinstance(text, str) else text
    if not raw.endswith(b"\n"):
        raw += b"\n"
    parser = ReplyParser()
    events = parser.feed(raw)
    if not parser.idle:
        raise AgiProtocolError("incomplete AGI reply", _decode(raw))
    if len(events) != 1 or not isinstance(events[0], Reply):
        raise AgiProtocolError("expected exactly one AGI reply", _decode(raw))
    return events[0]
