"""Live calls on lines of each product and band, and with callctl down (R3–R10)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from callctl.pbx.lab import Lab
from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from callctl.sip.message import parse_request
from tests.live.conftest import (
    CLASSIC,
    KLIK,
    OFFPEAK,
    PEAK,
    PHONE2GO,
    PHONE2GO_LICENCE,
    Callctl,
    records,
    run_cli,
    wait_for,
)
from tests.live.test_calls import HOLD_MS, amount
from tests.test_route_cli import INVITES

# ------------------------------------------------------------------ products and bands


def test_offpeak_classic_uses_allowance_and_bundle(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    server = start_callctl(lines_db, OFFPEAK)
    far_ends("carrier")
    for dialled in ("022345678", "+33142685300"):
        assert call(CLASSIC, UacCall(dialled, hold_ms=HOLD_MS)).returncode == 0
    be, zone = server.records()
    # R3/R5/R7: Belgian off-peak is unlimited and counts toward fair use
    assert (be.offpeak_seconds, be.fair_use_seconds, be.amount) == (2, 2, Decimal(0))
    # R5/R6: off-peak zone seconds come from the bundle, no setup fee
    assert (zone.bundle_seconds, zone.setup_fee, zone.amount) == (2, Decimal(0), Decimal(0))


def test_klik_and_phone2go_lines(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    server = start_callctl(lines_db, PEAK)
    far_ends("carrier")
    far_ends("psap-112-liege")
    assert call(KLIK, UacCall("022345678", hold_ms=HOLD_MS)).returncode == 0
    assert call(KLIK, UacCall("+212612345678", hold_ms=HOLD_MS)).returncode == 0
    assert call(PHONE2GO_LICENCE, UacCall("0470123456", hold_ms=HOLD_MS)).returncode == 0
    assert call(PHONE2GO_LICENCE, UacCall("+33142685300", expect=403)).returncode == 0
    assert call(PHONE2GO_LICENCE, UacCall("112", hold_ms=300)).returncode == 0
    klik_be, klik_ma, p2g_mobile, p2g_zone, p2g_112 = server.records()
    assert (klik_be.amount, klik_be.fair_use_seconds) == (Decimal(0), 2)  # R5 KLIK peak free
    assert klik_ma.amount == amount("0.83", 2, setup="0.08")  # R5 KLIK ma_tr
    assert (p2g_mobile.line, p2g_mobile.amount, p2g_mobile.fair_use_seconds) == (
        PHONE2GO, Decimal(0), 2,
    )  # fmt: skip
    assert (p2g_zone.action, p2g_zone.sip_code) == ("refuse", 403)  # R9 restriction
    assert p2g_112.target == "psap-112-liege"  # R9: the installation address in Liège


# ------------------------------------------------------------------ callctl down


def test_callctl_down_fallback_then_reconcile(
    lines_db: str, lab: Lab, far_ends: Callable[..., FarEnd], call: Callable[..., SippResult]
) -> None:
    far_ends("carrier")
    psap = far_ends("psap-112-brussels")
    cdr_before = lab.cdr_file.read_text() if lab.cdr_file.exists() else ""
    assert call(CLASSIC, UacCall("112", hold_ms=300)).returncode == 0  # emergency connects
    assert psap.invites()
    assert call(CLASSIC, UacCall("022345671", hold_ms=HOLD_MS)).returncode == 0  # Belgian
    assert call(CLASSIC, UacCall("+33142685301", expect=503)).returncode == 0  # the rest
    cdr = Path(lines_db.removeprefix("sqlite:///")).with_name("cdr.csv")
    cdr.write_text(lab.cdr_file.read_text()[len(cdr_before) :])
    out = run_cli("reconcile", str(cdr), "--db", lines_db).stdout
    assert "2 recorded now" in out, out  # 112 and the Belgian call; the 503 was not routed
    again = run_cli("reconcile", str(cdr), "--db", lines_db).stdout
    assert "0 recorded now" in again, again  # running it twice adds nothing
    by_dialled = {r.dialled: r for r in records(lines_db)}
    be = by_dialled["022345671"]
    assert (be.source, be.group, be.target, be.billsec) == ("reconcile", "be_fixed", "carrier", 2)
    assert by_dialled["112"].target == "psap-112-brussels"
    assert "+33142685301" not in by_dialled


def test_phone2go_emergency_with_location_and_callctl_down(
    lab: Lab, far_ends: Callable[..., FarEnd], call: Callable[..., SippResult]
) -> None:
    """R9 with callctl down: the licence's own centre (its line's installation address, Liège)
    gets the call, the caller's number and the location the app sent."""
    liege = far_ends("psap-112-liege")
    cdr_before = lab.cdr_file.read_text() if lab.cdr_file.exists() else ""
    request = parse_request((INVITES / "mobile-grandplace-112.sip").read_bytes())
    assert call(PHONE2GO_LICENCE, UacCall.from_request(request, hold_ms=300)).returncode == 0
    assert wait_for(lambda: len(liege.invites()) == 1, 5)
    received = liege.invites()[0]
    assert PHONE2GO_LICENCE in received.split("\n\n", 1)[0]
    assert "<gml:pos>50.8467 4.3525</gml:pos>" in received
    assert wait_for(
        lambda: "fallback:psap-112-liege" in lab.cdr_file.read_text()[len(cdr_before) :], 5
    )
