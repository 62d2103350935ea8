"""pyVoIP, a SIP stack other than SIPp, as a lab line on the real PBX (R1, R2, R10).

pyVoIP registers as the Classic line with digest auth (MD5), places a call through the PBX
that reaches the carrier and that callctl records once (R10), and answers a call the carrier
sends in (dialplan [from-trunk]: a Belgian number of a line rings that line's endpoint;
anything else is refused with 403). The carrier's side of an incoming call is SIPp bound to
the carrier's address, 127.0.0.2, without authentication: trunks are identified by address.

pyVoIP's ACK comes about a second late and its call callback starts a second after the
INVITE: no timing is asserted here beyond generous bounds.
"""

from __future__ import annotations

import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyVoIP.VoIP import CallState, PhoneStatus, VoIPCall, VoIPPhone

from callctl.core.records import CallRecord
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.sipp import PBX_ADDRESS, SIPP, FarEnd
from tests.live.conftest import CLASSIC, Callctl, wait_for

CARRIER_IP = "127.0.0.2"  # dialplan/pjsip.conf: the carrier trunk is identified by it
CALLER = "+3222345678"  # who the carrier says is calling
REGISTER_WAIT = 10.0
HOLD_S = 1.5


def free_udp_port(ip: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def contacts(lab: Lab, endpoint: str) -> str:
    """The PBX's registered contacts of an endpoint's AOR (``pjsip show aor``)."""
    return lab.cli(f"pjsip show aor {endpoint}")


@dataclass
class Incoming:
    """What the phone's call callback saw of incoming calls (it runs in pyVoIP's thread)."""

    answered: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    callers: list[str | None] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def on_call(self, call: VoIPCall) -> None:
        try:
            self.callers.append(call.request.headers["From"]["number"])
            call.answer()
            self.answered.set()
            # The caller hangs up (BYE through the PBX); never keep pyVoIP's thread for long.
            if wait_for(lambda: call.state == CallState.ENDED, timeout=20):
                self.ended.set()
        except BaseException as exc:  # reported by the test, not lost in pyVoIP's thread
            self.errors.append(exc)


@dataclass
class Phone:
    phone: VoIPPhone
    port: int
    incoming: Incoming


def start_phone(cred: Credential, password: str | None = None) -> Phone:
    incoming = Incoming()
    port = free_udp_port()
    phone = VoIPPhone(
        "127.0.0.1", 5060, cred.username, cred.password if password is None else password,
        myIP="127.0.0.1", sipPort=port, callCallback=incoming.on_call,
        rtpPortLow=42000, rtpPortHigh=42999,  # away from Asterisk's and SIPp's RTP ports
    )  # fmt: skip
    phone.start()
    return Phone(phone, port, incoming)


def stop_phone(phone: VoIPPhone) -> None:
    if phone.get_status() not in (PhoneStatus.INACTIVE, PhoneStatus.FAILED):
        phone.stop()
    else:
        phone.sip.stop()  # closes its socket; a no-op when pyVoIP already stopped itself


@pytest.fixture
def registered(creds: dict[str, Credential], lab: Lab) -> Iterator[Phone]:
    """pyVoIP registered as the Classic line; the PBX shows its contact."""
    cred = creds[CLASSIC]
    phone = start_phone(cred)
    try:
        contact = f"sip:{cred.username}@127.0.0.1:{phone.port}"
        status = phone.phone.get_status
        assert wait_for(lambda: status() == PhoneStatus.REGISTERED, 5), status()
        shown = wait_for(lambda: contact in contacts(lab, cred.endpoint), REGISTER_WAIT)
        assert shown, contacts(lab, cred.endpoint)  # the PBX's own word, not pyVoIP's
        # A refused registration only shows about a second later: it must not come.
        time.sleep(1.2)
        assert phone.phone.get_status() == PhoneStatus.REGISTERED
        yield phone
    finally:
        stop_phone(phone.phone)


def test_a_wrong_password_does_not_register(creds: dict[str, Credential], lab: Lab) -> None:
    cred = creds[CLASSIC]
    phone = start_phone(cred, password="not-" + cred.password)
    try:
        assert wait_for(lambda: phone.phone.get_status() == PhoneStatus.FAILED, REGISTER_WAIT)
        assert f"127.0.0.1:{phone.port}" not in contacts(lab, cred.endpoint)
    finally:
        stop_phone(phone.phone)


def wait_records(server: Callctl, dialled: str, timeout: float = 10) -> list[CallRecord]:
    found: list[CallRecord] = []

    def check() -> bool:
        found[:] = [r for r in server.records() if r.dialled == dialled]
        return bool(found)

    wait_for(check, timeout, step=0.2)
    return found


def test_pyvoip_places_a_call_that_callctl_records(
    registered: Phone,
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
) -> None:
    server = start_callctl(lines_db)
    carrier = far_ends("carrier")
    call = registered.phone.call("022345678")
    try:
        assert wait_for(lambda: call.state == CallState.ANSWERED, 15), call.state
        time.sleep(HOLD_S)
    finally:
        if call.state == CallState.ANSWERED:
            call.hangup()
    recs = wait_records(server, "022345678")
    assert len(recs) == 1, recs  # R10: one record per call
    r = recs[0]
    assert (r.line, r.group, r.e164, r.action, r.target, r.disposition) == (
        CLASSIC, "be_fixed", "+3222345678", "route", "carrier", "ANSWERED",
    )  # fmt: skip
    assert 1 <= r.billsec <= 10  # R4: what pyVoIP held, with room for its late ACK
    assert r.amount > 0  # a peak Belgian call on Classic is charged
    # SIPp writes its message log in its own time: wait for the INVITE to show there.
    assert wait_for(lambda: bool(carrier.invites()), 5), "the carrier received no INVITE"
    invites = carrier.invites()
    assert invites[-1].startswith("INVITE sip:+3222345678@")  # R1/R2: sent as E.164


def carrier_call_scenario(expect: int, hold_ms: int) -> str:
    """A SIPp UAC as the carrier: INVITE without auth, then ``expect``; if 200, BYE later."""
    sdp = (
        "v=0\no=carrier 1 1 IN IP[local_ip_type] [local_ip]\ns=-\n"
        "c=IN IP[media_ip_type] [media_ip]\nt=0 0\nm=audio [media_port] RTP/AVP 0\n"
        "a=rtpmap:0 PCMU/8000\n"
    )
    invite = (
        "INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
        "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
        f"From: <sip:{CALLER}@[local_ip]>;tag=[pid]SIPpTag00[call_number]\n"
        "To: <sip:[service]@[remote_ip]:[remote_port]>\n"
        "Call-ID: [call_id]\nCSeq: 1 INVITE\n"
        f"Contact: <sip:{CALLER}@[local_ip]:[local_port]>\n"
        "Max-Forwards: 70\nContent-Type: application/sdp\nContent-Length: [len]\n\n" + sdp
    )
    steps = [
        f'<send retrans="500"><![CDATA[\n{invite}\n]]></send>',
        '<recv response="100" optional="true"/>',
        '<recv response="180" optional="true"/>',
        '<recv response="183" optional="true"/>',
    ]
    if expect == 200:
        steps += [
            '<recv response="200" rrs="true"/>',
            "<send><![CDATA[\nACK [next_url] SIP/2.0\n"
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
            f"From: <sip:{CALLER}@[local_ip]>;tag=[pid]SIPpTag00[call_number]\n"
            "[last_To:]\n[routes]\nCall-ID: [call_id]\nCSeq: 1 ACK\n"
            f"Contact: <sip:{CALLER}@[local_ip]:[local_port]>\n"
            "Max-Forwards: 70\nContent-Length: 0\n\n]]></send>",
            f'<pause milliseconds="{hold_ms}"/>',
            '<send retrans="500"><![CDATA[\nBYE [next_url] SIP/2.0\n'
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
            f"From: <sip:{CALLER}@[local_ip]>;tag=[pid]SIPpTag00[call_number]\n"
            "[last_To:]\n[routes]\nCall-ID: [call_id]\nCSeq: 2 BYE\n"
            f"Contact: <sip:{CALLER}@[local_ip]:[local_port]>\n"
            "Max-Forwards: 70\nContent-Length: 0\n\n]]></send>",
            '<recv response="200"/>',
        ]
    else:
        steps += [
            f'<recv response="{expect}"/>',
            "<send><![CDATA[\nACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
            "Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]\n"
            f"From: <sip:{CALLER}@[local_ip]>;tag=[pid]SIPpTag00[call_number]\n"
            "[last_To:]\nCall-ID: [call_id]\nCSeq: 1 ACK\nMax-Forwards: 70\n"
            "Content-Length: 0\n\n]]></send>",
        ]
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="carrier uac">\n'
        + "\n".join(steps)
        + '\n<timewait milliseconds="200"/>\n</scenario>\n'
    )


def carrier_calls(number: str, expect: int, hold_ms: int = 1500, timeout: int = 30) -> str:
    """SIPp calls ``number`` through the PBX from the carrier's address; its message log.

    Fails the test unless the call went as ``expect`` said.
    """
    with tempfile.TemporaryDirectory(prefix="callctl-carrier-") as tmp:
        work = Path(tmp)
        scenario = work / "carrier.xml"
        scenario.write_text(carrier_call_scenario(expect, hold_ms), encoding="iso-8859-1")
        log = work / "messages.log"
        cmd = [
            SIPP, PBX_ADDRESS, "-sf", str(scenario), "-s", number,
            "-i", CARRIER_IP, "-p", str(free_udp_port(CARRIER_IP)), "-m", "1", "-l", "1",
            "-nostdin", "-trace_msg", "-message_file", str(log), "-trace_err",
            "-error_file", str(work / "err.log"), "-timeout", f"{timeout}s", "-timeout_error",
            "-recv_timeout", str(timeout * 1000),
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout + 10, check=False, cwd=work
        )
        messages = log.read_text(errors="replace") if log.exists() else ""
        errors = (work / "err.log").read_text(errors="replace") if (
            work / "err.log").exists() else ""  # fmt: skip
    assert proc.returncode == 0, f"{proc.stderr}\n{errors}\n{messages[-4000:]}"
    return messages


def test_pyvoip_answers_a_call_from_the_carrier(registered: Phone) -> None:
    messages = carrier_calls(CLASSIC, expect=200)
    assert registered.incoming.answered.wait(5), "pyVoIP's callback never answered"
    assert registered.incoming.ended.wait(10), "the caller's BYE never reached pyVoIP"
    assert not registered.incoming.errors, registered.incoming.errors
    assert registered.incoming.callers == [CALLER]  # the carrier's caller id, passed on
    assert "SIP/2.0 200 OK" in messages


@pytest.mark.parametrize(
    "number",
    [
        "+3222345678",  # Belgian, but not a line of this PBX
        "022000001",  # a line's number, but not in E.164
        "+33142685300",  # not Belgian
        "3222000001",  # the endpoint's name itself
    ],
)
def test_carrier_calls_to_anything_but_a_line_are_refused(number: str, lab: Lab) -> None:
    del lab
    carrier_calls(number, expect=403)
