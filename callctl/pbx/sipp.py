"""SIPp as the lab's callers and far ends: scenario files and processes.

SIPp (Debian's ``sip-tester``) does the SIP: digest auth, retransmissions, timers. SIPp
cannot template XML attributes, so the expected outcome of a call (answered and held, or
refused with a given code, or cancelled) is written into a scenario file per call kind.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from callctl.sip.message import SipRequest, request_uri_user

SIPP = "sipp"
PBX_ADDRESS = "127.0.0.1:5060"

_SDP = """v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000
"""

_INVITE = """INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:[field0]@[local_ip]:[local_port]>{contact_params}
Max-Forwards: 70
{auth}{headers}Content-Type: {content_type}
Content-Length: [len]

{body}"""

_ACK = """ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
[last_To:]
Call-ID: [call_id]
CSeq: {cseq} ACK
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

"""


@dataclass(frozen=True, slots=True)
class UacCall:
    """One call a line places through the PBX, and what it expects back."""

    dialled: str
    expect: int = 200  # final response code expected for the INVITE
    hold_ms: int = 1000  # answered: how long before the caller sends BYE
    wait_far_bye: bool = False  # answered: the far end hangs up, the caller answers 200
    cancel_after_ms: int | None = None  # send CANCEL this long after the INVITE
    ringing: bool = False  # with cancel_after_ms: wait for the 180 first, count from it
    headers: Mapping[str, str] = field(default_factory=dict)
    contact_params: str = ""
    body: str | None = None  # replaces the SDP; give content_type with it
    content_type: str = "application/sdp"

    @classmethod
    def from_request(cls, request: SipRequest, **outcome: Any) -> UacCall:
        """The call a captured INVITE makes, placed by a lab line: its dialled number, the
        headers and body it carries (the line, addresses and dialog come from SIPp; an INVITE
        without a body gets SIPp's SDP offer)."""
        contact = request.header("Contact") or ""
        return cls(
            dialled=unquote(request_uri_user(request) or ""),
            headers={
                name: value
                for name, value in request.headers.fields
                if name.lower() not in _DIALOG_HEADERS
            },
            contact_params=contact.partition(">")[2] if ">" in contact else "",
            # No body (a late offer): SIPp's own SDP offer, since its ACK carries no answer.
            body=request.body.decode("utf-8", "replace").replace("\r\n", "\n") or None,
            content_type=(request.header("Content-Type") if request.body else None)
            or "application/sdp",
            **outcome,
        )


_DIALOG_HEADERS = frozenset(
    {"via", "from", "to", "call-id", "cseq", "contact", "max-forwards", "content-type",
     "content-length", "route", "record-route", "authorization", "proxy-authorization"}
)  # fmt: skip
"""Header fields SIPp writes itself for the lab call, left out of a captured request's."""

LEFT_BRACKET_KEY = "lsb"
"""SIPp reads ``[`` as the start of a keyword: a literal one is sent as ``[lsb]``."""


def _literal(text: str) -> str:
    """Text SIPp sends as is (IPv6 addresses, DTDs): each ``[`` through a custom key."""
    return text.replace("[", f"[{LEFT_BRACKET_KEY}]")


def _invite(call: UacCall, cseq: int, auth: bool) -> str:
    headers = "".join(f"{k}: {_literal(v)}\n" for k, v in call.headers.items())
    return _INVITE.format(
        cseq=cseq,
        contact_params=call.contact_params,
        auth="[authentication]\n" if auth else "",
        headers=headers,
        content_type=_literal(call.content_type),
        body=_literal(call.body) if call.body is not None else _SDP,
    )


def _cdata(text: str) -> str:
    return "<![CDATA[\n" + text.replace("]]>", "]]]]><![CDATA[>") + "\n]]>"


def uac_scenario(call: UacCall) -> str:
    """A SIPp UAC scenario: INVITE, digest challenge, then the expected outcome."""
    cancelling = call.cancel_after_ms
    rtd = "" if cancelling is not None else ' start_rtd="decision"'
    steps = [
        f'<send retrans="500">{_cdata(_invite(call, 1, auth=False))}</send>',
        '<recv response="100" optional="true"/>',
        '<recv response="401" auth="true"/>',
        f"<send>{_cdata(_ACK.format(cseq=1))}</send>",
        f'<send retrans="500"{rtd}>{_cdata(_invite(call, 2, auth=True))}</send>',
        # Asterisk always sends 100 Trying; a CANCEL may only follow a provisional response.
        f'<recv response="100" optional="{"true" if cancelling is None else "false"}"/>',
    ]
    if call.cancel_after_ms is not None:
        if call.ringing:  # cancel_after_ms counts from the 180 (SIPp wants it mandatory)
            steps.append('<recv response="180"/>')
        steps += [
            f'<pause milliseconds="{call.cancel_after_ms}"/>',
            "<send>"
            + _cdata(
                "CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0\n"
                "[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n"
                "CSeq: 2 CANCEL\nMax-Forwards: 70\nContent-Length: 0\n\n"
            )
            + "</send>",
            '<recv response="180" optional="true"/>',
            '<recv response="183" optional="true"/>',
            '<recv response="200"/>',
            '<recv response="487"/>',
            f"<send>{_cdata(_ACK.format(cseq=2))}</send>",
        ]
    elif call.expect == 200:
        steps += [
            '<recv response="180" optional="true"/>',
            '<recv response="183" optional="true"/>',
            '<recv response="200" rtd="decision" rrs="true"/>',
            "<send>"
            + _cdata(
                "ACK [next_url] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];"
                "branch=[branch]\nFrom: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00"
                "[call_number]\n[last_To:]\n[routes]\nCall-ID: [call_id]\nCSeq: 2 ACK\n"
                "Contact: <sip:[field0]@[local_ip]:[local_port]>\nMax-Forwards: 70\n"
                "Content-Length: 0\n\n"
            )
            + "</send>",
        ]
        if call.wait_far_bye:
            steps += [
                '<recv request="BYE"/>',
                "<send>"
                + _cdata(
                    "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n"
                    "[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n"
                )
                + "</send>",
            ]
        else:
            steps += [
                f'<pause milliseconds="{call.hold_ms}"/>',
                '<send retrans="500">'
                + _cdata(
                    "BYE [next_url] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:"
                    "[local_port];branch=[branch]\nFrom: <sip:[field0]@[remote_ip]>;"
                    "tag=[pid]SIPpTag00[call_number]\n[last_To:]\n[routes]\n"
                    "Call-ID: [call_id]\nCSeq: 3 BYE\nContact: <sip:[field0]@[local_ip]:"
                    "[local_port]>\nMax-Forwards: 70\nContent-Length: 0\n\n"
                )
                + "</send>",
                '<recv response="200"/>',
            ]
    else:
        steps += [
            '<recv response="180" optional="true"/>',
            '<recv response="183" optional="true"/>',
            f'<recv response="{call.expect}" rtd="decision"/>',
            f"<send>{_cdata(_ACK.format(cseq=2))}</send>",
        ]
    body = "\n".join(steps)
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n'
        '<scenario name="callctl uac">\n'
        f"{body}\n"
        '<timewait milliseconds="200"/>\n'
        "</scenario>\n"
    )


def uas_scenario(hold_ms: int | None = None, ring_ms: int | None = None) -> str:
    """A far end (carrier or emergency centre) that answers every call.

    With ``hold_ms`` it hangs up itself after that long; otherwise it waits for the BYE.
    With ``ring_ms`` it rings that long before answering, and a CANCEL meanwhile ends the
    call (200 to the CANCEL, 487 to the INVITE).
    """
    ok = (
        "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01"
        "[call_number]\n[last_Call-ID:]\n[last_CSeq:]\n"
        "Contact: <sip:[local_ip]:[local_port];transport=[transport]>\n"
        "Content-Type: application/sdp\nContent-Length: [len]\n\n" + _SDP
    )
    ringing = (
        "SIP/2.0 180 Ringing\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01"
        "[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n"
    )
    capture = (
        '<recv request="INVITE"><action>'
        '<ereg regexp="sip:[^>;]*" search_in="hdr" header="Contact:" assign_to="contact"/>'
        '<ereg regexp=".*" search_in="hdr" header="From:" assign_to="from"/>'
        '<ereg regexp=".*" search_in="hdr" header="To:" assign_to="to"/>'
        "</action></recv>"
    )
    steps = [
        capture if hold_ms is not None else '<recv request="INVITE"/>',
        f"<send>{_cdata(ringing)}</send>",
    ]
    if ring_ms is not None:
        steps += _ringing(ring_ms)
    steps += [
        f'<send retrans="500">{_cdata(ok)}</send>',
        '<recv request="ACK"/>',
    ]
    if hold_ms is None:
        steps += [
            '<recv request="BYE"/>',
            "<send>"
            + _cdata(
                "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:]\n[last_Call-ID:]\n"
                "[last_CSeq:]\nContent-Length: 0\n\n"
            )
            + "</send>",
        ]
    else:
        steps += [
            f'<pause milliseconds="{hold_ms}"/>',
            '<send retrans="500">'
            + _cdata(
                "BYE [$contact] SIP/2.0\nVia: SIP/2.0/[transport] [local_ip]:[local_port];"
                "branch=[branch]\nFrom: [$to];tag=[pid]SIPpTag01[call_number]\nTo: [$from]\n"
                "Call-ID: [call_id]\nCSeq: 1 BYE\nMax-Forwards: 70\nContent-Length: 0\n\n"
            )
            + "</send>",
            '<recv response="200"/>',
        ]
    if ring_ms is not None:
        steps.append('<label id="done"/>')
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="callctl uas">\n'
        + "\n".join(steps)
        + "\n</scenario>\n"
    )


def _ringing(ring_ms: int) -> list[str]:
    """Ring ``ring_ms``, answering after it unless a CANCEL comes first (then: 200, 487)."""
    ok_cancel = (
        "SIP/2.0 200 OK\n[last_Via:]\n[last_From:]\n[last_To:];tag=[pid]SIPpTag01"
        "[call_number]\n[last_Call-ID:]\n[last_CSeq:]\nContent-Length: 0\n\n"
    )
    terminated = (
        "SIP/2.0 487 Request Terminated\n[last_Via:]\n[last_From:]\n[last_To:];"
        "tag=[pid]SIPpTag01[call_number]\n[last_Call-ID:]\nCSeq: [$cseq] INVITE\n"
        "Content-Length: 0\n\n"
    )
    return [
        f'<recv request="CANCEL" timeout="{ring_ms}" ontimeout="answer"><action>'
        '<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/>'
        "</action></recv>",
        f"<send>{_cdata(ok_cancel)}</send>",
        f"<send>{_cdata(terminated)}</send>",
        '<recv request="ACK" next="done"/>',
        '<label id="answer"/>',
    ]


def dial_user(dialled: str) -> str:
    """The Request-URI user part for a dial string (``#`` must be escaped as %23)."""
    return quote(dialled, safe="+*")


@dataclass
class SippResult:
    returncode: int
    stdout: str
    stderr: str
    messages: str  # the -trace_msg log: every message sent and received

    def post_dial_delay(self) -> float | None:
        """Seconds from the authenticated INVITE (CSeq 2) sent to its first final response
        received, from the log's time stamps; None if either is missing."""
        sent = received = None
        for when, direction, text in _timed_messages(self.messages):
            if "CSeq: 2 INVITE" not in text:
                continue
            if direction == "sent" and text.startswith("INVITE ") and sent is None:
                sent = when
            elif (direction == "received" and re.match(r"SIP/2\.0 [2-6]\d\d ", text)
                  and sent is not None):  # fmt: skip
                received = when
                break
        return None if sent is None or received is None else received - sent


def place_call(
    call: UacCall,
    username: str,
    password: str,
    *,
    local_port: int = 0,
    local_ip: str = "127.0.0.1",
    timeout: float = 60,
    pbx: str = PBX_ADDRESS,
) -> SippResult:
    """Place one call as a line, through the PBX, and wait for SIPp to finish."""
    if shutil.which(SIPP) is None:
        raise RuntimeError("sipp is not installed (Debian package sip-tester)")
    with tempfile.TemporaryDirectory(prefix="callctl-sipp-") as tmp:
        work = Path(tmp)
        scenario = work / "uac.xml"
        scenario.write_text(uac_scenario(call), encoding="utf-8")
        inject = work / "user.csv"
        inject.write_text(f"SEQUENTIAL\n{username};\n")
        log = work / "messages.log"
        cmd = [
            SIPP, pbx, "-sf", str(scenario), "-inf", str(inject),
            "-s", dial_user(call.dialled), "-au", username, "-ap", password,
            "-i", local_ip, "-p", str(local_port), "-m", "1", "-l", "1",
            "-key", LEFT_BRACKET_KEY, "[",
            "-nostdin", "-trace_err", "-error_file", str(work / "err.log"),
            "-trace_msg", "-message_file", str(log), "-timeout", f"{int(timeout)}s",
            "-timeout_error", "-recv_timeout", f"{int(timeout * 1000)}",
        ]  # fmt: skip
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout + 10, check=False, cwd=work
        )
        messages = log.read_text(errors="replace") if log.exists() else ""
        errors = (work / "err.log").read_text(errors="replace") if (
            work / "err.log").exists() else ""  # fmt: skip
        return SippResult(proc.returncode, proc.stdout, proc.stderr + errors, messages)


class FarEnd:
    """A SIPp UAS answering on a trunk's address (e.g. 127.0.0.2:5060 for the carrier)."""

    def __init__(
        self, address: str, hold_ms: int | None = None, ring_ms: int | None = None
    ) -> None:
        self.address = address
        self.hold_ms = hold_ms
        self.ring_ms = ring_ms
        self._tmp = tempfile.TemporaryDirectory(prefix="callctl-uas-")
        self.work = Path(self._tmp.name)
        self.log = self.work / "messages.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> FarEnd:
        ip, port = self.address.rsplit(":", 1)
        scenario = self.work / "uas.xml"
        scenario.write_text(uas_scenario(self.hold_ms, self.ring_ms), encoding="iso-8859-1")
        self.proc = subprocess.Popen(
            [SIPP, "-sf", str(scenario), "-i", ip, "-p", port, "-mi", ip, "-nostdin",
             "-trace_msg", "-message_file", str(self.log), "-trace_err",
             "-error_file", str(self.work / "err.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.work,
        )  # fmt: skip
        return self

    def messages(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def invites(self) -> list[str]:
        """Every INVITE this far end received, as text."""
        return [m for m in _split_messages(self.messages()) if m.startswith("INVITE ")]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> FarEnd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _split_messages(log: str) -> list[str]:
    """Messages received, from a SIPp -trace_msg log (a dashed line, a direction line)."""
    out = []
    for block in re.split(r"^-{20,} .*$", log, flags=re.MULTILINE):
        head, _, rest = block.lstrip("\n").partition("\n")
        if "message received" in head:
            out.append(rest.strip("\n") + "\n")
    return out


def _timed_messages(log: str) -> list[tuple[float, str, str]]:
    """(seconds, ``sent`` or ``received``, message) of a SIPp -trace_msg log, whose dashed
    lines end with the local time (``----- 2026-11-26 10:28:27.387429``); the seconds count
    from an arbitrary origin, for differences."""
    out = []
    parts = re.split(r"^-{20,} (.*)$", log, flags=re.MULTILINE)
    for stamp, block in zip(parts[1::2], parts[2::2], strict=True):
        head, _, rest = block.lstrip("\n").partition("\n")
        direction = "received" if "message received" in head else "sent"
        when = datetime.strptime(" ".join(stamp.split()[-2:]), "%Y-%m-%d %H:%M:%S.%f")
        out.append((when.timestamp(), direction, rest.strip("\n")))
    return out


@dataclass
class LoadResult:
    """What a :class:`SippLoad` saw: calls that went as its scenario expects, and the rest."""

    returncode: int
    successful: int
    failed: int
    errors: str  # the tail of SIPp's error file and stderr


class SippLoad:
    """Many calls of one line from one SIPp, in the background: ``calls`` calls at ``rate``
    per second (at most ``limit`` at once), each :func:`uac_scenario` of ``call``.

    A call counts as successful only if it went exactly as the scenario expects (for an
    answered call: answered, held ``hold_ms``, hung up by the caller with a 200 to its BYE),
    so a call cut by the PBX, or never answered, is a failed call; a call waiting
    ``recv_timeout_ms`` for a message fails too.
    """

    def __init__(
        self,
        call: UacCall,
        username: str,
        password: str,
        *,
        calls: int,
        rate: int,
        limit: int = 5000,
        local_ip: str = "127.0.0.1",
        pbx: str = PBX_ADDRESS,
        recv_timeout_ms: int = 20000,
    ) -> None:
        self.call = call
        self.recv_timeout_ms = recv_timeout_ms
        self.username = username
        self.password = password
        self.calls = calls
        self.rate = rate
        self.limit = limit
        self.local_ip = local_ip
        self.pbx = pbx
        self._tmp = tempfile.TemporaryDirectory(prefix="callctl-sipp-load-")
        self.work = Path(self._tmp.name)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> SippLoad:
        scenario = self.work / "uac.xml"
        scenario.write_text(uac_scenario(self.call), encoding="utf-8")
        (self.work / "user.csv").write_text(f"SEQUENTIAL\n{self.username};\n")
        # Long enough for every call to be placed and held, with room for slow answers.
        timeout = int(self.calls / self.rate + self.call.hold_ms / 1000 + 60)
        cmd = [
            SIPP, self.pbx, "-sf", str(scenario), "-inf", str(self.work / "user.csv"),
            "-s", dial_user(self.call.dialled), "-au", self.username, "-ap", self.password,
            "-i", self.local_ip, "-p", "0", "-r", str(self.rate), "-rp", "1000",
            "-m", str(self.calls), "-l", str(self.limit), "-nostdin",
            "-key", LEFT_BRACKET_KEY, "[",
            "-trace_stat", "-stf", str(self.work / "stat.csv"), "-fd", "1",
            "-trace_err", "-error_file", str(self.work / "err.log"),
            "-timeout", f"{timeout}s", "-timeout_error",
            "-recv_timeout", str(self.recv_timeout_ms),
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.work
        )
        return self

    def wait(self, timeout: float | None = None) -> LoadResult:
        """Wait for the last call to end; SIPp's counts (-1 when it wrote none)."""
        assert self.proc is not None, "not started"
        try:
            _, stderr = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        successful, failed = sipp_counts(self.work / "stat.csv")
        err = self.work / "err.log"
        errors = err.read_text(errors="replace")[-2000:] if err.exists() else ""
        return LoadResult(
            self.proc.returncode, successful, failed,
            (stderr.decode(errors="replace") + errors)[-2000:],
        )  # fmt: skip

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._tmp.cleanup()

    def __enter__(self) -> SippLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def sipp_counts(stat: Path) -> tuple[int, int]:
    """Successful and failed calls in the last row of a SIPp ``-trace_stat`` file (-1, -1
    when it has none)."""
    if not stat.exists():
        return -1, -1
    rows = [r.split(";") for r in stat.read_text().splitlines() if r.strip()]
    if len(rows) < 2:
        return -1, -1
    head, last = rows[0], rows[-1]
    return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])
