"""Calls through the real PBX: the trunk reached, the SIP code, and the rated record (R1–R10).

Prices in the expectations are the rules' own (R5), written here by hand, not read from the
tariff file: a change of the data file that breaks a rule breaks these tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import pytest

from callctl.core.records import CallRecord
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.sipp import FarEnd, SippResult, UacCall, place_call
from tests.live.conftest import (
    CLASSIC,
    PAUSED,
    Callctl,
    serving_lab_lines,
    wait_for,
)

HOLD_MS = 1500
BILLSEC = 2  # R4: 1.5 s answered → 2 started seconds


def amount(per_minute: str, seconds: int, setup: str = "0", per_call: str = "0") -> Decimal:
    raw = Decimal(setup) + Decimal(per_call) + Decimal(per_minute) * seconds / 60
    return raw.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Case:
    dialled: str
    group: str
    trunk: str
    amount: Decimal


def only_record(server: Callctl, dialled: str) -> CallRecord:
    found = [r for r in server.records() if r.dialled == dialled]
    assert len(found) == 1, [(r.dialled, r.action) for r in server.records()]
    return found[0]


def check_answered(result: SippResult, far: FarEnd, dialled_e164: str | None) -> None:
    assert result.returncode == 0, result.stderr[-2000:]
    # SIPp writes its message log a little late
    assert wait_for(lambda: bool(far.invites()), 5), "the far end received no INVITE"
    invites = far.invites()
    if dialled_e164:
        assert invites[-1].startswith(f"INVITE sip:{dialled_e164}@")


@pytest.fixture(scope="module")
def peak_server(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Callctl]:
    del lab
    with serving_lab_lines(tmp_path_factory.mktemp("peak")) as server:
        yield server


CLASSIC_PEAK = [
    Case("02 234 56 78", "be_fixed", "carrier", amount("0.17", BILLSEC)),
    Case("0470 12 34 56", "be_mobile", "carrier", amount("0.17", BILLSEC)),
    Case("+33 1 42 68 53 00", "zone", "carrier", amount("0.58", BILLSEC, setup="0.08")),
    Case("+212 612 345678", "ma_tr", "carrier", amount("1.16", BILLSEC, setup="0.08")),
    Case("+81 3 1234 5678", "international", "carrier", amount("1.16", BILLSEC, setup="0.08")),
    Case("0800 12 345", "freephone", "carrier", Decimal("0.0000")),
    Case("1813", "helpline", "carrier", Decimal("0.0000")),
    Case("070 12 34 56", "special", "carrier", amount("0.30", BILLSEC)),
    Case("0903 12 345", "premium", "carrier", amount("1.50", BILLSEC)),
    Case("0905 12 345", "premium", "carrier", amount("0", BILLSEC, per_call="2.00")),
    Case("112", "emergency", "psap-112-brussels", Decimal("0.0000")),
    Case("#31#100", "emergency", "psap-112-brussels", Decimal("0.0000")),
    Case("101", "emergency", "cic-101-brussels", Decimal("0.0000")),
]


@pytest.mark.parametrize("case", CLASSIC_PEAK, ids=lambda c: f"{c.group}-{c.dialled}")
def test_classic_peak_call_reaches_its_trunk_and_is_rated(
    case: Case,
    peak_server: Callctl,
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    far = far_ends(case.trunk)
    dialled = case.dialled.replace(" ", "")
    result = call(CLASSIC, UacCall(dialled, hold_ms=HOLD_MS))
    check_answered(result, far, None)
    r = only_record(peak_server, dialled)
    assert (r.group, r.action, r.target, r.disposition) == (
        case.group, "route", case.trunk, "ANSWERED",
    )  # fmt: skip
    assert abs(r.billsec - HOLD_MS / 1000) <= 1  # R4, within a second of what SIPp held
    assert r.billsec == BILLSEC
    assert r.amount == case.amount
    assert r.peak_seconds == BILLSEC  # R3: the test clock says Thursday 10:00
    assert r.line == CLASSIC
    assert r.tariff_id
    if case.group == "emergency":  # R9: a fixed line's location is its address, trusted
        assert (r.location_source, r.location_trusted) == ("declared_address", True)


def test_caller_id_is_withheld_with_31_but_never_for_emergency(
    peak_server: Callctl, far_ends: Callable[..., FarEnd], call: Callable[..., SippResult]
) -> None:
    del peak_server
    carrier = far_ends("carrier")
    psap = far_ends("psap-112-brussels")
    assert call(CLASSIC, UacCall("#31#022345678", hold_ms=300)).returncode == 0
    assert call(CLASSIC, UacCall("#31#112", hold_ms=300)).returncode == 0
    withheld = carrier.invites()[-1]
    emergency = psap.invites()[-1]
    assert "Anonymous" in withheld or "anonymous" in withheld or "Privacy: id" in withheld
    assert "+3222000001" in emergency.split("\n\n")[0]  # R9: the number is presented


@pytest.mark.parametrize(
    ("dialled", "code", "reason_words"),
    [
        ("0900123", 484, "too short"),  # R1
        ("0800FLOWERS", 484, "letters"),  # R1
        ("077123456789", 403, "M2M"),  # R5
    ],
)
def test_refused_calls_get_the_rules_sip_code_and_a_record(
    dialled: str, code: int, reason_words: str, peak_server: Callctl,
    call: Callable[..., SippResult],
) -> None:  # fmt: skip
    result = call(CLASSIC, UacCall(dialled, expect=code))
    assert result.returncode == 0, result.stderr[-2000:]
    r = only_record(peak_server, dialled)
    assert (r.action, r.sip_code, r.disposition, r.amount) == (
        "refuse", code, "REFUSED", Decimal(0),
    )  # fmt: skip
    assert r.reason is not None
    assert reason_words in r.reason


def test_paused_line_is_refused_but_emergency_still_connects(
    peak_server: Callctl, far_ends: Callable[..., FarEnd], call: Callable[..., SippResult]
) -> None:
    far_ends("psap-112-hainaut")  # the paused line is installed in Mons
    assert call(PAUSED, UacCall("022345679", expect=403)).returncode == 0
    assert call(PAUSED, UacCall("112", hold_ms=300)).returncode == 0
    mine = [r for r in peak_server.records() if r.line == PAUSED]
    assert [(r.dialled, r.action, r.sip_code, r.target) for r in mine] == [
        ("022345679", "refuse", 403, None),
        ("112", "route", None, "psap-112-hainaut"),
    ]


def test_far_end_hangs_up(peak_server: Callctl, lab: Lab, call: Callable[..., SippResult]) -> None:
    with FarEnd(lab.trunk_address("carrier"), hold_ms=1200) as far:
        time.sleep(0.2)
        result = call(CLASSIC, UacCall("022345670", wait_far_bye=True))
        check_answered(result, far, "+3222345670")
    r = only_record(peak_server, "022345670")
    assert (r.disposition, r.billsec) == ("ANSWERED", 2)


def test_call_refused_by_the_pbx_leaves_no_record(
    peak_server: Callctl, creds: dict[str, Credential]
) -> None:
    """A wrong password: Asterisk refuses the INVITE itself, callctl is never asked."""
    cred = creds[CLASSIC]
    before = len(peak_server.records())
    result = place_call(UacCall("022345673", expect=401), cred.username, "not-the-password")
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(peak_server.records()) == before
