"""Reading Asterisk's own CDR file (``callctl.service.reconcile.read_cdr``).

The file is what ``dialplan/cdr_custom.conf`` makes Asterisk write: every field quoted,
times as epoch seconds with microseconds. ``read_cdr`` yields one item per call (R10 key:
host and unique id, the first row wins), None for a call that was not routed for a known
line, and raises :class:`CdrFileError` naming the row for anything malformed.
"""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from callctl.core.records import CallKey
from callctl.service.reconcile import CDR_FIELDS, CdrCall, CdrFileError, read_cdr

DIALPLAN = Path(__file__).resolve().parents[1] / "dialplan"

# The field list of dialplan/cdr_custom.conf ([callctl-cdr.csv] fields =), copied.
CONF_FIELDS = (
    "callctl_host(uservar), uniqueid, linkedid, callctl_line(uservar), "
    "callctl_dialled(uservar), src, dst, dcontext, channel, dstchannel, start(double), "
    "answer(double), end(double), duration, billsec, disposition, callctl_cause(uservar), "
    "callctl_route(uservar), sequence"
)

ANSWER = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)  # 10:00 in Brussels
T = ANSWER.timestamp()


def field_names(conf_fields: str) -> tuple[str, ...]:
    """cdr_custom field specs → reconcile's names (no ``callctl_`` prefix, no ``(type)``)."""
    names = [re.sub(r"\(.*\)$", "", spec.strip()) for spec in conf_fields.split(",")]
    return tuple(name.removeprefix("callctl_") for name in names)


def test_the_copied_field_list_is_the_conf_files() -> None:
    text = (DIALPLAN / "cdr_custom.conf").read_text()
    match = re.search(r"^fields = (.*)$", text, re.MULTILINE)
    assert match is not None
    assert match.group(1).strip() == CONF_FIELDS


def test_reconcile_reads_the_fields_in_the_conf_files_order() -> None:
    assert field_names(CONF_FIELDS) == CDR_FIELDS
    assert len(CDR_FIELDS) == 19


def epoch(seconds: float) -> str:
    return f"{seconds:.6f}"


def row(**values: str) -> list[str]:
    """A CDR row: an answered Classic call to 02 123 45 67 of 61.2 s, unless changed."""
    base = {
        "host": "callctl-lab",
        "uniqueid": "1772614795.1",
        "linkedid": "1772614795.1",
        "line": "+3222000001",
        "dialled": "02 123 45 67",
        "src": "+3222000001",
        "dst": "s",
        "dcontext": "callctl-route",
        "channel": "PJSIP/3222000001-00000001",
        "dstchannel": "PJSIP/carrier-00000002",
        "start": epoch(T - 5),
        "answer": epoch(T),
        "end": epoch(T + 61.2),
        "duration": "66",
        "billsec": "61",
        "disposition": "ANSWERED",
        "cause": "16",
        "route": "carrier",
        "sequence": "1",
    }
    unknown = set(values) - set(base)
    assert not unknown, unknown
    base.update(values)
    return [base[name] for name in CDR_FIELDS]


def write(tmp_path: Path, rows: list[list[str]]) -> Path:
    """As cdr_custom writes it: quoting_method = all, quote " escaped by doubling."""
    path = tmp_path / "callctl-cdr.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return path


def read(path: Path) -> list[CdrCall | None]:
    return list(read_cdr(path))


def test_an_answered_call(tmp_path: Path) -> None:
    (call,) = read(write(tmp_path, [row()]))
    assert call is not None
    assert call.key == CallKey("callctl-lab", "1772614795.1")
    assert (call.line, call.dialled, call.trunk) == ("+3222000001", "02 123 45 67", "carrier")
    assert call.started_at == datetime(2026, 3, 4, 8, 59, 55, tzinfo=UTC)
    assert call.end.answered_at == ANSWER
    assert call.end.duration == Decimal("61.2")
    assert call.end.dial_status == "ANSWER"
    assert call.end.hangup_cause == 16
    assert call.end.disposition == "ANSWERED"


def test_the_file_looks_like_cdr_custom_output(tmp_path: Path) -> None:
    path = write(tmp_path, [row()])
    assert path.read_text().startswith('"callctl-lab","1772614795.1","1772614795.1",')


def test_unanswered_busy_and_failed_calls(tmp_path: Path) -> None:
    rows = [
        row(uniqueid="1", answer="", end=epoch(T + 20), disposition="NO ANSWER", cause="19"),
        row(uniqueid="2", answer="0.000000", disposition="BUSY", cause="17"),
        row(uniqueid="3", answer="", disposition="FAILED", cause=""),
        row(uniqueid="4", answer="", disposition="CONGESTION", cause="²"),  # not a number
    ]
    calls = read(write(tmp_path, rows))
    got = [(c.end.answered_at, c.end.duration, c.end.disposition, c.end.hangup_cause)
           for c in calls if c is not None]  # fmt: skip
    assert got == [
        (None, Decimal(0), "NO ANSWER", 19),
        (None, Decimal(0), "BUSY", 17),
        (None, Decimal(0), "FAILED", None),
        (None, Decimal(0), "FAILED", None),
    ]


def test_an_end_before_the_answer_is_no_duration(tmp_path: Path) -> None:
    (call,) = read(write(tmp_path, [row(end=epoch(T - 1))]))
    assert call is not None
    assert call.end.duration == Decimal(0)
    assert call.end.disposition == "NO ANSWER"


def test_fallback_routes_and_emergency_trunks(tmp_path: Path) -> None:
    rows = [
        row(uniqueid="1", route="fallback:carrier"),
        row(uniqueid="2", route="fallback:psap-112-brussels", dialled="112"),
        row(uniqueid="3", route="cic-101-liege", dialled="101"),
    ]
    trunks = [c.trunk for c in read(write(tmp_path, rows)) if c is not None]
    assert trunks == ["carrier", "psap-112-brussels", "cic-101-liege"]


def test_duplicates_of_a_call_first_row_wins(tmp_path: Path) -> None:
    """R10: a call is its host and unique id; a repeated row changes nothing."""
    rows = [
        row(uniqueid="1", dialled="first"),
        row(uniqueid="1", dialled="second", sequence="2"),
        row(uniqueid="1", host="other-pbx", dialled="other host"),  # another call
        row(uniqueid="1", dialled="third", start="not checked: a duplicate"),
    ]
    calls = read(write(tmp_path, rows))
    assert [(c.key, c.dialled) for c in calls if c is not None] == [
        (CallKey("callctl-lab", "1"), "first"),
        (CallKey("other-pbx", "1"), "other host"),
    ]


def test_a_duplicate_of_a_refused_call_is_not_a_second_call(tmp_path: Path) -> None:
    rows = [row(uniqueid="1", route="refused"), row(uniqueid="1", route="carrier")]
    assert read(write(tmp_path, rows)) == [None]


def test_no_host_is_asterisk(tmp_path: Path) -> None:
    (call,) = read(write(tmp_path, [row(host="")]))
    assert call is not None
    assert call.key == CallKey("asterisk", "1772614795.1")


def test_refused_and_lineless_rows_are_skipped(tmp_path: Path) -> None:
    rows = [
        row(uniqueid="1", route="refused", cause="403"),
        row(uniqueid="2", route="fallback-refused", cause="503"),
        row(uniqueid="3", line=""),  # not a known line's call
        row(uniqueid="4", route=""),  # never routed (caller gone during the AGI)
        row(uniqueid="5"),
        # Skipped rows are not parsed further: a bad time there is not an error.
        row(uniqueid="6", route="refused", start="garbage"),
    ]
    calls = read(write(tmp_path, rows))
    assert [c is None for c in calls] == [True, True, True, True, False, True]


def test_an_empty_file_has_no_calls(tmp_path: Path) -> None:
    assert read(write(tmp_path, [])) == []


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (row()[:-1], "row 2: 18 fields, expected 19"),
        ([*row(), "extra"], "row 2: 20 fields, expected 19"),
        ([""], "row 2: 1 fields, expected 19"),
        (row(start="yesterday"), "row 2: 'yesterday' is not an epoch time"),
        (row(answer="12:00"), "row 2: '12:00' is not an epoch time"),
        (row(end="1e400"), "row 2: '1e400' is not an epoch time"),
        (row(end="99999999999999"), "row 2: '99999999999999' is not an epoch time"),
        (row(start=""), "row 2: no start time"),
        (row(start="0"), "row 2: no start time"),
        (row(start="-5"), "row 2: no start time"),
    ],
)
def test_malformed_rows_are_named(tmp_path: Path, bad: list[str], message: str) -> None:
    path = write(tmp_path, [row(uniqueid="ok"), bad])
    with pytest.raises(CdrFileError, match=f"^{re.escape(message)}$"):
        read(path)


def test_a_field_beyond_the_csv_limit_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, [row(dialled="1" * 200_000)])
    with pytest.raises(CdrFileError, match="is not a readable CSV: field larger"):
        read(path)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(CdrFileError, match=r"cannot read .*missing\.csv"):
        read(tmp_path / "missing.csv")
    with pytest.raises(CdrFileError, match="cannot read"):
        read(tmp_path)  # a folder
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b'"\xff\xfe"\n')
    with pytest.raises(CdrFileError, match="is not a readable CSV"):
        read(binary)
