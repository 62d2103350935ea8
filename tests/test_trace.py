"""Trace reading (issue 6): SIP responses and stream framing, pcap/pcapng packets (UDP, TCP
reassembly, IPv4 fragments), text captures, dialogs — and bad input reported, never a crash.

Captures here are real bytes: the fixtures of tests/traces/ (made on the test PBX) and pcaps
written with dpkt (``callctl.trace.synth``), read back by the same code as ``callctl replay``.
"""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callctl.sip.message import (
    SipParseError,
    SipResponse,
    cseq,
    frame_length,
    parse_message,
    parse_request,
    tag_of,
)
from callctl.trace.dialogs import Dialog, DialogBuilder, rebuild
from callctl.trace.files import read_trace
from callctl.trace.model import Captured, Item, Problem
from callctl.trace.packets import read_packets
from callctl.trace.synth import Flow, tcp_frame, udp_fragments, udp_frame, write_capture
from callctl.trace.text import read_text

TRACES = Path(__file__).resolve().parent / "traces"
BRUSSELS = ZoneInfo("Europe/Brussels")
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
UP = Flow("127.0.0.1", 5070, "127.0.0.1", 5060)
DOWN = Flow("127.0.0.1", 5060, "127.0.0.1", 5070)


def sip(
    start: str,
    call: str = "c1",
    cseq_: str = "1 INVITE",
    *,
    to_tag: str = "",
    body: str = "",
    extra: str = "",
) -> bytes:
    to = f"<sip:022345678@127.0.0.1>{';tag=' + to_tag if to_tag else ''}"
    branch = "z9hG4bK-" + cseq_.partition(" ")[0]
    return (
        f"{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        f"From: <sip:3222000001@127.0.0.1>;tag=f1\r\nTo: {to}\r\nCall-ID: {call}\r\n"
        f"CSeq: {cseq_}\r\n{extra}Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()


INVITE = "INVITE sip:022345678@127.0.0.1 SIP/2.0"
BYE = "BYE sip:022345678@127.0.0.1 SIP/2.0"


def answered_call(
    call: str = "c1", start: datetime = T0, held: float = 2.5
) -> list[tuple[float, bytes, Flow]]:
    t = start.timestamp()
    return [
        (t, sip(INVITE, call, body="v=0\r\n"), UP),
        (t + 0.5, sip("SIP/2.0 200 OK", call, to_tag="t1"), DOWN),
        (t + 0.5 + held, sip(BYE, call, "2 BYE", to_tag="t1"), UP),
        (t + 0.6 + held, sip("SIP/2.0 200 OK", call, "2 BYE", to_tag="t1"), DOWN),
    ]


def pcap(frames: list[tuple[float, bytes]], *, pcapng: bool = False) -> io.BytesIO:
    out = io.BytesIO()
    write_capture(out, frames, pcapng=pcapng)
    out.seek(0)
    return out


def udp_pcap(messages: list[tuple[float, bytes, Flow]], *, pcapng: bool = False) -> io.BytesIO:
    return pcap([(t, udp_frame(flow, data)) for t, data, flow in messages], pcapng=pcapng)


def calls_of(items: list[Item]) -> list[Dialog]:
    return rebuild(items)[0]


def problems_of(items: list[Item]) -> list[Problem]:
    return rebuild(items)[1]


# ----------------------------------------------------------------------------- the parser


def test_responses_are_parsed_by_the_same_parser() -> None:
    response = parse_message(sip("SIP/2.0 486 Busy Here", to_tag="t9", body="x"))
    assert isinstance(response, SipResponse)
    assert (response.status, response.reason, response.body) == (486, "Busy Here", b"x")
    assert cseq(response) == (1, "INVITE")
    with pytest.raises(SipParseError, match="SIP response"):
        parse_request(sip("SIP/2.0 200 OK"))
    with pytest.raises(SipParseError, match="status code"):
        parse_message(sip("SIP/2.0 2000 OK"))
    with pytest.raises(SipParseError, match="not a SIP method"):
        parse_message(sip("SIP/2.0 200 OK", cseq_="1 IN<VITE"))


def test_frame_length_cuts_a_stream_by_content_length() -> None:
    one, two = sip(INVITE, body="abc"), sip("SIP/2.0 100 Trying")
    stream = b"\r\n\r\n" + one + two  # keep-alives first
    first = frame_length(stream)
    assert first == 4 + len(one)
    assert frame_length(stream, first) == len(two)
    assert frame_length(stream[:-3], first) is None  # not all there yet
    assert frame_length((one + two)[:20]) is None
    with pytest.raises(SipParseError, match="without Content-Length"):
        frame_length(b"BYE sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n")
    assert frame_length(b"BYE sip:a@b SIP/2.0\r\n\r\n", missing_length=0) == 23
    with pytest.raises(SipParseError, match="larger than"):
        frame_length(b"BYE sip:a@b SIP/2.0\r\nl: 999999999\r\n\r\n")


@pytest.mark.parametrize(
    ("value", "tag"),
    [
        ("<sip:a@b>;tag=x1", "x1"),
        ("sip:a@b;tag=x2", "x2"),
        ('"A;tag=no" <sip:a@b>;TAG=x3', "x3"),
        ("<sip:a@b;tag=uri-param>", None),
        ("<sip:a@b>", None),
    ],
)
def test_tags(value: str, tag: str | None) -> None:
    assert tag_of(value) == tag


# ----------------------------------------------------------------------------- packets


@pytest.mark.parametrize("pcapng", [False, True])
def test_udp_call_from_pcap_and_pcapng(pcapng: bool) -> None:
    items = list(read_packets(udp_pcap(answered_call(), pcapng=pcapng)))
    assert all(isinstance(i, Captured) for i in items)
    (call,) = calls_of(items)
    assert call.answered_at == T0 + timedelta(seconds=0.5)
    assert call.ended_at == T0 + timedelta(seconds=3.0)
    assert (call.ended_by, call.source, call.destination) == (
        "BYE",
        "127.0.0.1:5070",
        "127.0.0.1:5060",
    )


def test_tcp_stream_reassembled_split_merged_out_of_order_and_retransmitted() -> None:
    messages = [data for _, data, _ in answered_call()]
    t = T0.timestamp()
    invite, bye = messages[0], messages[2]
    up = invite + bye + bye  # the BYE and its retransmission in one segment
    cut = len(invite) // 3
    frames = [
        (t, tcp_frame(UP, 999, b"", flags=0x02)),  # SYN
        (t, tcp_frame(UP, 1000, up[:cut])),
        (t + 0.1, tcp_frame(UP, 1000 + 2 * cut, up[2 * cut : len(invite)])),  # early
        (t + 0.2, tcp_frame(UP, 1000 + cut, up[cut : 2 * cut])),  # fills the gap
        (t + 0.2, tcp_frame(UP, 1000 + cut, up[cut : 2 * cut])),  # retransmitted
        (t + 0.5, tcp_frame(DOWN, 5000, messages[1])),
        (t + 3.0, tcp_frame(UP, 1000 + len(invite), up[len(invite) :])),
        (t + 3.1, tcp_frame(DOWN, 5000 + len(messages[1]), messages[3])),
    ]
    items = list(read_packets(pcap(frames)))
    assert [type(i) for i in items] == [Captured] * 5, items
    first = items[0]
    assert isinstance(first, Captured)
    assert first.at == T0 + timedelta(seconds=0.2)  # completed by the segment that filled it
    assert {i.transport for i in items if isinstance(i, Captured)} == {"TCP"}
    (call,) = calls_of(items)
    assert (call.answered_at, call.ended_at) == (
        T0 + timedelta(seconds=0.5),
        T0 + timedelta(seconds=3),
    )
    assert (call.ended_by, call.flags) == ("BYE", ["retransmissions"])


def test_tcp_lost_segment_and_unframeable_message_are_reported_and_skipped() -> None:
    good = sip(INVITE, "c2")
    t = T0.timestamp()
    frames = [
        (t, tcp_frame(UP, 1, b"INVITE sip:x@y SIP/2.0\r\nCall-ID: c1\r\n\r\n" + good)),
        (t + 1, tcp_frame(UP, 10_000_000, b"x" * 100)),  # after a segment never captured
    ]
    items = list(read_packets(pcap(frames)))
    problems = [str(i) for i in items if isinstance(i, Problem)]
    assert any("without Content-Length" in p for p in problems), problems
    assert any("cut off" in p for p in problems), problems
    assert [i.data for i in items if isinstance(i, Captured)] == [good]


def test_ipv4_fragments_are_reassembled() -> None:
    big = sip(INVITE, body="a=x\r\n" * 400)
    frames = [(T0.timestamp(), f) for f in udp_fragments(UP, big, size=1480, ident=7)]
    assert len(frames) > 1
    (item,) = read_packets(pcap(list(reversed(frames))))  # in any order
    assert isinstance(item, Captured)
    assert item.data == big


def test_lone_fragments_are_reported() -> None:
    frames = udp_fragments(UP, sip(INVITE, body="a" * 3000), size=1480, ident=9)
    items = list(read_packets(pcap([(T0.timestamp(), frames[0])])))
    assert [i.what for i in items if isinstance(i, Problem)] == [
        "1 IP datagram(s) with fragments missing were skipped"
    ]


def test_non_sip_udp_on_a_sip_port_is_reported_elsewhere_ignored() -> None:
    frames = [
        (T0.timestamp(), udp_frame(Flow("10.0.0.1", 40000, "10.0.0.2", 53), b"\x12\x34dns")),
        (T0.timestamp(), udp_frame(Flow("10.0.0.1", 40000, "10.0.0.2", 5060), b"\x00\x01rtp?")),
        (T0.timestamp(), udp_frame(Flow("10.0.0.1", 40000, "10.0.0.2", 5060), b"\r\n\r\n")),
    ]
    items = list(read_packets(pcap(frames)))
    assert [str(i) for i in items] == ["packet 2: UDP 40000 → 5060: not a SIP message"]


def test_a_capture_cut_anywhere_keeps_the_calls_before_the_cut() -> None:
    raw = (TRACES / "groups.pcap").read_bytes()
    whole = calls_of(list(read_packets(io.BytesIO(raw))))
    assert len(whole) == 14
    for cut in (len(raw) - 1, len(raw) - 300, len(raw) // 2, 200, 30):
        items = list(read_packets(io.BytesIO(raw[:cut])))
        problems = [str(i) for i in items if isinstance(i, Problem)]
        assert problems, cut
        assert all(
            "truncated" in p or "cut short" in p or "not a readable" in p for p in problems
        ), problems
        calls = calls_of(items)
        assert [c.call_id for c in calls] == [c.call_id for c in whole[: len(calls)]]


def test_not_a_capture_at_all(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"\xd4\xc3\xb2\xa1" + b"\x00" * 5)
    first = next(iter(read_trace(path, UTC)))
    assert isinstance(first, Problem)
    assert first.what.startswith("not a readable pcap")
    assert list(read_trace(tmp_path / "missing.pcap", UTC)) == [
        Problem(str(tmp_path / "missing.pcap"), "cannot be read: No such file or directory")
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_captures_never_raise(data: st.DataObject) -> None:
    """Random damage to a real capture: problems, never an exception."""
    raw = bytearray((TRACES / "cancel.pcap").read_bytes())
    rng = random.Random(data.draw(st.integers(0, 2**32)))
    for _ in range(data.draw(st.integers(1, 40))):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    if data.draw(st.booleans()):
        del raw[rng.randrange(len(raw)) :]
    items = list(read_packets(io.BytesIO(bytes(raw))))
    rebuild(items)


# ----------------------------------------------------------------------------- text


def test_sipp_trace_msg_log() -> None:
    items = list(read_trace(TRACES / "retransmissions.log", BRUSSELS))
    assert not [i for i in items if isinstance(i, Problem)]
    assert len(items) == 11
    (call,) = calls_of(items)
    assert call.started_at == T0  # SIPp's local time, read in the zone given
    assert call.source is None  # SIPp's log does not say
    assert call.flags == ["retransmissions"]


def test_text_capture_times_and_problems() -> None:
    text = (
        b"# 2026-11-26T10:00:00+01:00\n"
        + sip(INVITE).replace(b"\r\n", b"\n")
        + b"\nnot SIP at all\n"
        + sip("SIP/2.0 200 OK", to_tag="t1", extra="Date: Thu, 26 Nov 2026 09:00:02 GMT\r\n")
        + b"# 2026-13-40T99:00:00\n"
        + b"INVITE sip:a@b SIP/2.0\r\nl: 9999999999\r\n\r\n"
        + b"# 2026-11-26T10:00:05+01:00\n"
        + sip(BYE, cseq_="2 BYE", to_tag="t1")
    )
    items = list(read_text(text))
    problems = [str(i) for i in items if isinstance(i, Problem)]
    assert problems[0] == "line 11: not part of a SIP message: 'not SIP at all'"
    assert "is not a time" in problems[1]
    assert "cannot be framed" in problems[2]
    (call,) = calls_of(items)
    assert call.answered_at == T0  # a time line holds until the next one
    assert call.ended_at == T0 + timedelta(seconds=5)


def test_without_time_lines_the_date_header_gives_the_time() -> None:
    dated = sip(INVITE, extra="Date: Thu, 26 Nov 2026 09:00:02 GMT\r\n")
    (item,) = read_text(dated)
    assert isinstance(item, Captured)
    assert item.at == T0 + timedelta(seconds=2)
    (item,) = read_text(sip(INVITE))
    assert isinstance(item, Problem)
    assert "no time" in item.what


def test_broken_and_huge_sip_messages_are_problems_not_crashes() -> None:
    msgs = answered_call()
    broken = sip(INVITE, "c9").replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE")
    huge = sip(INVITE, "c8", extra="X-Pad: " + "p" * 9000 + "\r\n")
    extra = [(T0.timestamp() + 0.1, broken, UP), (T0.timestamp() + 0.2, huge, UP)]
    items = list(read_packets(udp_pcap(msgs[:1] + extra + msgs[1:])))
    calls, problems = rebuild(items)
    assert [c.call_id for c in calls] == ["c1"]
    assert ["not a SIP message: CSeq" in p.what for p in problems] == [True, False]
    assert "longer than 8192 bytes" in problems[1].what


# ----------------------------------------------------------------------------- dialogs

EXPECTED = {
    # file: [(call, answered after s, ended after s, ended by, dial status, flags)]
    "retransmissions.log": [("retrans-1", 1.1, 3.6, "BYE", "ANSWER", ["retransmissions"])],
    "forked-18x.txt": [
        ("fork-1", 2.0, 4.5, "BYE", "ANSWER", ["forked", "extra_answer", "stray_bye"])
    ],
    "reinvite.txt": [("reinvite-1", 0.1, 2.6, "BYE", "ANSWER", ["reinvite"])],
    "cancel-487.txt": [("cancel-1", None, 1.82, "final response", "CANCEL", ["cancelled"])],
    "missing-bye.txt": [
        ("nobye-1", 1.0, 4.6, "end of trace", "ANSWER", ["missing_bye"]),
        ("nobye-2", 2.1, 4.6, "BYE", "ANSWER", []),
    ],
    "auth-challenge.txt": [("auth-1", 0.5, 3.5, "BYE", "ANSWER", [])],
}
START = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dialogs_of_the_text_traces(name: str) -> None:
    items = list(read_trace(TRACES / name, BRUSSELS))
    calls, problems = rebuild(items)
    assert problems == []

    def after(at: datetime | None) -> float | None:
        return None if at is None else round((at - START).total_seconds(), 3)

    got = [
        (
            c.call_id.split("@")[0],
            after(c.answered_at),
            after(c.ended_at),
            c.ended_by,
            c.dial_status,
            c.flags,
        )
        for c in calls
    ]
    assert got == EXPECTED[name]


def test_the_authenticated_invite_is_the_call() -> None:
    builder = DialogBuilder()
    for item in read_trace(TRACES / "auth-challenge.txt", BRUSSELS):
        assert isinstance(item, Captured)
        builder.feed(item)
    (call,) = builder.finish()
    assert call.invite_cseq == 2
    assert call.invite.header("Authorization")
    assert builder.unauthenticated == 1  # the INVITE left at its 401: never decided
