"""Structure-aware generators of near-valid inputs, one per fuzzed format (``random.Random``).

Each builds an input the way the real producer would (res_agi, a SIP phone, a PIDF-LO
encoder, Asterisk's ``GEOLOC_PROFILE``, a person editing a CSV or YAML file) and then bends
one or several of its parts: a value of the wrong kind, a delimiter too many or missing, an
extreme number, a length at a limit, a hostile construct (DTD, YAML aliases, deep nesting).
They are plain ``random.Random`` functions so that the runner can draw a million inputs
quickly; the pytest harness drives them from Hypothesis with ``st.randoms()``.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from callctl.sip import SipParseError, parse_request, pidf_part

ROOT = Path(__file__).resolve().parents[2]
INVITES = ROOT / "tests" / "invites"


def pick(rnd: random.Random, items: Sequence[str]) -> str:
    """One of ``items``."""
    return items[rnd.randrange(len(items))]


def odd_text(rnd: random.Random, pieces: Sequence[str], most: int = 12) -> str:
    """Up to ``most`` pieces glued together (the pieces carry the format's delimiters)."""
    return "".join(pick(rnd, pieces) for _ in range(rnd.randrange(most + 1)))


_NUMBERS = ("0", "1", "-1", "50.8467", "4.3525", "90", "-180.0", "180.0000001", "1e308", "1e999",
            "-0", ".5", "5.", "+.5", "nan", "inf", "-inf", "0x10", "1,5", "", " ", "٣", "１",
            "99999999999999999999999999999999999999999", "1e-400", "35", "65535", "2147483648",
            "00", "1_000")  # fmt: skip


def odd_number(rnd: random.Random) -> str:
    """A number as text: plain, extreme, non-finite or not a number at all."""
    if rnd.random() < 0.3:
        return repr(rnd.uniform(-400, 400))
    return pick(rnd, _NUMBERS)


# ---------------------------------------------------------------------------------------------
# AGI

_ENV_KEYS = ("agi_network", "agi_network_script", "agi_request", "agi_channel", "agi_language",
             "agi_type", "agi_uniqueid", "agi_version", "agi_callerid", "agi_calleridname",
             "agi_callingpres", "agi_dnid", "agi_rdnis", "agi_context", "agi_extension",
             "agi_priority", "agi_enhanced", "agi_accountcode", "agi_threadid", "agi_arg_1",
             "agi_arg_2", "agi_arg_3", "agi_arg_10", "agi_arg_0", "agi_arg_x")  # fmt: skip
_AGI_PIECES = ("route", "hangup", "?", "&", "=", "%", "%zz", "%41", "/", "//", "agi://", "[",
               "]", "::1", "127.0.0.1", ":4573", "#", ";", " ", ":", "\t", "é", "\ufffd", "x",
               "eA==", "====", "PJSIP/alice-00000001", "unknown", "0", "+3222345601")  # fmt: skip
_REPLIES = ("200 result=1", "200 result=0", "200 result=-1 (timeout)", "200 result=1 (x) endpos=42",
            "200 result=", "200 result=1 (unclosed", "200 result=1 endpos", "510 Invalid command",
            "511 Command Not Permitted on a dead channel", "520 Invalid command syntax.",
            "520-Invalid command syntax.  Proper usage follows:", "Usage: SET VARIABLE",
            "520 End of proper usage.", "HANGUP", "", "200", "200 result=1 (a (b) c)",
            "200 result=99999999999999999999")  # fmt: skip


def agi_environment(rnd: random.Random) -> list[str]:
    """The lines of an environment block in res_agi's order, some of them bent."""
    script = odd_text(rnd, _AGI_PIECES, 6) if rnd.random() < 0.5 else "route?x=1"
    lines = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:4573/{odd_text(rnd, _AGI_PIECES, 6)}",
        "agi_channel: PJSIP/alice-00000001",
        "agi_uniqueid: 1732612345.17",
        "agi_callerid: +3222345601",
        "agi_dnid: 112",
        *(f"agi_arg_{i}: {odd_text(rnd, _AGI_PIECES, 5)}" for i in range(1, rnd.randrange(8))),
    ]
    for _ in range(rnd.randrange(4)):
        edit = rnd.randrange(5)
        at = rnd.randrange(len(lines))
        if edit == 0:
            del lines[at]
        elif edit == 1:
            lines.insert(at, f"{pick(rnd, _ENV_KEYS)}: {odd_text(rnd, _AGI_PIECES)}")
        elif edit == 2:
            lines.insert(at, lines[at])  # a repeated key
        elif edit == 3:
            lines[at] = odd_text(rnd, _AGI_PIECES, 8)
        else:
            lines[at] = lines[at].replace(": ", pick(rnd, (":", ":  ", " : ", "")), 1)
    return lines


def agi(rnd: random.Random) -> bytes:
    """An environment block, its blank line, then replies and HANGUPs as res_agi writes them."""
    lines = agi_environment(rnd)
    if rnd.random() < 0.9:
        lines.append("")
    for _ in range(rnd.randrange(6)):
        lines.append(pick(rnd, _REPLIES) if rnd.random() < 0.8 else odd_text(rnd, _AGI_PIECES))
    end = pick(rnd, ("\n", "\n", "\r\n", "\r"))
    text = end.join(lines) + (end if rnd.random() < 0.9 else "")
    if rnd.random() < 0.05:
        text += "x" * rnd.choice((8191, 8192, 8193, 20000))
    return text.encode("utf-8", "surrogatepass")


def agi_seeds() -> list[bytes]:
    """A complete res_agi block with replies."""
    rnd = random.Random(0)
    return [agi(rnd) for _ in range(8)]


# ---------------------------------------------------------------------------------------------
# Dial strings (R1)

_DIAL_PIECES = ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "00", "+", "+32", "0032", "02",
                "0470", "0800", "0900", "070", "112", "101", "1307", "#31#", "*31#", " ", "-",
                ".", "/", "(", ")", "\t", "\u00a0", "tel:", "sip:", "sips:", "SIP:", "@", "@pbx",
                ";user=phone", ";phone-context=+32", "%23", "%2B", "%", "%zz", "A", "FLOWERS",
                "١", "１", "²", "\u200b", "*", "#", ",", "p", "w", "\x00", "é", "\udcff",
                "::")  # fmt: skip


def dialstring(rnd: random.Random) -> bytes:
    """What a caller types or a PBX passes: prefixes, separators, URIs, letters, odd digits."""
    text = odd_text(rnd, _DIAL_PIECES, 16)
    if rnd.random() < 0.05:
        text = pick(rnd, ("0", "+", " ", "#31#")) * rnd.choice((30, 31, 32, 200, 5000)) + text
    return text.encode("utf-8", "surrogateescape")


def dialstring_seeds() -> list[bytes]:
    """Real dial strings of every R1 form."""
    return [s.encode() for s in ("02 234 56 78", "+33 1 42 68 53 00", "#31#112", "0800-FLOWERS",
            "0903/12.34.5", "tel:+3222345601", "sip:%2331%23112@pbx.example.net", "(+32) 2 ...",
            "*31#0032 470 12 34 56", "sips:0470123456@h;user=phone", "")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# PIDF-LO

_NS = {
    "pidf": "urn:ietf:params:xml:ns:pidf",
    "gp": "urn:ietf:params:xml:ns:pidf:geopriv10",
    "gml": "http://www.opengis.net/gml",
    "gs": "http://www.opengis.net/pidflo/1.0",
    "ca": "urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr",
    "cl": "urn:ietf:params:xml:ns:pidf:geopriv10:civicLoc",
    "dm": "urn:ietf:params:xml:ns:pidf:data-model",
}
_SRS = ("urn:ogc:def:crs:EPSG::4326", "urn:ogc:def:crs:EPSG::4979",
        "urn:opengis:def:crs:EPSG::4326", "EPSG:4326", "urn:ogc:def:crs:EPSG::3857", "",
        " urn:ogc:def:crs:EPSG::4326 ")  # fmt: skip
_UOM = ("urn:ogc:def:uom:EPSG::9001", "m", "", "urn:ogc:def:uom:EPSG::9002")
_SHAPES = ("gml:Point", "gs:Circle", "gml:Circle", "gs:Polygon", "gml:Polygon", "gs:Ellipse",
           "gs:ArcBand", "gs:Sphere", "gml:Surface")  # fmt: skip
_PROLOGS = ('<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="utf-16"?>',
            '<?xml version="1.0" encoding="latin-1"?>', '<?xml version="1.0" encoding="x-bogus"?>',
            '<?xml version="1.1"?>', '<!DOCTYPE presence [<!ENTITY a "aaaa">]>',
            '<!DOCTYPE presence SYSTEM "http://example.net/x.dtd">', "\ufeff", "", "<!-- c -->",
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>')  # fmt: skip
_XML_JUNK = ("&a;", "&amp;", "&#0;", "&#x110000;", "<![CDATA[50 4]]>", "<!-- -->", "<?pi x?>",
             "<", ">", "&", '"', "'", "\x00", "é", "\udcff", "</gml:pos>", "<gml:pos>")  # fmt: skip


_CIVIC_VALUES = ("BE", "be", "FR", "BEL", "", " B E ", "1000", "Namur", "&amp;", "&a;")


def _civic(rnd: random.Random, prefix: str) -> str:
    fields = ("country", "A1", "A3", "PC", "RD", "HNO", "NAM")
    inner = "".join(
        f"<{prefix}:{name}>{pick(rnd, _CIVIC_VALUES)}</{prefix}:{name}>"
        for name in fields
        if rnd.random() < 0.5
    )
    return f"<{prefix}:civicAddress>{inner}</{prefix}:civicAddress>"


def _shape(rnd: random.Random) -> str:
    tag = pick(rnd, _SHAPES)
    numbers = " ".join(odd_number(rnd) for _ in range(rnd.choice((2, 2, 2, 3, 1, 0, 4))))
    srs = f' srsName="{pick(rnd, _SRS)}"' if rnd.random() < 0.9 else ""
    radius = (
        f'<{pick(rnd, ("gs", "gml"))}:radius uom="{pick(rnd, _UOM)}">{odd_number(rnd)}'
        f"</{pick(rnd, ('gs', 'gml'))}:radius>"
        if rnd.random() < 0.7
        else ""
    )
    return f"<{tag}{srs}><gml:pos>{numbers}</gml:pos>{radius}</{tag}>"


def pidf(rnd: random.Random) -> bytes:
    """A PIDF-LO document: shapes, civic addresses, methods, prologs and XML oddities."""
    infos = []
    for _ in range(rnd.choice((1, 1, 2, 0, 3))):
        parts = [_shape(rnd) if rnd.random() < 0.6 else "" for _ in range(rnd.choice((1, 2)))]
        if rnd.random() < 0.4:
            parts.append(_civic(rnd, pick(rnd, ("ca", "cl"))))
        infos.append(f"<gp:location-info>{''.join(parts)}</gp:location-info>")
    method = f"<gp:method>{pick(rnd, ('GPS', 'Cell', '&a;', '', ' Wi fi '))}</gp:method>"
    holder = pick(rnd, ("tuple", "dm:device", "dm:person", "status"))
    body = (
        f"<{holder} id='x'><gp:geopriv>{''.join(infos)}<gp:usage-rules/>"
        f"{method if rnd.random() < 0.5 else ''}</gp:geopriv></{holder}>"
    )
    if rnd.random() < 0.05:
        depth = rnd.choice((100, 1000, 5000))
        body = "<dm:x>" * depth + body + "</dm:x>" * depth
    namespaces = " ".join(
        f'xmlns:{prefix}="{uri}"' for prefix, uri in _NS.items() if rnd.random() < 0.95
    )
    root = pick(rnd, ("presence", "presence", "pidf:presence", "gp:presence", "x"))
    text = f'{pick(rnd, _PROLOGS)}<{root} xmlns="{_NS["pidf"]}" {namespaces}>{body}</{root}>'
    for _ in range(rnd.choice((0, 0, 1, 2))):
        at = rnd.randrange(len(text) + 1)
        text = text[:at] + pick(rnd, _XML_JUNK) + text[at:]
    encoding = "utf-16" if 'encoding="utf-16"' in text and rnd.random() < 0.5 else "utf-8"
    return text.encode(encoding, "surrogatepass")


@cache
def pidf_library() -> tuple[bytes, ...]:
    """The PIDF-LO bodies of the captured INVITEs (tests/invites)."""
    out = []
    for path in sorted(INVITES.glob("mobile-*.sip")):
        try:
            part = pidf_part(parse_request(path.read_bytes()))
        except SipParseError:
            continue
        if part is not None and len(part.body) < 8192:
            out.append(part.body)
    return tuple(out)


def pidf_seeds() -> list[bytes]:
    """The library's documents."""
    return list(pidf_library())


# ---------------------------------------------------------------------------------------------
# Asterisk's GEOLOC_PROFILE (format and location_info)

_PROFILE_NAMES = ("shape", "crs", "pos", "radius", "country", "A1", "A3", "PC", "URI", "x",
                  "pos3d", "")  # fmt: skip
_PROFILE_VALUES = ("Point", "Circle", "Polygon", "2d", "3d", "50.8467 4.3525", "50 4 100", "35",
                   "BE", "be", "B", "Namur", "5000", "https://lis.example.net/loc/1", ",", " ",
                   "=", "'", "\"", "")  # fmt: skip


def eprofile(rnd: random.Random) -> bytes:
    """``format`` NUL ``location_info`` as the dialplan passes ``GEOLOC_PROFILE``."""
    format_ = pick(rnd, ("GML", "civicAddress", "URI", " GML ", "gml", "", "x"))
    pairs = []
    for _ in range(rnd.randrange(7)):
        value = pick(rnd, _PROFILE_VALUES) if rnd.random() < 0.7 else odd_number(rnd)
        if rnd.random() < 0.3:
            value = " ".join(odd_number(rnd) for _ in range(rnd.choice((1, 2, 3, 4))))
        pairs.append(f'{pick(rnd, _PROFILE_NAMES)}="{value}"')
    info = pick(rnd, (",", ", ", " ,", ",,", "")).join(pairs)
    if rnd.random() < 0.03:
        info = info * rnd.choice((50, 500))
    return f"{format_}\x00{info}".encode()


def eprofile_seeds() -> list[bytes]:
    """The three forms Asterisk produces."""
    return [b'GML\x00shape="Circle",crs="2d",pos="50.8837 4.4718",radius="35"',
            b'civicAddress\x00country="BE",A1="Namur",PC="5000"',
            b'URI\x00URI="https://lis.example.net/loc/8f3a2c"']  # fmt: skip


# ---------------------------------------------------------------------------------------------
# CSV of calls (callctl rate)

_TIMES = ("2026-11-02T09:23:37", "2026-11-02 09:23:37", "2026-11-02T09:23:37+01:00",
          "2026-11-02T09:23:37Z", "2026-03-29T02:30:00", "2026-10-25T02:30:00",
          "2026-10-25T02:30:00+02:00", "0001-01-01T00:00:00", "0001-01-01T00:30:00+00:00",
          "9999-12-31T23:59:59", "9999-12-31T23:59:59-12:00", "2026-02-29T10:00", "2026-13-01",
          "2026-11-02", "20261102T092337", "2026-W45-1T09:00", "2026-11-02T09:23:37.123456",
          "2026-11-02T24:00", "", " ", "x", "2026-12-31T23:59:59", "2027-01-01T00:00:00+14:00",
          "2026-11-02T09:23:37+23:59", "2024-02-29T12:00")  # fmt: skip
_BILLSEC = ("0", "1", "12", "59", "60", "61", "3600", "86400", "999999999", "1000000000", "-1",
            "1.5", "", " 7 ", "１２", "007", "x")  # fmt: skip


def _csv_field(text: str, rnd: random.Random) -> str:
    if rnd.random() < 0.15 or any(ch in text for ch in ',"\r\n'):
        return '"' + text.replace('"', '""') + '"'
    return text


def calls_csv(rnd: random.Random) -> bytes:
    """A calls file: header variants, times across clock changes and limits, odd billsec."""
    columns = ["answered_at", "billsec", "dialled"]
    if rnd.random() < 0.2:
        rnd.shuffle(columns)
    if rnd.random() < 0.1:
        columns.append(pick(rnd, ("note", "dialled", "")))
    if rnd.random() < 0.05:
        del columns[rnd.randrange(len(columns))]
    end = pick(rnd, ("\n", "\r\n", "\n", "\r"))
    rows = [",".join(columns)]
    for _ in range(rnd.randrange(6)):
        values = {
            "answered_at": pick(rnd, _TIMES),
            "billsec": pick(rnd, _BILLSEC),
            "dialled": dialstring(rnd).decode("utf-8", "replace"),
        }
        cells = [_csv_field(values.get(name, "x"), rnd) for name in columns]
        if rnd.random() < 0.1:
            cells = cells[: rnd.randrange(len(cells) + 1)] or [""]
        rows.append(",".join(cells))
    text = end.join(rows) + end
    prefix = "\ufeff" if rnd.random() < 0.1 else ""
    return (prefix + text).encode("utf-8", "replace")


def calls_seeds() -> list[bytes]:
    """The demo's sample month."""
    return [(ROOT / "callctl" / "data" / "sample-month.csv").read_bytes()[:8192]]


# ---------------------------------------------------------------------------------------------
# Lines file (YAML)

_YAML_VALUES = ("classic", "klik", "phone2go", "[anytime]", "[anytime, anytime]", "[x]", "[]",
                "{}", "null", "~", "true", "yes", "1000", "0x3e8", "1_000", "'1000'",
                '"+3222345601"', "+3222345601", "'+32 2 234 56 01'", "'+32'", "'+999 1'",
                "[198.51.100.0/28]", "['::/0']", "['1.2.3.4/33']", "[fe80::1%eth0/64]",
                "!!binary aGk=", "!!python/object:os.system x", "!!set {a}", "2026-11-02", "*a",
                "&a x", "'\\u0000'",
                '"\\x00"', "|\n      text", ">-\n      folded", "!!str", "!!int 1", "- x",
                "'" + "9" * 300 + "'", ".inf", "-.nan")  # fmt: skip
_YAML_KEYS = ("number", "product", "options", "install_address", "site_networks", "licences",
              "paused", "street", "postal_code", "city", "lines", "extra", "<<",
              "? [a]")  # fmt: skip


_YAML_NUMBERS = ('"+3222345601"', '"+3242345603"', "'+3292345602'", "+3222345601")


def _yaml_entry(rnd: random.Random) -> list[str]:
    entry = [
        f"  - number: {pick(rnd, _YAML_NUMBERS)}",
        f"    product: {pick(rnd, ('classic', 'klik', 'phone2go'))}",
        "    install_address:",
        "      street: Rue de la Loi 16",
        '      postal_code: "1000"',
        "      city: Bruxelles",
    ]
    for _ in range(rnd.randrange(4)):
        at = rnd.randrange(len(entry))
        edit = rnd.randrange(4)
        if edit == 0:
            indent = pick(rnd, ("    ", "      ", "  ", "   "))
            entry.insert(at, f"{indent}{pick(rnd, _YAML_KEYS)}: {pick(rnd, _YAML_VALUES)}")
        elif edit == 1:
            del entry[at]
        elif edit == 2:
            head = entry[at].partition(": ")[0]
            entry[at] = f"{head}: {pick(rnd, _YAML_VALUES)}"
        else:
            entry.insert(at, entry[at])
    return entry


def _yaml_bomb(rnd: random.Random) -> str:
    """Aliases that name 10**levels elements, anchored inside an entry so that the checks
    reach them (``product`` is checked before ``options``)."""
    levels = rnd.choice((3, 6, 9, 12))
    anchors = ["&a0 [x, x, x, x, x, x, x, x, x, x]"]
    anchors += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, levels)]
    key = pick(rnd, ("product", "paused", "number", "licences", "site_networks", "street"))
    return "\n".join([
        "lines:",
        "  - number: '+3222345601'",
        f"    options: [{', '.join(anchors)}]",
        f"    {key}: *a{levels - 1}",
        "    install_address: {street: a, postal_code: '1000', city: b}",
    ])  # fmt: skip


def lines_yaml(rnd: random.Random) -> bytes:
    """A lines file: entries with bent keys and values, aliases, tags, nesting, documents."""
    kind = rnd.random()
    if kind < 0.05:
        text = _yaml_bomb(rnd)
    elif kind < 0.1:
        depth = rnd.choice((50, 500, 3000))
        pair = pick(rnd, ("[]", "{}", "[]"))
        opener, closer = pair[0], pair[1]
        inner = opener * depth + closer * depth if opener == "[" else "{a: " * depth + "}" * depth
        text = f"lines: {inner}" if rnd.random() < 0.5 else "lines:\n  - " + "- " * depth + "x"
    else:
        lines = ["lines:"]
        for _ in range(rnd.choice((0, 1, 1, 2, 3))):
            lines += _yaml_entry(rnd)
        if rnd.random() < 0.1:
            odd = ("---", "...", "%YAML 1.1", "# comment", "\t", "other: 1", "lines: []", "? x")
            lines.insert(rnd.randrange(len(lines) + 1), pick(rnd, odd))
        text = "\n".join(lines) + "\n"
    return text.encode("utf-8", "surrogatepass")


def yaml_seeds() -> list[bytes]:
    """The shipped example and the test PBX's lines."""
    return [(ROOT / path).read_bytes()[:8192] for path in
            ("docs/examples/lines.yaml", "dialplan/lab-lines.yaml")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# SIP requests

_SIP_PIECES = ('"', "<", ">", ";", ",", "=", ":", "@", "[", "]", "%", "%2", "\\", " ", "\t", "sip:",
               "tel:", "cid:", "urn:uuid:1", "+sip.instance", "received", "2001:db8::1",
               "192.0.2.1", "3GPP-", "utran-cell-id-3gpp", "206", "yes", "SIP/2.0/UDP", "/", "é",
               "x", "65536", "99999999999")  # fmt: skip
_SIP_HEADERS = ("Via", "v", "From", "f", "To", "Call-ID", "CSeq", "P-Asserted-Identity", "Contact",
                "m", "X-Device-Id", "X-Device-Type", "Geolocation", "Geolocation-Routing",
                "P-Access-Network-Info", "Content-Type", "c", "Content-Length", "l",
                "Content-ID", "Content-Transfer-Encoding", "X Bad", "")  # fmt: skip
_PART_HEADERS = ("Content-Type: application/pidf+xml", "Content-Type: application/sdp",
                 "Content-Type: multipart/mixed;boundary=inner",
                 "Content-Transfer-Encoding: base64",
                 "Content-Transfer-Encoding: quoted-printable", "Content-Transfer-Encoding: x-uue",
                 "Content-ID: <loc@h>", "Content-ID: loc@h", "Content-Disposition: render",
                 "Bad header", " folded")  # fmt: skip


@cache
def sip_library() -> tuple[bytes, ...]:
    """The captured INVITEs (tests/invites), the oversized ones left out."""
    return tuple(
        path.read_bytes()
        for path in sorted(INVITES.glob("*.sip"))
        if "oversized" not in path.name and path.stat().st_size <= 8192
    )


@cache
def _sip_texts() -> tuple[str, ...]:
    return tuple(data.decode("utf-8", "replace") for data in sip_library())


def _multipart(rnd: random.Random, boundary: str) -> str:
    parts = []
    for _ in range(rnd.choice((1, 2, 2, 3, 0, 40))):
        headers = [pick(rnd, _PART_HEADERS) for _ in range(rnd.randrange(4))]
        content = pidf(rnd).decode("utf-8", "replace") if rnd.random() < 0.5 else "v=0"
        if "base64" in " ".join(headers) and rnd.random() < 0.7:
            content = base64.b64encode(content.encode()).decode()
        parts.append("\r\n".join([f"--{boundary}{pick(rnd, ('', ' ', '--', 'x'))}", *headers,
                                  "", content]))  # fmt: skip
    closing = pick(rnd, (f"--{boundary}--", f"--{boundary}--", f"--{boundary}", "", "--"))
    return "\r\n".join([*parts, closing, ""])


def sip(rnd: random.Random) -> bytes:
    """A captured INVITE with headers added, dropped, bent, and its body rebuilt or garbled."""
    original = pick(rnd, _sip_texts())
    head, _, body = original.partition("\r\n\r\n")
    if not _:
        head, _, body = original.partition("\n\n")
    lines = head.splitlines()
    for _ in range(rnd.randrange(5)):
        at = rnd.randrange(1, len(lines)) if len(lines) > 1 else 0
        edit = rnd.randrange(6)
        if edit == 0:
            lines.insert(at, f"{pick(rnd, _SIP_HEADERS)}: {odd_text(rnd, _SIP_PIECES, 16)}")
        elif edit == 1 and len(lines) > 1:
            del lines[at]
        elif edit == 2:
            name = lines[at].partition(":")[0]
            lines[at] = f"{name}: {odd_text(rnd, _SIP_PIECES, 16)}"
        elif edit == 3:
            lines.insert(at, " " + odd_text(rnd, _SIP_PIECES))  # a folded continuation
        elif edit == 4:
            lines[0] = pick(rnd, ("INVITE sip:112@h SIP/2.0", "SIP/2.0 200 OK", "GET / HTTP/1.1",
                            "INVITE tel:%2331%23112 SIP/2.0", "INVITE x SIP/2.0", "INVITE  SIP/2.0",
                            f"INVITE sip:{odd_text(rnd, _SIP_PIECES)}@h SIP/2.0"))  # fmt: skip
        else:
            lines.insert(at, lines[at])
    if rnd.random() < 0.4:
        boundary = pick(rnd, ("b", "p2g-boundary-7f3a", "a b", "x" * 70, "x" * 71, "--", "é"))
        quoted = f'"{boundary}"' if rnd.random() < 0.5 else boundary
        lines = [ln for ln in lines if not ln.lower().startswith(("content-type", "c:"))]
        lines.append(f"Content-Type: multipart/mixed;boundary={quoted}")
        body = _multipart(rnd, boundary)
    lines = [ln for ln in lines if not ln.lower().startswith(("content-length", "l:"))]
    size = len(body.encode("utf-8", "surrogatepass"))
    length = pick(rnd, (str(size), str(size), str(size + 1), str(max(size - 1, 0)), "-1", "x",
                        "99999999999", f"{size}, {size}"))  # fmt: skip
    if rnd.random() < 0.95:
        lines.append(f"Content-Length: {length}")
    end = "\r\n" if rnd.random() < 0.8 else "\n"
    if end == "\n":
        body = body.replace("\r\n", "\n")
    return (end.join(lines) + end + end + body).encode("utf-8", "surrogatepass")


def sip_seeds() -> list[bytes]:
    """The captured INVITEs."""
    return list(sip_library())
