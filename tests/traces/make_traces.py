"""Regenerate the pcap fixtures of tests/traces/ from the test PBX: ``scripts/make-traces``.

Each scenario places real calls with SIPp through the test PBX (Asterisk and ``callctl
serve``, the lab lines of ``dialplan/lab-lines.yaml``) while ``dumpcap`` captures the lines'
side on the loopback interface (the PBX's legs to the trunks are left out by the capture
filter: they are not calls of a line). The capture is then moved in time so that its first
packet is at ``START`` (a Thursday at 10:00, peak), so the expected records do not depend on
the day it was made. Needs root and the live lock (the wrapper takes it).

``python -m tests.traces.make_traces [NAME ...]`` makes the named fixtures (default: all).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from callctl.data import default_tariff
from callctl.pbx.session import LabSession, Placement, lab_session
from callctl.pbx.sipp import UacCall
from callctl.replay.live import lab_call
from callctl.sip.message import parse_request
from callctl.trace.synth import retime

HERE = Path(__file__).resolve().parent
INVITES = HERE.parent / "invites"
START = datetime.fromisoformat("2026-11-26T10:00:00+01:00")
CLOCK = START.isoformat()
# The lines' side only: not the PBX's legs to the carrier (127.0.0.2) and emergency centres.
CAPTURE_FILTER = (
    "udp port 5060 and not host 127.0.0.2 and not net 127.0.1.0/24 and not net 127.0.2.0/24"
)

CLASSIC, ANYTIME, KLIK, P2G, PAUSED = (
    "+3222000001",
    "+3222000002",
    "+3292000003",
    "+3242000014",
    "+3265000005",
)
HOLD = 1500  # ms: 2 billed seconds (R4), half a second from either boundary
DEVICE_A = ';+sip.instance="<urn:uuid:6f1c2b3a-8d4e-4f5a-9b6c-7d8e9f0a1b2c>"'
DEVICE_B = ';+sip.instance="<urn:uuid:0b7e5c1d-2f3a-4b8c-9d0e-1f2a3b4c5d6e>"'


@dataclass(frozen=True)
class Scenario:
    calls: tuple[Placement, ...]
    trunks: tuple[str, ...] = ("carrier",)
    ring_ms: int | None = None


def _answered(offset: float, number: str, dialled: str, hold: int = HOLD) -> Placement:
    return Placement(offset, number, UacCall(dialled, hold_ms=hold))


def _invite(offset: float, number: str, name: str, local_ip: str = "127.0.0.1") -> Placement:
    request = parse_request((INVITES / f"{name}.sip").read_bytes())
    return Placement(offset, number, lab_call(request, number, hold_ms=HOLD), local_ip)


SCENARIOS = {
    # Every destination group from a Classic line at peak, and the other products' prices.
    "groups.pcap": Scenario(
        tuple(
            _answered(i * 1.0, number, dialled)
            for i, (number, dialled) in enumerate(
                [
                    (CLASSIC, "022345678"),
                    (CLASSIC, "0470123456"),
                    (CLASSIC, "+33142685300"),
                    (CLASSIC, "+212612345678"),
                    (CLASSIC, "+81312345678"),
                    (CLASSIC, "080012345"),
                    (CLASSIC, "1813"),
                    (CLASSIC, "070123456"),
                    (CLASSIC, "090312345"),
                    (CLASSIC, "090512345"),
                    (CLASSIC, "112"),
                    (ANYTIME, "+33142685300"),
                    (KLIK, "+212612345678"),
                    (KLIK, "0470123456"),
                ]
            )
        ),
        trunks=("carrier", "psap-112-brussels"),
    ),
    # Refused calls (R1, R5, R7, R9) and a licence's second device while the first is in a call.
    "refusals.pcapng": Scenario(
        (
            Placement(0.0, CLASSIC, UacCall("0800FLOWERS", expect=484)),
            Placement(1.0, PAUSED, UacCall("022345678", expect=403)),
            Placement(2.0, P2G, UacCall("+33142685300", expect=403)),
            Placement(3.0, CLASSIC, UacCall("077123456", expect=403)),
            Placement(4.0, P2G, UacCall("0470123456", hold_ms=4500, contact_params=DEVICE_A)),
            Placement(5.5, P2G, UacCall("0470987654", expect=486, contact_params=DEVICE_B)),
        )
    ),
    # A call cancelled while ringing (487), then one answered after the same ringing.
    "cancel.pcap": Scenario(
        (
            Placement(0.0, CLASSIC, UacCall("022345679", cancel_after_ms=1500, ringing=True)),
            Placement(4.0, CLASSIC, UacCall("0470123457", hold_ms=HOLD)),
        ),
        ring_ms=3000,
    ),
    # Emergency calls with their location (R9): mobile app (trusted, untrusted), desktop app on
    # and off site, a Voice Pro line.
    "emergency.pcapng": Scenario(
        (
            _invite(0.0, P2G, "mobile-grandplace-112"),
            _invite(1.0, P2G, "mobile-zaventem-112"),
            _invite(2.0, P2G, "mobile-wifi-112"),
            _invite(3.0, P2G, "mobile-wavre-101"),
            _invite(4.0, P2G, "desktop-onsite-112"),
            _invite(5.0, P2G, "desktop-offsite-112", local_ip="127.0.9.1"),
            _invite(6.0, CLASSIC, "voicepro-112"),
        ),
        trunks=(
            "psap-112-brussels",
            "psap-112-vlaams-brabant",
            "psap-112-liege",
            "cic-101-brabant-wallon",
        ),
    ),
}


def capture(session: LabSession, scenario: Scenario, target: Path, work: Path) -> None:
    """Place the scenario's calls while dumpcap captures, then write the moved capture."""
    raw = work / f"{target.name}.raw.pcapng"
    dumpcap = subprocess.Popen(
        ["dumpcap", "-q", "-i", "lo", "-f", CAPTURE_FILTER, "-w", str(raw)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while not raw.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the capture filter is in place
    try:
        results = session.place(scenario.calls)
        time.sleep(1.0)  # the last retransmissions and 200s to BYE
    finally:
        dumpcap.send_signal(signal.SIGINT)
        dumpcap.wait(timeout=10)
    pairs = zip(scenario.calls, results, strict=True)
    failed = [(p.call.dialled, r.stderr[-500:]) for p, r in pairs if r.returncode]
    if failed:
        raise SystemExit(f"{target.name}: calls failed: {failed}")
    with raw.open("rb") as source, target.open("wb") as out:
        count = retime(source, out, START, pcapng=target.suffix == ".pcapng")
    print(f"{target.name}: {len(scenario.calls)} calls, {count} packets, "
          f"{target.stat().st_size} bytes")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", choices=[*SCENARIOS, []], metavar="NAME")
    args = parser.parse_args(argv)
    if shutil.which("dumpcap") is None:
        print("dumpcap is missing: scripts/system-deps installs it", file=sys.stderr)
        return 1
    tariff = default_tariff()
    for name in args.names or SCENARIOS:
        scenario = SCENARIOS[name]
        with tempfile.TemporaryDirectory(prefix="callctl-traces-") as tmp:
            work = Path(tmp)
            with lab_session(tariff, work, clock=CLOCK, trunks=scenario.trunks,
                             ring_ms=scenario.ring_ms) as session:  # fmt: skip
                capture(session, scenario, HERE / name, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
