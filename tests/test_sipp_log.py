"""Reading SIPp's -trace_msg log: the post-dial delay of a call (authenticated INVITE to its
final response), as the live tests measure it."""

from __future__ import annotations

import pytest

from callctl.pbx.sipp import SippResult


def entry(stamp: str, direction: str, message: str) -> str:
    """One entry as SIPp 3.6 writes it (dashed line with the local time, then the message)."""
    return f"{'-' * 47} 2026-11-26 {stamp}\nUDP message {direction} (100 bytes):\n\n{message}\n\n"


INVITE_1 = "INVITE sip:022345678@127.0.0.1:5060 SIP/2.0\nCSeq: 1 INVITE\n"
CHALLENGE = "SIP/2.0 401 Unauthorized\nCSeq: 1 INVITE\n"
INVITE_2 = "INVITE sip:022345678@127.0.0.1:5060 SIP/2.0\nCSeq: 2 INVITE\n"
TRYING = "SIP/2.0 100 Trying\nCSeq: 2 INVITE\n"
OK = "SIP/2.0 200 OK\nCSeq: 2 INVITE\n"


def result(log: str) -> SippResult:
    return SippResult(0, "", "", log)


def test_post_dial_delay_is_the_authenticated_invite_to_its_final_response() -> None:
    log = (
        entry("10:28:27.387429", "sent", INVITE_1)
        + entry("10:28:27.388000", "received", CHALLENGE)
        + entry("10:28:27.390000", "sent", INVITE_2)
        + entry("10:28:27.391000", "received", TRYING)
        + entry("10:28:28.015000", "received", OK)
    )
    assert result(log).post_dial_delay() == pytest.approx(0.625, abs=1e-6)


def test_post_dial_delay_across_midnight_and_refusals() -> None:
    refused = "SIP/2.0 403 Forbidden\nCSeq: 2 INVITE\n"
    log = entry("23:59:59.900000", "sent", INVITE_2).replace("2026-11-26", "2026-11-25")
    log += entry("00:00:00.100000", "received", refused)
    assert result(log).post_dial_delay() == pytest.approx(0.2, abs=1e-6)


def test_no_post_dial_delay_without_an_answer() -> None:
    log = entry("10:00:00.000000", "sent", INVITE_2) + entry("10:00:00.001", "received", TRYING)
    assert result(log).post_dial_delay() is None
    assert result("").post_dial_delay() is None
