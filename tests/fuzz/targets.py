"""The fuzzed parsers, each with the only error type it may raise on bad input.

- ``agi``: ``EnvironmentParser.feed`` in two chunks, every ``AgiEnvironment`` accessor,
  ``format_command`` of the values (its documented ``ValueError`` only), ``ReplyParser.feed``
  of what follows, ``parse_environment``, ``parse_reply``: ``AgiError``;
- ``dialstring``: the classifier (R2, never raises) and ``parse_dial_string`` (R1):
  ``DialError``;
- ``sip``: ``parse_request``, every reader (``line_user`` … ``pidf_part``, ``parse_pidf`` of
  the part) and ``device_context`` (never raises): ``SipParseError`` (``LocationError`` for
  the document);
- ``pidf``: ``parse_pidf``: ``LocationError``;
- ``eprofile``: ``location_from_profile`` (Asterisk's ``GEOLOC_PROFILE``): ``LocationError``;
- ``csv``: ``read_calls_from`` then ``rate_rows``, all of ``callctl rate`` but opening the
  file: ``CallsFileError``;
- ``yaml``: ``parse_lines_yaml`` (``callctl lines import``): ``LinesFileError``.

Text targets decode the bytes the way their caller does: the AGI and SIP parsers take bytes,
the CSV is read as ``utf-8-sig`` (a decoding error is the loader's own error), and the lines
file and dial strings are decoded with ``surrogateescape`` so that any ``str`` a caller could
pass is reachable (``callctl classify`` receives undecodable argv bytes that way).
"""

from __future__ import annotations

import contextlib
import io
from functools import cache
from zoneinfo import ZoneInfo

from callctl.agi.protocol import (
    AgiError,
    EnvironmentParser,
    ReplyParser,
    format_command,
    parse_environment,
    parse_reply,
)
from callctl.cli.calls_csv import CallsFileError, read_calls_from
from callctl.cli.rate_report import rate_rows
from callctl.core.classify import Classifier
from callctl.core.dialstring import DialError, parse_dial_string
from callctl.core.tariff import Tariff
from callctl.data import default_tariff
from callctl.sip import LocationError, SipParseError, parse_pidf, parse_request
from callctl.sip.context import device_context
from callctl.sip.eprofile import location_from_profile
from callctl.store.lines_yaml import LinesFileError, parse_lines_yaml
from tests.fuzz import generators as gen
from tests.fuzz.engine import Target
from tests.test_sip_message import exercise


@cache
def tariff() -> Tariff:
    """The shipped tariff (loaded once)."""
    return default_tariff()


@cache
def classifier() -> Classifier:
    """The shipped classifier, without its cache growing with every fuzzed input."""
    return Classifier(tariff().numbering)


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


# ---------------------------------------------------------------------------------------------


def run_agi(data: bytes) -> None:
    """The environment fed in two chunks, every accessor, then the rest as replies."""
    cut = data[0] % (len(data) + 1) if data else 0
    parser = EnvironmentParser()
    env = parser.feed(data[:cut]) or parser.feed(data[cut:])
    if env is not None:
        for _ in (env.script, env.query_string, env.query, env.args, env.request, env.uniqueid):
            pass
        for key in env:  # lookups without the prefix, unless that is itself a key's spelling
            short = key.removeprefix("agi_")
            assert short.startswith("agi_") or env.get(short) == env[key]
        for value in list(env.values())[:4]:
            with contextlib.suppress(ValueError):  # documented: a value that cannot be sent
                format_command("SET VARIABLE", "X", value)
        ReplyParser().feed(parser.remainder)
    with contextlib.suppress(AgiError):
        parse_environment(data)
    parse_reply(data.partition(b"\n")[2][:200])


def run_dialstring(data: bytes) -> None:
    """R1 then R2: the classifier must answer every string."""
    text = _text(data)
    result = classifier().classify(text)
    assert result.group
    parse_dial_string(text, tariff().numbering)


def run_sip(data: bytes) -> None:
    """The request, every reader, and the device context R9 reads (never raises)."""
    request = parse_request(data)
    exercise(request)
    device_context(request)


def run_pidf(data: bytes) -> None:
    """A location document from the caller's device."""
    location = parse_pidf(data)
    assert location.latitude is None or -90 <= location.latitude <= 90
    assert location.longitude is None or -180 <= location.longitude <= 180


def run_eprofile(data: bytes) -> None:
    """``format`` and ``location_info`` separated by the first NUL."""
    format_, _, info = _text(data).partition("\x00")
    location_from_profile(format_, info)


RATING_S_PER_DAY = 40e-6
"""CPU time allowed per billed day: R3 walks the band boundaries of a call (two or three a
day), so rating is linear in its length; the longest ``billsec`` read (999 999 999 s, 31
years) takes about 0.2 s. Measured at about 17 µs a day; the allowance is twice that."""


def run_csv(data: bytes) -> float:
    """``callctl rate --product classic`` without the file: read, classify, rate, print."""
    handle = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline="")
    rows = read_calls_from(handle, "calls.csv", ZoneInfo(tariff().timezone))
    plan = tariff().plan("classic", [])
    rate_rows(rows, tariff(), plan, as_json=len(data) % 2 == 0, out=io.StringIO())
    return sum(row.billsec for row in rows) / 86_400 * RATING_S_PER_DAY


def run_yaml(data: bytes) -> None:
    """``callctl lines import`` without the database."""
    parse_lines_yaml(_text(data), tariff())


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("agi", run_agi, (AgiError,), gen.agi, gen.agi_seeds,
               (b"agi_", b": ", b"\n\n", b"200 result=", b"520-", b"520 ", b"HANGUP\n", b"?",
                b"agi://", b"[")),
        Target("dialstring", run_dialstring, (DialError,), gen.dialstring, gen.dialstring_seeds,
               (b"#31#", b"*31#", b"+", b"00", b"tel:", b"sip:", b"@", b"%23"), max_len=512),
        Target("sip", run_sip, (SipParseError,), gen.sip, gen.sip_seeds,
               (b"\r\n", b"\r\n\r\n", b": ", b";", b"<", b">", b'"', b"--", b"boundary=",
                b"Content-Length: ", b"cid:", b"multipart/mixed", b"base64"), max_len=16384),
        Target("pidf", run_pidf, (LocationError,), gen.pidf, gen.pidf_seeds,
               (b"<", b">", b"</", b"/>", b'="', b"gml:pos", b"srsName", b"<!DOCTYPE", b"&",
                b"xmlns:")),
        Target("eprofile", run_eprofile, (LocationError,), gen.eprofile, gen.eprofile_seeds,
               (b'="', b'",', b"\x00", b"pos", b"crs"), max_len=6000),
        Target("csv", run_csv, (CallsFileError,), gen.calls_csv, gen.calls_seeds,
               (b",", b'"', b"\r\n", b"T", b"+01:00", b"\xef\xbb\xbf", b"999999999")),
        Target("yaml", run_yaml, (LinesFileError,), gen.lines_yaml, gen.yaml_seeds,
               (b"\n  - ", b": ", b"[", b"{", b"&a ", b"*a", b"!!", b"'", b"- ", b"<<: ")),
    )
}  # fmt: skip
