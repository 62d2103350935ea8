"""Live Phone2Go through the real PBX (R9): location trust from the request's headers and
source address, and one device at a time per licence (486), emergency excepted."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from tests.live.conftest import PEAK, PHONE2GO, PHONE2GO_LICENCE, Callctl

DEVICE_A = ';+sip.instance="<urn:uuid:6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c>"'
DEVICE_B = ';+sip.instance="<urn:uuid:0b7e5c1d-2f3a-4b8c-9d0e-1f2a3b4c5d6e>"'


def test_desktop_on_site_is_trusted_and_mobile_without_location_is_not(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    server = start_callctl(lines_db, PEAK)
    psap = far_ends("psap-112-liege")
    desktop = UacCall("112", hold_ms=300, headers={"X-Device-Type": "desktop"})
    mobile = UacCall(
        "112", hold_ms=300,
        headers={"X-Device-Type": "mobile", "P-Access-Network-Info": "IEEE-802.11"},
    )  # fmt: skip
    assert call(PHONE2GO_LICENCE, desktop).returncode == 0
    assert call(PHONE2GO_LICENCE, mobile).returncode == 0
    on_site, wifi = server.records()
    # The lab's site network is 127.0.0.0/24: the desktop app calls from the site.
    assert (on_site.target, on_site.location_source, on_site.location_trusted) == (
        "psap-112-liege", "site", True,
    )  # fmt: skip
    assert (wifi.target, wifi.location_source, wifi.location_trusted) == (
        "psap-112-liege", "declared_address", False,
    )  # fmt: skip
    assert any("not on a mobile network" in r for r in wifi.location_reasons)
    assert on_site.line == wifi.line == PHONE2GO
    assert len(psap.invites()) >= 1


def test_second_device_is_busy_except_for_emergency_and_helpline(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    server = start_callctl(lines_db, PEAK)
    far_ends("carrier")
    far_ends("psap-112-liege")
    first = UacCall("0470123456", hold_ms=4000, contact_params=DEVICE_A)
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_call = pool.submit(call, PHONE2GO_LICENCE, first)
        time.sleep(1.5)  # device A is in its call
        busy = call(PHONE2GO_LICENCE, UacCall("0470987654", expect=486, contact_params=DEVICE_B))
        sos = call(PHONE2GO_LICENCE, UacCall("112", hold_ms=300, contact_params=DEVICE_B))
        help_ = call(PHONE2GO_LICENCE, UacCall("116000", hold_ms=300, contact_params=DEVICE_B))
        assert in_call.result().returncode == 0
    assert busy.returncode == 0, busy.stderr[-2000:]
    assert sos.returncode == 0
    assert help_.returncode == 0
    by_dialled = {r.dialled: r for r in server.records()}
    assert (by_dialled["0470987654"].action, by_dialled["0470987654"].sip_code) == ("refuse", 486)
    assert by_dialled["112"].target == "psap-112-liege"
    assert by_dialled["116000"].target == "carrier"
    assert by_dialled["0470123456"].disposition == "ANSWERED"
