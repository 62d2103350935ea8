"""One SIP message as captured on the wire (RFC 3261), parsed: pure, no I/O, no clock.

``parse_request`` reads the request line, the header fields and the body of one request
written with CRLF or bare LF line ends; ``parse_message`` reads a request or a response
(status line) the same way, and ``frame_length`` finds where a message ends in a byte stream
(TCP, text captures: ``Content-Length`` framing, RFC 3261 18.3). They check only the framing:
that this is a SIP/2.0 request (or response), not HTTP, not binary, that every header line is
well formed, that the sizes stay under the limits below and that ``Content-Length`` agrees
with the body. The
header values themselves are read lazily by the helpers (``line_user``, ``top_via``,
``geolocation``, ``access_network_info``, ``body_parts``, ``pidf_part`` …), so that a malformed
*location* header or body can make the location untrusted without making the call fail.

Every function here raises ``SipParseError`` — and nothing else — on bad input, with a message
a person can act on. Every loop is linear in the input and every input is bounded by the
limits, so nothing here can hang; there are no backtracking regular expressions.
"""

from __future__ import annotations

import binascii
import functools
import ipaddress
import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal
from urllib.parse import unquote

MAX_HEADER_BYTES = 8 * 1024
"""Longest header field accepted (name, colon and value, folded lines joined), and request line."""

MAX_HEADERS_BYTES = 64 * 1024
"""Largest header section accepted (request line and every header line with their line ends)."""

MAX_BODY_BYTES = 256 * 1024
"""Largest body accepted."""

MAX_BODY_PARTS = 32
"""Most parts accepted in a ``multipart/*`` body."""

DeviceType = Literal["desktop", "mobile", "unknown"]
"""``X-Device-Type`` as read by ``device_type``: anything but desktop or mobile is unknown."""

MANDATORY_HEADERS = ("Via", "From", "To", "Call-ID", "CSeq")
"""Header fields without which a text is not taken for a SIP request (RFC 3261 8.1.1)."""


class SipParseError(ValueError):
    """The input is not a SIP request, or one of its parts is malformed; ``str()`` says why."""


# ---------------------------------------------------------------------------------------------
# Header names

_COMPACT = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
"""RFC 3261 7.3.3 and later RFCs: compact header names."""

_KNOWN = {
    name.lower(): name
    for name in (
        *_COMPACT.values(),
        "Accept",
        "Allow",
        "Authorization",
        "Call-Info",
        "Content-Disposition",
        "Content-ID",
        "Content-Transfer-Encoding",
        "CSeq",
        "Date",
        "Expires",
        "Geolocation",
        "Geolocation-Error",
        "Geolocation-Routing",
        "Max-Forwards",
        "MIME-Version",
        "P-Access-Network-Info",
        "P-Asserted-Identity",
        "P-Preferred-Identity",
        "Privacy",
        "Proxy-Authorization",
        "Proxy-Require",
        "Record-Route",
        "Require",
        "Route",
        "User-Agent",
        "WWW-Authenticate",
        "X-Device-Id",
        "X-Device-Type",
    )
}

# RFC 3261 token characters (header names, methods).
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~")
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_\-.]+")
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


@functools.lru_cache(maxsize=4096)
def canonical_name(name: str) -> str:
    """The full, conventionally spelt name of a header (``v`` → ``Via``, ``call-id`` → ``Call-ID``).

    Unknown names are returned as written; compare them case-insensitively.
    """
    lower = name.lower()
    if len(lower) == 1 and lower in _COMPACT:
        return _COMPACT[lower]
    return _KNOWN.get(lower, name)


def _shown(text: str, limit: int = 60) -> str:
    """``text`` quoted for an error message, cut to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


# ---------------------------------------------------------------------------------------------
# Value syntax: quoted strings, angle brackets, parameters


def _split_top(text: str, sep: str) -> list[str]:
    """Split at ``sep`` outside quoted strings and ``<…>``; an unclosed quote or ``<`` fails."""
    parts: list[str] = []
    start = 0
    in_quote = False
    escaped = False
    depth = 0
    for i, ch in enumerate(text):
        if in_quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            continue
        if ch == '"':
            in_quote = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if in_quote:
        raise SipParseError(f"unterminated quoted string in {_shown(text)}")
    if depth:
        raise SipParseError(f"'<' without its '>' in {_shown(text)}")
    parts.append(text[start:])
    return parts


def _find_outside_quotes(text: str, target: str) -> int:
    """Index of the first ``target`` outside a quoted string, or -1."""
    in_quote = False
    escaped = False
    for i, ch in enumerate(text):
        if in_quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
        elif ch == '"':
            in_quote = True
        elif ch == target:
            return i
    return -1


def unquote_string(value: str) -> str:
    """The content of a quoted string (``"a \\"b\\""`` → ``a "b"``); other values as they are."""
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    out: list[str] = []
    escaped = False
    for ch in value[1:-1]:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        else:
            out.append(ch)
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Params:
    """``;name=value`` parameters in order; names lower-case, quoted values unquoted.

    A parameter written without ``=`` (a flag such as ``;lr``) has the value None.
    """

    items: tuple[tuple[str, str | None], ...] = ()

    def get(self, name: str) -> str | None:
        """The value of the first parameter ``name`` (any case); None if absent or a flag."""
        key = name.lower()
        for item, value in self.items:
            if item == key:
                return value
        return None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and any(item == name.lower() for item, _ in self.items)


def _parse_params(segments: list[str]) -> Params:
    items: list[tuple[str, str | None]] = []
    for raw in segments:
        segment = raw.strip()
        if not segment:
            continue
        name, eq, value = segment.partition("=")
        name = name.strip().lower()
        if not name or not all(ch in _TOKEN_CHARS for ch in name):
            raise SipParseError(f"{_shown(segment)} is not a parameter (name=value)")
        items.append((name, unquote_string(value.strip()) if eq else None))
    return Params(tuple(items))


# ---------------------------------------------------------------------------------------------
# Headers


@dataclass(frozen=True, slots=True)
class Headers:
    """Header fields in order as ``(name, value)``; names canonical (see ``canonical_name``).

    Folded lines are joined with one space; values are stripped. Lookups ignore case and
    accept compact names.
    """

    fields: tuple[tuple[str, str], ...] = ()
    _index: dict[str, tuple[str, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        index: dict[str, list[str]] = {}
        for field_name, value in self.fields:
            index.setdefault(field_name.lower(), []).append(value)
        object.__setattr__(self, "_index", {k: tuple(v) for k, v in index.items()})

    def get(self, name: str) -> str | None:
        """The value of the first field called ``name``, or None."""
        values = self._index.get(canonical_name(name).lower())
        return values[0] if values else None

    def get_all(self, name: str) -> tuple[str, ...]:
        """The values of every field called ``name``, in order."""
        return self._index.get(canonical_name(name).lower(), ())

    def get_list(self, name: str) -> tuple[str, ...]:
        """Every comma-separated element of every field called ``name`` (for list headers).

        Commas inside quoted strings and ``<…>`` do not split. Raises ``SipParseError`` on an
        unterminated quoted string or ``<``.
        """
        out: list[str] = []
        for value in self.get_all(name):
            out.extend(item.strip() for item in _split_top(value, ",") if item.strip())
        return tuple(out)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self.get_all(name))


def _decode_line(line: bytes, where: str) -> str:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise SipParseError(f"{where} is not UTF-8 text (binary data?)") from None
    bad = _CONTROL_RE.search(text)
    if bad is not None and bad.group() == "\r":
        raise SipParseError(f"{where} has a bare CR: lines must end with CRLF or LF")
    if bad is not None:
        raise SipParseError(
            f"{where} contains the control character {ord(bad.group()):#04x} (binary data?)"
        )
    return text


def _parse_header_lines(
    lines: list[tuple[str, str]], max_header_bytes: int, *, compact: bool
) -> Headers:
    """Header fields from decoded lines ``(where, text)``, joining folded lines."""
    fields: list[tuple[str, str]] = []
    name: str | None = None
    parts: list[str] = []
    size = 0

    def flush() -> None:
        if name is not None:
            fields.append((name, " ".join(part for part in parts if part)))

    for where, text in lines:
        if text[:1] in (" ", "\t"):
            if name is None:
                raise SipParseError(f"{where} starts with white space but continues no header")
            parts.append(text.strip())
            size += len(text)
        else:
            flush()
            raw_name, colon, value = text.partition(":")
            raw_name = raw_name.rstrip(" \t")
            if not colon:
                raise SipParseError(f"{where} is not a header field (no colon): {_shown(text)}")
            if not raw_name or not all(ch in _TOKEN_CHARS for ch in raw_name):
                raise SipParseError(f"{where}: {_shown(raw_name)} is not a header name")
            name = canonical_name(raw_name) if compact else _KNOWN.get(raw_name.lower(), raw_name)
            parts = [value.strip()]
            size = len(text)
        if size > max_header_bytes:
            raise SipParseError(f"header {name} is longer than {max_header_bytes} bytes")
    flush()
    return Headers(tuple(fields))


# ---------------------------------------------------------------------------------------------
# The request


class _HeaderAccess:
    """``header()`` for the messages below (each has ``headers``)."""

    __slots__ = ()
    headers: Headers

    def header(self, name: str) -> str | None:
        """The value of the first header field called ``name`` (any case, compact names too)."""
        return self.headers.get(name)


@dataclass(frozen=True, slots=True)
class SipRequest(_HeaderAccess):
    """One SIP/2.0 request: request line, header fields and body (``Content-Length`` bytes)."""

    method: str
    request_uri: str
    headers: Headers
    body: bytes


@dataclass(frozen=True, slots=True)
class SipResponse(_HeaderAccess):
    """One SIP/2.0 response: status line, header fields and body (``Content-Length`` bytes)."""

    status: int
    reason: str
    headers: Headers
    body: bytes


SipMessage = SipRequest | SipResponse
"""What ``parse_message`` returns."""


def _check_status_line(text: str) -> tuple[int, str]:
    """(status code, reason phrase) of a status line ``SIP/2.0 200 OK``."""
    version, _, rest = text.partition(" ")
    code, _, reason = rest.strip().partition(" ")
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"the protocol is {_shown(version)}, not SIP/2.0")
    if len(code) != 3 or not code.isascii() or not code.isdigit() or not "1" <= code[0] <= "6":
        raise SipParseError(f"the status line {_shown(text)} has no status code (100-699)")
    return int(code), reason.strip()


def _check_start_line(text: str, max_header_bytes: int) -> tuple[str, str]:
    """(method, Request-URI) of a request line; a clear error for anything else."""
    if len(text) > max_header_bytes:
        raise SipParseError(f"the first line is longer than {max_header_bytes} bytes: not SIP")
    words = text.split()
    first = words[0].upper() if words else ""
    if first.startswith("SIP/"):
        raise SipParseError(f"this is a SIP response ({_shown(text)}), not a request")
    if first.startswith("HTTP/") or (len(words) == 3 and words[2].upper().startswith("HTTP/")):
        raise SipParseError(f"this is HTTP ({_shown(text)}), not SIP")
    if len(words) != 3:
        raise SipParseError(
            f"the first line is not a SIP request line (METHOD URI SIP/2.0): {_shown(text)}"
        )
    method, uri, version = words
    if version.upper() != "SIP/2.0":
        raise SipParseError(f"the protocol is {_shown(version)}, not SIP/2.0")
    if not all(ch in _TOKEN_CHARS for ch in method):
        raise SipParseError(f"{_shown(method)} is not a SIP method")
    scheme, colon, _ = uri.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise SipParseError(f"the Request-URI {_shown(uri)} is not a URI")
    return method, uri


def parse_request(
    data: bytes | str,
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_headers_bytes: int = MAX_HEADERS_BYTES,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> SipRequest:
    """Parse one SIP request as captured on the wire (CRLF or bare LF line ends).

    Raises ``SipParseError`` for anything that is not a well-framed SIP/2.0 request (a
    response included); see ``parse_message`` for what is read and tolerated.
    """
    message = _parse(data, max_header_bytes, max_headers_bytes, max_body_bytes, responses=False)
    assert isinstance(message, SipRequest)
    return message


def parse_message(
    data: bytes | str,
    *,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_headers_bytes: int = MAX_HEADERS_BYTES,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> SipMessage:
    """Parse one SIP request or response as captured on the wire (CRLF or bare LF line ends).

    Empty lines before the request line and a UTF-8 byte-order mark are skipped. The body is
    ``Content-Length`` bytes when that header is present (bytes beyond it are ignored, as
    RFC 3261 18.3 says for datagrams; fewer is an error: the request is truncated), else the
    rest of the input. One tolerance: in a file whose header lines all end with a bare LF (a
    capture whose line ends were converted), a body that is short of ``Content-Length`` only
    because its CRLFs became LFs is taken with CRLF line ends again.

    Raises ``SipParseError`` for anything that is not a well-framed SIP/2.0 message.
    """
    return _parse(data, max_header_bytes, max_headers_bytes, max_body_bytes, responses=True)


def _parse(
    data: bytes | str,
    max_header_bytes: int,
    max_headers_bytes: int,
    max_body_bytes: int,
    *,
    responses: bool,
) -> SipMessage:
    kind = "message" if responses else "request"
    if isinstance(data, str):
        try:
            raw = data.encode("utf-8")
        except UnicodeEncodeError:
            raise SipParseError("the text cannot be encoded as UTF-8 (lone surrogate)") from None
    else:
        raw = bytes(data)
    most = max_headers_bytes + 4 + max_body_bytes
    if len(raw) > most:
        raise SipParseError(
            f"{len(raw)} bytes is more than a SIP {kind} may have here ({most} bytes at most: "
            f"{max_headers_bytes} of headers, {max_body_bytes} of body)"
        )
    pos = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    while raw.startswith(b"\n", pos) or raw.startswith(b"\r\n", pos):
        pos += 1 if raw[pos] == 0x0A else 2
    if pos >= len(raw) or not raw[pos:].strip():
        raise SipParseError(f"the input is empty: no SIP {kind}")
    head_start = pos

    lines: list[tuple[str, str]] = []
    all_lf = True
    body_start = -1
    number = 0
    while True:
        end = raw.find(b"\n", pos)
        line = raw[pos:] if end < 0 else raw[pos:end]
        if end >= 0 and line.endswith(b"\r"):
            line = line[:-1]
            all_lf = False
        number += 1
        where = f"line {number}"
        if number == 1:
            if len(line) > max_header_bytes:
                raise SipParseError(
                    f"the first line is longer than {max_header_bytes} bytes: not SIP"
                )
            first_line = _decode_line(line, where)
            if responses and first_line[:4].upper() == "SIP/":
                status: tuple[int, str] | None = _check_status_line(first_line)
                method = uri = ""
            else:
                status = None
                method, uri = _check_start_line(first_line, max_header_bytes)
        elif line:
            if len(line) > max_header_bytes:
                name = line[:80].partition(b":")[0].decode("ascii", "replace").strip()
                raise SipParseError(
                    f"{where} (header {_shown(name, 40)}) is longer than {max_header_bytes} bytes"
                )
            lines.append((where, _decode_line(line, where)))
        if end < 0:
            if pos - head_start + len(line) > max_headers_bytes:
                raise SipParseError(f"the header section is larger than {max_headers_bytes} bytes")
            raise SipParseError(
                f"the header section does not end with an empty line: the {kind} is truncated"
            )
        if not line and number > 1:
            body_start = end + 1
            break
        pos = end + 1
        if pos - head_start > max_headers_bytes:
            raise SipParseError(f"the header section is larger than {max_headers_bytes} bytes")

    headers = _parse_header_lines(lines, max_header_bytes, compact=True)
    missing = [name for name in MANDATORY_HEADERS if name not in headers]
    if missing:
        what = "response" if status else "request"
        raise SipParseError(f"not a SIP {what}: no {', '.join(missing)} header")
    _check_cseq(headers.get("CSeq") or "", method or None)

    rest = raw[body_start:]
    if len(rest) > max_body_bytes:
        raise SipParseError(f"the body is larger than {max_body_bytes} bytes ({len(rest)})")
    body = rest
    lengths = {value.strip() for value in headers.get_all("Content-Length")}
    if len(lengths) > 1:
        raise SipParseError(f"conflicting Content-Length headers: {', '.join(sorted(lengths))}")
    if lengths:
        text = lengths.pop()
        if not text.isascii() or not text.isdigit() or len(text) > 10:
            raise SipParseError(f"Content-Length {_shown(text)} is not a number of bytes")
        announced = int(text)
        if announced > max_body_bytes:
            raise SipParseError(
                f"Content-Length {announced} is larger than the {max_body_bytes} bytes accepted"
            )
        if len(rest) < announced:
            converted = rest.replace(b"\n", b"\r\n")
            if all_lf and b"\r" not in rest and len(converted) >= announced:
                rest = converted
            else:
                raise SipParseError(
                    f"the body has {len(rest)} bytes but Content-Length announces {announced}: "
                    f"the {kind} is truncated"
                )
        body = rest[:announced]
    if status is not None:
        return SipResponse(status=status[0], reason=status[1], headers=headers, body=body)
    return SipRequest(method=method, request_uri=uri, headers=headers, body=body)


def cseq(message: SipMessage) -> tuple[int, str]:
    """(number, method) of the message's CSeq (checked when the message was parsed)."""
    number, method = (message.headers.get("CSeq") or "0 -").split()
    return int(number), method


def _check_cseq(value: str, method: str | None) -> None:
    """``number METHOD``; ``method`` is the request's (None for a response: any token)."""
    words = value.split()
    if len(words) != 2 or not words[0].isascii() or not words[0].isdigit():
        raise SipParseError(f"CSeq {_shown(value)} is not 'number METHOD'")
    if len(words[0]) > 10 or int(words[0]) >= 2**31:
        raise SipParseError(f"CSeq number {_shown(words[0])} is larger than 2**31 - 1")
    if method is None and not all(ch in _TOKEN_CHARS for ch in words[1]):
        raise SipParseError(f"the CSeq method {_shown(words[1])} is not a SIP method")
    if method is not None and words[1] != method:
        raise SipParseError(f"the CSeq method {words[1]} is not the request's method {method}")


_HEAD_END = re.compile(rb"\r?\n\r?\n")
_LENGTH_LINE = re.compile(
    rb"^(?:content-length|l)[ \t]*:[ \t]*([0-9]{1,10})[ \t]*\r?$", re.I | re.M
)


def frame_length(
    buffer: bytes | bytearray,
    start: int = 0,
    *,
    max_headers_bytes: int = MAX_HEADERS_BYTES,
    max_body_bytes: int = MAX_BODY_BYTES,
    missing_length: int | None = None,
) -> int | None:
    """How many bytes from ``start`` the next message of a stream takes (RFC 3261 18.3).

    The header section ends with an empty line; the body is ``Content-Length`` bytes, which a
    stream requires: without it the message cannot be framed, unless ``missing_length`` says
    what to take instead (a text capture written by hand: 0). Leading empty lines
    (keep-alives) count in the length. None when the buffer does not yet hold the whole
    message. Raises ``SipParseError`` when no message can be framed there (headers over the
    limit, no or a bad ``Content-Length``, a body over the limit): the stream must be resynced.
    """
    pos = start
    while buffer.startswith(b"\r\n", pos) or buffer.startswith(b"\n", pos):
        pos += 1 if buffer[pos] == 0x0A else 2
    end = _HEAD_END.search(buffer, pos, pos + max_headers_bytes + 4)
    if end is None:
        if len(buffer) - pos > max_headers_bytes:
            raise SipParseError(f"no end of the header section within {max_headers_bytes} bytes")
        return None
    head = buffer[pos : end.start() + 1]
    lengths = {int(m.group(1)) for m in _LENGTH_LINE.finditer(head)}
    if not lengths and missing_length is not None:
        lengths = {missing_length}
    if not lengths:
        raise SipParseError("a message in a stream without Content-Length cannot be framed")
    if len(lengths) > 1:
        raise SipParseError(f"conflicting Content-Length headers: {sorted(lengths)}")
    length = lengths.pop()
    if length > max_body_bytes:
        raise SipParseError(f"Content-Length {length} is larger than the {max_body_bytes} accepted")
    total = end.end() + length - start
    return total if len(buffer) - start >= total else None


# ---------------------------------------------------------------------------------------------
# URIs and addresses


@dataclass(frozen=True, slots=True)
class Uri:
    """A URI as far as SIP needs it. ``user`` is percent-decoded (``%23`` → ``#``) without
    telephone-subscriber parameters (``;phone-context=…``) or password; for ``tel:`` it is the
    number. ``host`` is lower-case, IPv6 without brackets; None for tel and other schemes."""

    raw: str
    scheme: str
    user: str | None
    host: str | None
    port: int | None
    params: Params


def _split_hostport(text: str) -> tuple[str, int | None]:
    """(host, port) of ``host[:port]`` or ``[IPv6][:port]``; IPv6 without brackets."""
    value = text.strip()
    if value.startswith("["):
        close = value.find("]")
        if close < 0:
            raise SipParseError(f"IPv6 address without ']' in {_shown(value)}")
        host, rest = value[1:close], value[close + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise SipParseError(f"{_shown(host)} is not an IPv6 address") from None
    elif value.count(":") > 1:
        raise SipParseError(f"IPv6 address not in brackets in {_shown(value)}")
    else:
        host, colon, port_text = value.partition(":")
        rest = colon + port_text
        if _HOSTNAME_RE.fullmatch(host) is None:
            raise SipParseError(f"{_shown(host)} is not a host name or address")
    port: int | None = None
    if rest:
        digits = rest[1:].strip()
        if not rest.startswith(":") or not digits.isascii() or not digits.isdigit():
            raise SipParseError(f"{_shown(value)} is not host:port")
        if len(digits) > 5 or int(digits) > 65535:
            raise SipParseError(f"port {digits} is out of range in {_shown(value)}")
        port = int(digits)
    return host.lower(), port


def parse_uri(text: str) -> Uri:
    """Parse a ``sip:``, ``sips:`` or ``tel:`` URI; other schemes keep only scheme and text."""
    value = text.strip()
    scheme, colon, rest = value.partition(":")
    if not colon or _SCHEME_RE.fullmatch(scheme) is None:
        raise SipParseError(f"{_shown(value)} is not a URI")
    scheme = scheme.lower()
    if scheme in ("sip", "sips"):
        user: str | None = None
        at = rest.find("@")
        if at >= 0:
            userinfo, rest = rest[:at], rest[at + 1 :]
            user = unquote(userinfo.split(";", 1)[0].split(":", 1)[0]) or None
        rest = rest.partition("?")[0]
        segments = rest.split(";")
        host, port = _split_hostport(segments[0])
        return Uri(value, scheme, user, host, port, _parse_params(segments[1:]))
    if scheme == "tel":
        segments = rest.split(";")
        number = unquote(segments[0].strip())
        if not number:
            raise SipParseError(f"{_shown(value)} has no number")
        return Uri(value, scheme, number, None, None, _parse_params(segments[1:]))
    return Uri(value, scheme, None, None, None, Params())


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``"Display" <uri>;params`` or ``uri;params`` (From, To, Contact, P-Asserted-Identity …)."""

    display_name: str | None
    uri: Uri
    params: Params


def parse_name_addr(text: str) -> NameAddr:
    """Parse a name-addr or addr-spec with its header parameters.

    In the addr-spec form (no ``<…>``), everything after the first ``;`` is a header
    parameter, as RFC 3261 20.10 says.
    """
    value = text.strip()
    if not value:
        raise SipParseError("empty address")
    open_at = _find_outside_quotes(value, "<")
    if open_at >= 0:
        close = value.find(">", open_at)
        if close < 0:
            raise SipParseError(f"'<' without its '>' in {_shown(value)}")
        display = value[:open_at].strip()
        uri_text = value[open_at + 1 : close].strip()
        rest = value[close + 1 :].strip()
        if rest and not rest.startswith(";"):
            raise SipParseError(f"unexpected text after '>' in {_shown(value)}")
        params = _parse_params(_split_top(rest[1:], ";")) if rest else Params()
        if display.startswith('"'):
            if len(display) < 2 or not display.endswith('"'):
                raise SipParseError(f"unterminated quoted display name in {_shown(value)}")
            name: str | None = unquote_string(display)
        else:
            name = " ".join(display.split()) or None
    else:
        segments = _split_top(value, ";")
        uri_text = segments[0].strip()
        params = _parse_params(segments[1:])
        name = None
    if not uri_text:
        raise SipParseError(f"no URI in {_shown(value)}")
    return NameAddr(name, parse_uri(uri_text), params)


def tag_of(value: str) -> str | None:
    """The ``tag`` parameter of a From or To value (what dialogs are matched on).

    A fast path for values without quoted strings (the header parameters follow the ``>``, or
    the first ``;`` of an addr-spec); anything else is read by ``parse_name_addr`` (which
    raises ``SipParseError`` on a malformed value).
    """
    if '"' in value:
        return parse_name_addr(value).params.get("tag")
    close = value.rfind(">")
    params = value[close + 1 :] if close >= 0 else value.partition(";")[2]
    for param in params.split(";"):
        name, eq, tag = param.partition("=")
        if eq and name.strip().lower() == "tag":
            return tag.strip() or None
    return None


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/<transport> <host>[:<port>];params``."""

    transport: str
    host: str
    port: int | None
    params: Params

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (brackets removed), or None; not checked to be an address."""
        value = (self.params.get("received") or "").strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        return value or None

    @property
    def source_host(self) -> str:
        """Where the request came from: ``received`` if present, else the sent-by host."""
        return self.received or self.host


def parse_via(text: str) -> Via:
    """Parse one Via value (white space around ``/`` and ``:`` allowed, RFC 3261 25.1)."""
    segments = _split_top(text, ";")
    words = segments[0].replace("/", " / ").split()
    if len(words) < 6 or words[1] != "/" or words[3] != "/":
        raise SipParseError(f"{_shown(text)} is not a Via value (SIP/2.0/UDP host:port;…)")
    if words[0].upper() != "SIP" or words[2] != "2.0":
        raise SipParseError(f"the Via {_shown(text)} is not SIP/2.0")
    sent_by = words[5:]
    for before, after in pairwise(sent_by):
        if not before.endswith(":") and not after.startswith(":"):
            raise SipParseError(f"unexpected text after the sent-by in the Via {_shown(text)}")
    host, port = _split_hostport("".join(sent_by))
    return Via(words[4].upper(), host, port, _parse_params(segments[1:]))


# ---------------------------------------------------------------------------------------------
# What callctl reads from a request


def request_uri_user(request: SipRequest) -> str | None:
    """The dialled number: the Request-URI's user, percent-decoded (``%2331%23112`` → ``#31#112``).

    None when the URI has no user part (``sip:host``, ``urn:service:sos``).
    """
    return parse_uri(request.request_uri).user


def line_user(request: SipRequest) -> str | None:
    """The calling line: the user of the first P-Asserted-Identity that has one, else of From."""
    for value in request.headers.get_list("P-Asserted-Identity"):
        user = parse_name_addr(value).uri.user
        if user:
            return user
    from_value = request.headers.get("From")
    return None if from_value is None else parse_name_addr(from_value).uri.user


def top_via(request: SipRequest) -> Via | None:
    """The first value of the first Via header (the hop that sent the request)."""
    values = request.headers.get_list("Via")
    return parse_via(values[0]) if values else None


def source_host(request: SipRequest) -> str | None:
    """The top Via's ``received`` parameter, else its sent-by host (may be a host name)."""
    via = top_via(request)
    return None if via is None else via.source_host


def sip_instance(request: SipRequest) -> str | None:
    """The first Contact's ``+sip.instance`` (RFC 5626), quotes and ``<>`` removed."""
    for value in request.headers.get_list("Contact"):
        if value == "*":
            continue
        instance = (parse_name_addr(value).params.get("+sip.instance") or "").strip()
        if instance.startswith("<") and instance.endswith(">"):
            instance = instance[1:-1].strip()
        if instance:
            return instance
    return None


def x_device_id(request: SipRequest) -> str | None:
    """The ``X-Device-Id`` header, stripped; None if absent or empty."""
    return (request.headers.get("X-Device-Id") or "").strip() or None


def device_id(request: SipRequest) -> str | None:
    """The device identity (issue 4): Contact's ``+sip.instance``, else ``X-Device-Id``."""
    return sip_instance(request) or x_device_id(request)


def device_type(request: SipRequest) -> DeviceType:
    """``X-Device-Type``: ``desktop`` or ``mobile`` (any case); anything else or absent: unknown."""
    value = (request.headers.get("X-Device-Type") or "").strip().lower()
    if value == "desktop":
        return "desktop"
    if value == "mobile":
        return "mobile"
    return "unknown"


@dataclass(frozen=True, slots=True)
class Geolocation:
    """RFC 6442: the ``Geolocation`` references and the ``Geolocation-Routing`` value."""

    refs: tuple[str, ...]
    """Every location URI in order (``cid:…`` for a body part, or a location-by-reference URI)."""

    routing: str | None
    """``Geolocation-Routing`` lower-cased (``yes``, ``no`` or another value), None if absent."""

    @property
    def cid_refs(self) -> tuple[str, ...]:
        """The ``cid:`` references (location by value, in the body)."""
        return tuple(ref for ref in self.refs if ref[:4].lower() == "cid:")

    @property
    def routing_allowed(self) -> bool:
        """Whether the location may be used for routing: only ``Geolocation-Routing: yes``.

        RFC 6442 4.2: absent means no.
        """
        return self.routing == "yes"


def geolocation(request: SipRequest) -> Geolocation | None:
    """The RFC 6442 headers; None if the request has neither Geolocation nor its routing header."""
    values = request.headers.get_list("Geolocation")
    routing = request.headers.get("Geolocation-Routing")
    if not values and routing is None:
        return None
    refs = tuple(parse_name_addr(value).uri.raw for value in values)
    return Geolocation(refs, None if routing is None else routing.strip().lower())


_CELL_ID_PARAMS = ("utran-cell-id-3gpp", "cgi-3gpp", "utran-sai-3gpp")


@dataclass(frozen=True, slots=True)
class AccessNetworkInfo:
    """One ``P-Access-Network-Info`` value (RFC 7315, 3GPP TS 24.229 7.2A.4)."""

    access_type: str
    """As written, e.g. ``3GPP-E-UTRAN-FDD``, ``3GPP-NR-FDD``, ``IEEE-802.11``."""

    params: Params

    @property
    def is_3gpp(self) -> bool:
        """A 3GPP mobile access (``3GPP-…``)."""
        return self.access_type.upper().startswith("3GPP-")

    @property
    def is_wifi(self) -> bool:
        """A Wi-Fi access (``IEEE-802.11…``)."""
        return self.access_type.upper().startswith("IEEE-802.11")

    @property
    def network_provided(self) -> bool:
        """Inserted by the network (``;network-provided``) rather than by the device."""
        return "network-provided" in self.params

    @property
    def cell_id(self) -> str | None:
        """The cell id: ``utran-cell-id-3gpp``, else ``cgi-3gpp``, else ``utran-sai-3gpp``."""
        for name in _CELL_ID_PARAMS:
            value = (self.params.get(name) or "").strip()
            if value:
                return value
        return None

    @property
    def mcc(self) -> str | None:
        """The mobile country code: the cell id's first three digits (206 is Belgium)."""
        cell = self.cell_id
        if cell is None or len(cell) < 5 or not cell[:3].isascii() or not cell[:3].isdigit():
            return None
        return cell[:3]


def access_network_infos(request: SipRequest) -> tuple[AccessNetworkInfo, ...]:
    """Every ``P-Access-Network-Info`` value, in order."""
    infos: list[AccessNetworkInfo] = []
    for value in request.headers.get_list("P-Access-Network-Info"):
        segments = _split_top(value, ";")
        access_type = unquote_string(segments[0].strip())
        if not access_type:
            raise SipParseError(f"P-Access-Network-Info {_shown(value)} has no access type")
        infos.append(AccessNetworkInfo(access_type, _parse_params(segments[1:])))
    return tuple(infos)


def access_network_info(request: SipRequest) -> AccessNetworkInfo | None:
    """The ``P-Access-Network-Info`` to use: the network-provided one if any, else the first."""
    infos = access_network_infos(request)
    for info in infos:
        if info.network_provided:
            return info
    return infos[0] if infos else None


# ---------------------------------------------------------------------------------------------
# Body parts


def parse_content_type(value: str) -> tuple[str, Params]:
    """(``type/subtype`` lower-cased, parameters) of a Content-Type value."""
    segments = _split_top(value, ";")
    media = segments[0].strip().lower()
    kind, slash, subtype = media.partition("/")
    if not slash or not kind or not subtype or not all(ch in _TOKEN_CHARS for ch in kind + subtype):
        raise SipParseError(f"Content-Type {_shown(value)} is not type/subtype")
    return media, _parse_params(segments[1:])


@dataclass(frozen=True, slots=True)
class BodyPart:
    """One part of a body: its MIME headers (``Content-…``) and its (decoded) content."""

    headers: Headers
    body: bytes

    @property
    def content_type(self) -> str | None:
        """The media type lower-cased without parameters (``application/pidf+xml``), or None."""
        value = self.headers.get("Content-Type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower() or None

    @property
    def content_id(self) -> str | None:
        """``Content-ID`` without its angle brackets, or None."""
        value = (self.headers.get("Content-ID") or "").strip()
        if value.startswith("<") and value.endswith(">"):
            value = value[1:-1].strip()
        return value or None


def _decode_transfer(content: bytes, encoding: str | None, where: str) -> bytes:
    name = (encoding or "binary").strip().lower()
    if name in ("binary", "7bit", "8bit"):
        return content
    if name == "base64":
        try:
            return binascii.a2b_base64(content)
        except (binascii.Error, ValueError):
            raise SipParseError(f"{where} is not valid base64") from None
    if name == "quoted-printable":
        return binascii.a2b_qp(content)
    raise SipParseError(f"{where} has an unknown Content-Transfer-Encoding {_shown(name)}")


def _parse_part(content: bytes, where: str) -> BodyPart:
    lines: list[tuple[str, str]] = []
    pos = 0
    body = b""
    number = 0
    while pos < len(content):
        end = content.find(b"\n", pos)
        line = content[pos:] if end < 0 else content[pos:end]
        if end >= 0 and line.endswith(b"\r"):
            line = line[:-1]
        number += 1
        if not line:
            body = content[end + 1 :] if end >= 0 else b""
            break
        if len(line) > MAX_HEADER_BYTES:
            raise SipParseError(f"{where}, line {number} is longer than {MAX_HEADER_BYTES} bytes")
        lines.append((f"{where}, line {number}", _decode_line(line, f"{where}, line {number}")))
        if end < 0:
            break
        pos = end + 1
    headers = _parse_header_lines(lines, MAX_HEADER_BYTES, compact=False)
    body = _decode_transfer(body, headers.get("Content-Transfer-Encoding"), where)
    return BodyPart(headers, body)


def _split_multipart(body: bytes, boundary: str) -> tuple[BodyPart, ...]:
    """RFC 2046 5.1.1: the parts between ``--boundary`` lines, up to ``--boundary--``."""
    delimiter = b"--" + boundary.encode("utf-8")
    marks: list[tuple[int, int, bool]] = []  # (line start, content start after it, closing)
    search = 0
    while True:
        at = body.find(delimiter, search)
        if at < 0:
            break
        search = at + 1
        if at > 0 and body[at - 1] != 0x0A:
            continue
        after = at + len(delimiter)
        closing = body.startswith(b"--", after)
        end = after + 2 if closing else after
        while end < len(body) and body[end] in (0x20, 0x09):  # transport padding
            end += 1
        if body.startswith(b"\r\n", end):
            end += 2
        elif body.startswith(b"\n", end):
            end += 1
        elif end < len(body):
            continue  # the boundary text inside a line: not a delimiter
        marks.append((at, end, closing))
        if closing:
            break
        if len(marks) > MAX_BODY_PARTS:
            raise SipParseError(f"the multipart body has more than {MAX_BODY_PARTS} parts")
    if not marks:
        raise SipParseError(f"the multipart body has no boundary line --{boundary}")
    if not marks[-1][2]:
        raise SipParseError(f"the multipart body has no closing boundary line --{boundary}--")
    parts: list[BodyPart] = []
    for index, ((_, start, _), (stop, _, _)) in enumerate(pairwise(marks), start=1):
        content = body[start:stop] if stop >= start else b""
        if content.endswith(b"\r\n"):
            content = content[:-2]
        elif content.endswith(b"\n"):
            content = content[:-1]
        parts.append(_parse_part(content, f"body part {index}"))
    return tuple(parts)


def body_parts(request: SipRequest) -> tuple[BodyPart, ...]:
    """The body as parts: the parts of a ``multipart/*`` body (not recursing into nested ones),
    else the whole body as one part with the request's ``Content-…`` headers; () if no body.

    Raises ``SipParseError`` for a malformed Content-Type or multipart body.
    """
    if not request.body:
        return ()
    value = request.headers.get("Content-Type")
    media, params = parse_content_type(value) if value is not None else ("", Params())
    if not media.startswith("multipart/"):
        fields = tuple(
            (name, text)
            for name, text in request.headers.fields
            if name.lower().startswith("content-")
        )
        return (BodyPart(Headers(fields), request.body),)
    boundary = params.get("boundary")
    if not boundary:
        raise SipParseError(f"the {media} body has no boundary parameter in its Content-Type")
    if len(boundary) > 70:
        raise SipParseError("the multipart boundary is longer than 70 characters (RFC 2046)")
    return _split_multipart(request.body, boundary)


def content_id_of(cid_uri: str) -> str:
    """The Content-ID a ``cid:`` URI names (RFC 2392: percent-decoded, without ``cid:``)."""
    value = cid_uri.strip()
    if value[:4].lower() == "cid:":
        value = value[4:]
    return unquote(value).strip()


def find_part(request: SipRequest, cid_uri: str) -> BodyPart | None:
    """The body part whose Content-ID a ``cid:`` URI names, or None."""
    wanted = content_id_of(cid_uri)
    for part in body_parts(request):
        if part.content_id == wanted:
            return part
    return None


PIDF_MEDIA_TYPE = "application/pidf+xml"


def pidf_part(request: SipRequest) -> BodyPart | None:
    """The ``application/pidf+xml`` part that a ``Geolocation: <cid:…>`` reference names.

    None when the request makes no ``cid:`` reference (no location by value). Raises
    ``SipParseError`` saying what is wrong when it makes one that leads nowhere: no part with
    that Content-ID, a part of another type, or a malformed body. ``Geolocation-Routing`` is not
    looked at here (see ``Geolocation.routing_allowed``).
    """
    geo = geolocation(request)
    if geo is None or not geo.cid_refs:
        return None
    problems: list[str] = []
    for ref in geo.cid_refs:
        part = find_part(request, ref)
        if part is None:
            problems.append(f"Geolocation refers to {ref} but no body part has that Content-ID")
        elif part.content_type != PIDF_MEDIA_TYPE:
            problems.append(
                f"Geolocation refers to {ref}, a {part.content_type or 'untyped'} part, "
                f"not {PIDF_MEDIA_TYPE}"
            )
        else:
            return part
    raise SipParseError("; ".join(problems))
