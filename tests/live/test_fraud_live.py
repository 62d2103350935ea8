"""Live: the fraud guard through the test PBX (docs/security.md).

Barring and velocity limits on real SIPp calls; repeated wrong passwords from one address
read from Asterisk's real security log, the address blocked by the pjsip ACL callctl
writes (403 before any authentication), while another address still places an emergency
call (R9), and the block lifted when callctl stops.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path

import pytest

from callctl.pbx.lab import Credential, Lab
from callctl.pbx.sipp import FarEnd, SippResult, UacCall, place_call
from callctl.service.authwatch import ACL_SECTION
from tests.live.conftest import CLASSIC, PEAK, Callctl, wait_for

ATTACKER = "127.0.0.50"  # never authenticated successfully: blockable
ABROAD = "+81312345678"


def small_limits(tmp_path: Path) -> Path:
    """The shipped tariff with at most 2 calls abroad at once per line."""
    text = resources.files("callctl.data").joinpath("tariff.toml").read_text("utf-8")
    path = tmp_path / "tariff.toml"
    path.write_text(text.replace("max_simultaneous = 4\n", "max_simultaneous = 2\n"), "utf-8")
    return path


def metric(server: Callctl, name: str, **labels: str) -> float:
    """One sample of the server's /metrics (loopback: no token needed)."""
    url = f"http://127.0.0.1:{server.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for row in text.splitlines():
        if row.startswith(want + " "):
            return float(row.split()[-1])
    return 0.0


@contextmanager
def answering(lab: Lab) -> Iterator[None]:
    """The carrier and the Brussels 112 centre answer (the Classic line's centre)."""
    with ExitStack() as stack:
        for trunk in ("carrier", "psap-112-brussels"):
            stack.enter_context(FarEnd(lab.trunk_address(trunk)))
        time.sleep(0.2)  # SIPp binds its sockets
        yield


@pytest.fixture
def serve(lab: Lab, lines_db: str, tmp_path: Path) -> Iterator[Callctl]:
    """``callctl serve`` with the lab's security log and ACL, and two calls abroad at most."""
    env = {**lab.fraud_settings(), "CALLCTL_TARIFF": str(small_limits(tmp_path))}
    server = Callctl(lines_db, PEAK, tmp_path, env=env).start()
    try:
        yield server
    finally:
        server.stop()


def test_barred_and_over_the_limit_calls_abroad_are_refused_live(
    lab: Lab, serve: Callctl, creds: dict[str, Credential]
) -> None:
    cred = creds[CLASSIC]
    with answering(lab):
        barred = place_call(UacCall("+870776123456", expect=403), cred.username, cred.password)
        assert barred.returncode == 0, barred.stderr
        held = [UacCall(ABROAD, hold_ms=4000), UacCall("+33142685300", hold_ms=4000)]
        with ThreadPoolExecutor(max_workers=2) as pool:
            running = [pool.submit(place_call, spec, cred.username, cred.password) for spec in held]
            assert wait_for(lambda: metric(serve, "callctl_active_calls") == 2, 10)
            third = place_call(UacCall(ABROAD, expect=403), cred.username, cred.password)
            emergency = place_call(UacCall("112", hold_ms=200), cred.username, cred.password)
            results = [f.result() for f in running]
    assert third.returncode == 0, third.stderr
    assert [r.returncode for r in results] == [0, 0]
    assert emergency.returncode == 0, emergency.stderr  # R9: over the limits, still routed
    assert wait_for(lambda: len(serve.records()) >= 5, 10)
    by_alert = {r.alert: r for r in serve.records() if r.alert}
    assert set(by_alert) == {"high_cost_barred", "velocity_calls"}
    assert by_alert["high_cost_barred"].sip_code == 403
    assert "satellite" in (by_alert["high_cost_barred"].reason or "")
    assert by_alert["velocity_calls"].reason == (
        "fraud guard: at most 2 international calls at once on this line"
    )
    answered = [r for r in serve.records() if r.disposition == "ANSWERED"]
    assert sorted(r.group for r in answered) == ["emergency", "international", "zone"]
    assert all(r.billsec >= 3 for r in answered if r.group != "emergency")
    assert metric(serve, "callctl_fraud_alerts_total", kind="velocity_calls") == 1
    assert metric(serve, "callctl_fraud_alerts_total", kind="high_cost_barred") == 1


def attempt(cred: Credential, password: str, spec: UacCall, ip: str) -> SippResult:
    return place_call(spec, cred.username, password, local_ip=ip, timeout=10)


def test_repeated_wrong_passwords_block_the_address_but_never_an_emergency_call(
    lab: Lab, serve: Callctl, creds: dict[str, Credential]
) -> None:
    cred = creds[CLASSIC]
    with answering(lab):
        for _ in range(5):
            wrong = attempt(cred, "not-the-password", UacCall("022345678", expect=401), ATTACKER)
            assert wrong.returncode == 0, wrong.stderr
        assert wait_for(lambda: f"deny = {ATTACKER}/32" in lab.acl_file.read_text(), 10)
        assert wait_for(lambda: metric(serve, "callctl_blocked_addresses") == 1, 5)
        assert metric(serve, "callctl_fraud_alerts_total", kind="auth_block") == 1
        time.sleep(0.5)  # the reload runs after the file is written
        # The right password no longer helps from that address: 403 before any challenge.
        blocked = attempt(cred, cred.password, UacCall("022345678"), ATTACKER)
        assert blocked.returncode != 0
        assert "SIP/2.0 403" in blocked.messages
        assert "SIP/2.0 401" not in blocked.messages
        # R9: a line that authenticates from its own address still reaches 112.
        emergency = place_call(UacCall("112", hold_ms=500), cred.username, cred.password)
        assert emergency.returncode == 0, emergency.stderr
        assert wait_for(lambda: any(r.group == "emergency" for r in serve.records()), 10)
        serve.stop()  # blocks end with the process that made them
        assert ACL_SECTION not in lab.acl_file.read_text()
        again = attempt(cred, cred.password, UacCall("022345678", hold_ms=200), ATTACKER)
        assert "SIP/2.0 401" in again.messages  # challenged again: no longer blocked
