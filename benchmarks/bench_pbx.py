"""Calls through the real test PBX with SIPp: callctl's latencies and its CPU cost per call.

Run as root from the repository root (the test PBX runs in a chroot; see ``callctl pbx``)::

    .venv/bin/python benchmarks/bench_pbx.py            # everything (about 10 minutes)
    .venv/bin/python benchmarks/bench_pbx.py --quick    # 100 calls per run, no ramp
    .venv/bin/python benchmarks/bench_pbx.py --db sqlite --no-ramp --json

One *run* places ``--calls`` calls at ``--rate`` calls per second from one lab line
(+32 2 200 00 01, a Classic line) to a Belgian fixed number, with SIPp as the line (digest
auth, the scenario of :func:`callctl.pbx.sipp.uac_scenario`, answered calls held
``--hold-ms``, a re-INVITE from the PBX answered as a phone would: see
:func:`phone_scenario`) and a SIPp UAS as the carrier on its trunk address
(127.0.0.2:5060). Each call costs callctl one ``route`` request and one ``hangup`` request
over FastAGI.

(b) Latencies, on SQLite and on PostgreSQL (a fresh database each run): a packet capture
    of the FastAGI port and of SIP on the loopback interface (``dumpcap``, kernel time
    stamps) sees every request without touching the product:

    - *AGI decision*: from Asterisk's connection attempt (SYN) to the ``SET VARIABLE
      CALLCTL`` packet, and from the end of the environment block to it (callctl alone);
    - *hangup to record committed*: from the time Asterisk's hangup handler started, which
      the dialplan sends as ``${STRFTIME(,,%s.%6q)}`` (second argument of the hangup
      request, the call's end for callctl too), to the ``SET VARIABLE CALLCTL_RECORDED``
      packet, which callctl sends only after the record's transaction committed. Target:
      p99 50 ms.

    - *post-dial delay*: the caller's authenticated INVITE to its 200 OK, through callctl,
      the PBX and the carrier. SIPp's own figure for it (``-trace_rtt``, the scenario's
      ``decision`` rtd) is kept in the JSON too; it counts in 4 ms steps here.

(c) The same run with the dialplan's ``CALLCTL_BYPASS`` global set to ``yes`` (set at run
    time with ``dialplan set global``, reset to ``no`` afterwards): calls go straight to
    ``[callctl-fallback]``, as if callctl were down. Compared: the CPU time of Asterisk,
    of callctl (and of PostgreSQL) per call, from ``/proc/<pid>/stat``, and the highest
    rate in a ramp (``--ramp``, ``--ramp-seconds`` of calls per step) with zero failures:
    every call answered and ended as SIPp expects, and with callctl every call decided
    (no deadline hit, no fallback) and recorded.

Before each run the script waits until the FastAGI port 4573 and the carrier's address are
free (the live tests use both), starts the PBX if someone stopped it and waits until it has
no call left. A run during which Asterisk restarted (another user of the lab) is done again.
If the script started the PBX, it stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from callctl.data import default_tariff
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.serve_process import ServeProcess
from callctl.pbx.sipp import UacCall, dial_user, uac_scenario, uas_scenario
from callctl.store import make_engine
from callctl.store.lines_yaml import parse_lines_yaml

ROOT = Path(__file__).resolve().parents[1]
LAB_LINES = ROOT / "dialplan" / "lab-lines.yaml"
AGI_PORT = 4573
SIP_PORT = 5060
TCP, UDP = 6, 17
LINE = "+3222000001"
DIALLED = "022345678"  # a Belgian fixed number, as a SIP phone sends it
PBX = "127.0.0.1:5060"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_HANGUP_P99_MS = 50.0
OTHERS_WARNING = 0.10  # share of the machine used by other processes worth a warning
DEFAULT_RAMP = (50, 75, 100, 125, 150, 200, 300, 400, 500, 600, 800)


# ----------------------------------------------------------------------------- helpers


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads) in seconds; 0 if it is gone."""
    try:
        text_ = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text_[text_.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pids_named(comm: str) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == comm:
                    out.append(int(entry.name))
            except OSError:
                continue
    return out


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


def port_free(family: int, kind: int, address: tuple[str, int]) -> bool:
    with socket.socket(family, kind) as s:
        if kind == socket.SOCK_STREAM:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(address)
        except OSError:
            return False
    return True


def wait_until_free(carrier: tuple[str, int], timeout: float) -> None:
    """Wait until nobody serves FastAGI on 4573 nor answers on the carrier's address."""
    deadline = time.monotonic() + timeout
    told = False
    while True:
        agi = port_free(socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", AGI_PORT))
        far = port_free(socket.AF_INET, socket.SOCK_DGRAM, carrier)
        if agi and far:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("port 4573 or the carrier's address stayed in use")
        if not told:
            print("waiting for port 4573 and the carrier's address to be free…", file=sys.stderr)
            told = True
        time.sleep(1)


# ----------------------------------------------------------------------------- capture


@dataclass
class _Conn:
    syn: float
    client: bytearray = field(default_factory=bytearray)
    env_end: float | None = None
    answer: float | None = None
    answer_line: bytes = b""


def _packets(path: Path) -> Iterator[tuple[float, int, int, int, int, bytes]]:
    """(time, protocol, source port, destination port, TCP flags, payload) of a pcap file."""
    data = path.read_bytes()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path} is not a pcap file")
    scale = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    (link,) = struct.unpack(endian + "I", data[20:24])
    skip = {1: 14, 113: 16, 276: 20, 0: 4, 101: 0}.get(link)
    if skip is None:
        raise ValueError(f"{path}: link type {link} not handled")
    pos = 24
    while pos + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(endian + "IIII", data[pos : pos + 16])
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ip = frame[skip:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] not in (TCP, UDP):
            continue
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        seg = ip[ihl:total]
        sport, dport = struct.unpack("!HH", seg[:4])
        if ip[9] == UDP:
            yield sec + frac * scale, UDP, sport, dport, 0, bytes(seg[8:])
        else:
            offset = (seg[12] >> 4) * 4
            yield sec + frac * scale, TCP, sport, dport, seg[13], bytes(seg[offset:])


def _env(raw: bytes) -> dict[str, str]:
    head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out = {}
    for line in head.split("\n"):
        key, _, value = line.partition(":")
        out[key] = value[1:] if value.startswith(" ") else value
    return out


def agi_timings(path: Path) -> dict[str, Any]:
    """Per FastAGI request in a capture of port 4573: what callctl answered, and when."""
    syn, ack = 0x02, 0x10
    open_: dict[int, _Conn] = {}
    conns: list[_Conn] = []
    for ts, proto, sport, dport, flags, payload in _packets(path):
        if proto != TCP:
            continue
        if dport == AGI_PORT:
            if flags & syn and not flags & ack:
                conn = _Conn(ts)
                open_[sport] = conn
                conns.append(conn)
                continue
            conn_ = open_.get(sport)
            if conn_ is not None and payload:
                conn_.client += payload
                if conn_.env_end is None and b"\n\n" in conn_.client:
                    conn_.env_end = ts
        elif sport == AGI_PORT and payload:
            answered = open_.get(dport)
            if answered is not None and answered.answer is None:
                answered.answer = ts
                answered.answer_line = payload.split(b"\n", 1)[0]
    route_total: list[float] = []
    route_callctl: list[float] = []
    hangup_commit: list[float] = []
    hangup_total: list[float] = []
    counts = {"route": 0, "hangup": 0, "safe_answers": 0, "unanswered": 0, "other": 0}
    for c in conns:
        env = _env(bytes(c.client))
        script = env.get("agi_network_script", "")
        name = c.answer_line.split(b'"')[1].decode() if c.answer_line.count(b'"') >= 2 else ""
        if script not in ("route", "hangup"):
            counts["other"] += 1
            continue
        counts[script] += 1
        if c.answer is None:
            counts["unanswered"] += 1
        elif name == "CALLCTL_STATUS":
            counts["safe_answers"] += 1
        elif script == "route" and name == "CALLCTL":
            route_total.append((c.answer - c.syn) * 1000)
            if c.env_end is not None:
                route_callctl.append((c.answer - c.env_end) * 1000)
        elif script == "hangup" and name == "CALLCTL_RECORDED":
            hangup_total.append((c.answer - c.syn) * 1000)
            ended = float(env.get("agi_arg_2") or "nan")
            hangup_commit.append((c.answer - ended) * 1000)
        else:
            counts["other"] += 1
    return {
        "counts": counts,
        "decision_ms": summary(route_total),
        "decision_callctl_ms": summary(route_callctl),
        "hangup_to_committed_ms": summary(hangup_commit),
        "hangup_request_ms": summary(hangup_total),
    }


def _sip_header(message: str, name: str) -> str:
    for line in message.split("\r\n" if "\r\n" in message else "\n"):
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
    return ""


def post_dial_delays(path: Path) -> dict[str, float]:
    """The caller's authenticated INVITE (CSeq 2) to its 200 OK, per call, in a capture.

    The caller is the only SIP peer on 127.0.0.1 whose port is not 5060 (the PBX is
    127.0.0.1:5060, the carrier 127.0.0.2:5060).
    """
    sent: dict[str, float] = {}
    delays: dict[str, float] = {}
    reinvited: set[str] = set()
    for ts, proto, sport, dport, _, payload in _packets(path):
        if proto != UDP or SIP_PORT not in (sport, dport) or sport == dport:
            continue
        message = payload.decode("utf-8", "replace")
        call_id = _sip_header(message, "call-id")
        cseq = _sip_header(message, "cseq")
        if dport == SIP_PORT and message.startswith("INVITE ") and cseq == "2 INVITE":
            sent.setdefault(call_id, ts)
        elif (sport == SIP_PORT and message.startswith("SIP/2.0 200") and cseq == "2 INVITE"
              and call_id in sent and call_id not in delays):  # fmt: skip
            delays[call_id] = (ts - sent[call_id]) * 1000
        elif sport == SIP_PORT and message.startswith("INVITE ") and call_id in delays:
            reinvited.add(call_id)  # the PBX re-INVITEs the caller during the call
    return {**summary(list(delays.values())), "reinvited_calls": len(reinvited)}


class Capture:
    """dumpcap on the loopback interface (FastAGI and SIP), written as pcap."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["dumpcap", "-q", "-i", "lo", "-f", f"tcp port {AGI_PORT} or udp port {SIP_PORT}",
             "-P", "-B", "64", "-w", str(self.path)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.path.exists() and self.path.stat().st_size >= 24:
                time.sleep(0.3)
                return
            time.sleep(0.05)
        raise RuntimeError("dumpcap did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# ----------------------------------------------------------------------------- processes


class Serve(ServeProcess):
    """``callctl serve`` on the FastAGI port the dialplan calls (real clock)."""

    def __init__(self, db: str, workdir: Path) -> None:
        super().__init__(db, None, workdir)

    def problems(self) -> list[str]:
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if " WARNING " in line or " ERROR " in line]


class Carrier:
    """A SIPp UAS answering every call on the carrier trunk's address (no message trace)."""

    def __init__(self, address: str, workdir: Path) -> None:
        self.address = address
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ip, port = self.address.rsplit(":", 1)
        scenario = self.workdir / "uas.xml"
        scenario.write_text(uas_scenario(), encoding="iso-8859-1")
        self.proc = subprocess.Popen(
            ["sipp", "-sf", str(scenario), "-i", ip, "-p", port, "-mi", ip, "-nostdin",
             "-trace_err", "-error_file", str(self.workdir / "uas-errors.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.workdir,
        )  # fmt: skip
        time.sleep(0.3)
        if self.proc.poll() is not None:
            raise RuntimeError(f"the carrier's SIPp exited at once (is {self.address} in use?)")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class SippOutcome:
    returncode: int
    successful: int
    failed: int
    pid: int
    cpu_s: float
    rtd_ms: list[float]
    errors: str


_REINVITE = """<recv request="INVITE" timeout="{hold_ms}" ontimeout="hold_over">
<action><ereg regexp=".*" search_in="hdr" header="From:" assign_to="far"/></action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[field0]@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=user1 53655765 2353687638 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0
a=rtpmap:0 PCMU/8000

]]></send>
<recv request="ACK" timeout="2000" ontimeout="reinvited"/>
<label id="reinvited"/>
<send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[field0]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: [$far]
[routes]
Call-ID: [call_id]
CSeq: 3 BYE
Contact: <sip:[field0]@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0

]]></send>
<recv response="200" next="ended"/>
<label id="hold_over"/>"""


def phone_scenario(hold_ms: int, dialled: str = DIALLED) -> str:
    """:func:`uac_scenario` for an answered call, answering a re-INVITE while it holds.

    Asterisk sometimes re-INVITEs the caller right after the answer (a connected-line
    update; a few calls in a thousand here, with or without callctl, more at higher rates);
    a phone answers it, so does this caller (and hangs up at once). Without a re-INVITE the
    call is exactly the shared scenario's.
    """
    text = uac_scenario(UacCall(dialled, hold_ms=hold_ms))
    pause = f'<pause milliseconds="{hold_ms}"/>'
    end = '<timewait milliseconds="200"/>'
    if text.count(pause) != 1 or text.count(end) != 1:
        raise RuntimeError("uac_scenario changed: update phone_scenario")
    text = text.replace(pause, _REINVITE.format(hold_ms=hold_ms))
    return text.replace(end, '<label id="ended"/>\n' + end)


@dataclass
class SippCounts:
    """SIPp's cumulative counters, from the last row of its ``-trace_stat`` file."""

    created: int = 0
    successful: int = 0
    failed: int = 0


def sipp_counts(stat: Path) -> SippCounts | None:
    """The last row of a SIPp statistics file (``None`` before its first row)."""
    if not stat.exists():
        return None
    rows = [r.split(";") for r in stat.read_text().splitlines() if r.strip()]
    if len(rows) < 2:
        return None
    head, last = rows[0], rows[-1]
    try:
        return SippCounts(int(last[head.index("TotalCallCreated")]),
                          int(last[head.index("SuccessfulCall(C)")]),
                          int(last[head.index("FailedCall(C)")]))  # fmt: skip
    except (ValueError, IndexError):  # a row being written
        return None


class Uac:
    """A SIPp caller placing ``calls`` calls as a lab line at ``rate`` calls per
    ``rate_period_ms``: answered and held ``hold_ms`` (``expect`` 200), or refused with
    ``expect``. Its files (scenario, statistics every second, errors) are in ``workdir``."""

    def __init__(self, cred: Credential, calls: int, rate: int, hold_ms: int, workdir: Path,
                 *, dialled: str = DIALLED, expect: int = 200,
                 rate_period_ms: int = 1000) -> None:  # fmt: skip
        self.workdir = workdir
        self.stat = workdir / "uac-stat.csv"
        self.errors = workdir / "uac-errors.log"
        scenario = workdir / "uac.xml"
        text = (phone_scenario(hold_ms, dialled) if expect == 200
                else uac_scenario(UacCall(dialled, expect=expect)))  # fmt: skip
        scenario.write_text(text, encoding="iso-8859-1")
        users = workdir / "users.csv"
        users.write_text(f"SEQUENTIAL\n{cred.username};\n")
        timeout = int(calls * rate_period_ms / 1000 / rate + hold_ms / 1000 + 60)
        self.cmd = [
            "sipp", PBX, "-sf", str(scenario), "-inf", str(users), "-s", dial_user(dialled),
            "-au", cred.username, "-ap", cred.password, "-i", "127.0.0.1", "-p", "0",
            "-r", str(rate), "-rp", str(rate_period_ms), "-m", str(calls), "-l", "5000",
            "-nostdin", "-trace_stat", "-stf", str(self.stat), "-fd", "1", "-trace_rtt",
            "-rtt_freq", "1", "-trace_err", "-error_file", str(self.errors),
            "-timeout", f"{timeout}s", "-timeout_error", "-recv_timeout", "10000",
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu_s = 0.0

    def start(self) -> Uac:
        with open(self.workdir / "uac-stderr.log", "wb") as stderr:  # a pipe could fill up
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                                         cwd=self.workdir)  # fmt: skip
        return self

    def running(self) -> bool:
        """Whether SIPp still runs; notes its CPU time (the last reading before it exits)."""
        assert self.proc is not None, "not started"
        if self.proc.poll() is None:
            self.cpu_s = process_cpu(self.proc.pid) or self.cpu_s
            return True
        return False

    def counts(self) -> SippCounts | None:
        return sipp_counts(self.stat)

    def stop(self) -> None:
        """End SIPp at once (an interrupted run)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def outcome(self) -> SippOutcome:
        """Wait for SIPp to end; its result."""
        while self.running():
            time.sleep(0.2)
        assert self.proc is not None
        stderr = (self.workdir / "uac-stderr.log").read_text(errors="replace")[-2000:]
        counts = self.counts() or SippCounts(-1, -1, -1)
        rtd: list[float] = []
        for rtt in self.workdir.glob("uac_*_rtt.csv"):
            for row in rtt.read_text().splitlines()[1:]:
                parts = row.split(";")
                if len(parts) >= 3 and parts[2].strip() == "decision":
                    rtd.append(float(parts[1]))
        err_text = self.errors.read_text(errors="replace")[-2000:] if self.errors.exists() else ""
        return SippOutcome(self.proc.returncode, counts.successful, counts.failed,
                           self.proc.pid, self.cpu_s, rtd,
                           (stderr + err_text)[-2000:])  # fmt: skip


def run_uac(cred: Credential, calls: int, rate: int, hold_ms: int, workdir: Path,
            ) -> SippOutcome:  # fmt: skip
    return Uac(cred, calls, rate, hold_ms, workdir).start().outcome()


# ----------------------------------------------------------------------------- one run


@dataclass
class Run:
    name: str
    mode: str  # callctl | bypass
    db: str | None  # sqlite | postgresql (callctl only)
    calls: int
    rate: int
    hold_ms: int
    capture: bool
    sipp: dict[str, Any] = field(default_factory=dict)
    rtd_ms: dict[str, float] = field(default_factory=dict)  # SIPp's (4 ms clock)
    post_dial_ms: dict[str, float] = field(default_factory=dict)  # from the capture
    agi: dict[str, Any] = field(default_factory=dict)
    cpu_s: dict[str, float] = field(default_factory=dict)
    cpu_ms_per_call: dict[str, float] = field(default_factory=dict)
    machine_busy_share: float = 0.0  # of all CPUs, over the run
    others_busy_share: float = 0.0  # the same, without the processes measured
    records: int = -1
    deadline_hits: int = 0
    serve_problems: list[str] = field(default_factory=list)  # the first few
    serve_overloads: int = 0  # requests turned away with the safe answer (max_sessions)
    ok: bool = False
    why: list[str] = field(default_factory=list)


async def _sql(url: str, sql: str, autocommit: bool = False) -> list[Any]:
    engine = (make_engine(url, isolation_level="AUTOCOMMIT") if autocommit
              else make_engine(url))  # fmt: skip
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        await engine.dispose()


def _import_lines(db: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", "lines", "import", str(LAB_LINES), "--db", db],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"callctl lines import failed:\n{proc.stderr}")


def create_database(kind: str, work: Path, pg_admin: str, name: str) -> str:
    """A fresh database (``sqlite``: a file in ``work``; ``postgresql``: ``name`` on the
    server of ``pg_admin``) holding the lab lines; its URL."""
    if kind == "postgresql":
        asyncio.run(_sql(pg_admin, f'CREATE DATABASE "{name}"', True))
        url = pg_admin.rpartition("/")[0] + "/" + name
    else:
        url = f"sqlite:///{work / 'callctl.db'}"
    _import_lines(url)
    return url


def drop_database(pg_admin: str, name: str) -> None:
    """Drop a PostgreSQL database of :func:`create_database` (gone already is fine)."""
    asyncio.run(_sql(pg_admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', True))


def count_records(db: str) -> int:
    return int(asyncio.run(_sql(db, "SELECT count(*) FROM call_records"))[0][0])


def set_bypass(lab: Lab, on: bool) -> None:
    """Set the dialplan's ``CALLCTL_BYPASS`` global (calls skip callctl when ``yes``)."""
    lab.cli(f"dialplan set global CALLCTL_BYPASS {'yes' if on else 'no'}")


@contextmanager
def lab_up(who: str) -> Iterator[Lab]:
    """The test PBX up with the lab lines; afterwards the bypass off, and the PBX stopped
    again if it was down before."""
    lab = Lab()
    was_running = lab.running()
    lab.up(parse_lines_yaml(LAB_LINES.read_text("utf-8"), default_tariff()))
    try:
        yield lab
    finally:
        try:
            set_bypass(lab, False)
            if not was_running:
                lab.down()
        except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
            print(f"{who}: could not reset or stop the PBX: {exc}", file=sys.stderr)


class Bench:
    def __init__(self, lab: Lab, cred: Credential, workdir: Path, pg_admin: str,
                 wait: float) -> None:  # fmt: skip
        self.lines = parse_lines_yaml(LAB_LINES.read_text("utf-8"), default_tariff())
        self.lab = lab
        self.cred = cred
        self.workdir = workdir
        self.pg_admin = pg_admin
        self.wait = wait
        self.carrier_address = lab.trunk_address("carrier")
        ip, port = self.carrier_address.rsplit(":", 1)
        self.carrier = (ip, int(port))
        self.count = 0

    def asterisk_pid(self) -> int:
        return int((self.lab.root / "run" / "asterisk" / "asterisk.pid").read_text().strip())

    def ensure_pbx(self) -> int:
        """The PBX up (someone else may have stopped it) and idle; its pid."""
        if not self.lab.running():
            print("bench_pbx: the PBX is down; starting it", file=sys.stderr)
            self.lab.up(self.lines)
        pid = self.asterisk_pid()
        deadline = time.monotonic() + 60
        while self.active_channels() and time.monotonic() < deadline:
            time.sleep(0.5)
        if self.active_channels():
            self.lab.cli("channel request hangup all")
            time.sleep(2)
        return pid

    def active_channels(self) -> int:
        out = self.lab.cli("core show channels count")
        for line in out.splitlines():
            if "active channel" in line:
                return int(line.split()[0])
        return 0

    def bypass(self, on: bool) -> None:
        set_bypass(self.lab, on)

    def run(self, run: Run, attempts: int = 3) -> Run:
        """One run; again (up to ``attempts``) if the PBX restarted meanwhile."""
        for _ in range(attempts):
            pid = self.ensure_pbx()
            done = self._run(Run(**asdict(run)))
            if self.lab.running() and self.asterisk_pid() == pid:
                break
            print(f"bench_pbx: the PBX restarted during {run.name!r}; again", file=sys.stderr)
            done.why.append("the PBX restarted during the run (another user of the lab?)")
            done.ok = False
        print(f"bench_pbx: {done.name}: {'ok' if done.ok else 'FAILED ' + '; '.join(done.why)}",
              file=sys.stderr)  # fmt: skip
        return done

    def _run(self, run: Run) -> Run:
        self.count += 1
        work = self.workdir / f"{self.count:02d}-{run.name.replace(' ', '-')}"
        work.mkdir()
        wait_until_free(self.carrier, self.wait)
        pg_name = f"callctl_bench_pbx_{os.getpid()}_{self.count}"
        db_url: str | None = None
        serve: Serve | None = None
        capture = Capture(work / "agi.pcap") if run.capture else None
        carrier = Carrier(self.carrier_address, work)
        try:
            if run.mode == "callctl":
                db_url = create_database(run.db or "sqlite", work, self.pg_admin, pg_name)
                serve = Serve(db_url, work)
                serve.start()
            self.bypass(run.mode == "bypass")
            carrier.start()
            if capture:
                capture.start()
            self._measure(run, serve, carrier, work)
            if serve is not None and db_url is not None:
                run.records = count_records(db_url)
        finally:
            if capture:
                capture.stop()
            carrier.stop()
            if serve is not None:
                serve.stop()
                problems = serve.problems()
                run.serve_overloads = sum("FastAGI overload" in line for line in problems)
                run.serve_problems = problems[:10]
            self.bypass(False)
            if run.db == "postgresql" and run.mode == "callctl":
                drop_database(self.pg_admin, pg_name)
        if capture:
            run.agi = agi_timings(capture.path)
            run.post_dial_ms = post_dial_delays(capture.path)
        self._judge(run)
        return run

    def _measure(self, run: Run, serve: Serve | None, carrier: Carrier, work: Path) -> None:
        asterisk = self.asterisk_pid()
        assert carrier.proc is not None

        def snapshot() -> dict[str, float]:
            snap = {"asterisk": process_cpu(asterisk)}
            if serve is not None:
                snap["callctl"] = process_cpu(serve.pid)
            if run.db == "postgresql":  # every PostgreSQL process, backends included
                for pid in pids_named("postgres"):
                    snap[f"pg {pid}"] = process_cpu(pid)
            assert carrier.proc is not None
            snap["sipp_carrier"] = process_cpu(carrier.proc.pid)
            return snap

        before = snapshot()
        busy0, total0 = machine_busy()
        uac = run_uac(self.cred, run.calls, run.rate, run.hold_ms, work)
        # Let the last hangups be handled: callctl has no call in progress, Asterisk none.
        deadline = time.monotonic() + 30
        while serve is not None and time.monotonic() < deadline:
            if serve.health()["active_calls"] == 0:
                break
            time.sleep(0.2)
        time.sleep(0.5)
        after = snapshot()
        busy1, total1 = machine_busy()
        if serve is not None:
            run.deadline_hits = int(serve.health()["agi"]["deadline_hits"])
        run.cpu_s = {k: v - before.get(k, 0.0) for k, v in after.items() if k[:3] != "pg "}
        if run.db == "postgresql":  # backends started during the run count from zero
            run.cpu_s["postgres"] = sum(v - before.get(k, 0.0) for k, v in after.items()
                                        if k[:3] == "pg ")  # fmt: skip
        run.cpu_s["sipp_caller"] = uac.cpu_s
        calls = max(uac.successful, 1)
        run.cpu_ms_per_call = {k: v / calls * 1000 for k, v in run.cpu_s.items()}
        total = total1 - total0
        run.machine_busy_share = (busy1 - busy0) / total if total > 0 else 0
        # CPU used by processes other than these (another job on the machine, dumpcap…)
        others = busy1 - busy0 - sum(run.cpu_s.values())
        run.others_busy_share = others / total if total > 0 else 0
        run.sipp = {"returncode": uac.returncode, "successful": uac.successful,
                    "failed": uac.failed, "errors": uac.errors[-500:]}  # fmt: skip
        run.rtd_ms = summary(uac.rtd_ms)

    def _judge(self, run: Run) -> None:
        why = []
        if run.sipp.get("returncode") != 0 or run.sipp.get("failed") != 0:
            why.append(f"SIPp: {run.sipp.get('failed')} failed calls "
                       f"(exit {run.sipp.get('returncode')})")  # fmt: skip
        if run.sipp.get("successful") != run.calls:
            why.append(f"SIPp: {run.sipp.get('successful')} of {run.calls} calls successful")
        if run.mode == "callctl":
            if run.deadline_hits:
                why.append(f"callctl: {run.deadline_hits} requests cut at the deadline")
            if run.records != run.calls:
                why.append(f"callctl: {run.records} records for {run.calls} calls")
            if run.serve_overloads:
                why.append(f"callctl: overload (max_sessions reached) {run.serve_overloads} "
                           "times")  # fmt: skip
        if run.agi:
            counts = run.agi["counts"]
            if counts["safe_answers"] or counts["unanswered"]:
                why.append(f"capture: {counts['safe_answers']} safe answers, "
                           f"{counts['unanswered']} unanswered requests")  # fmt: skip
            if run.mode == "callctl" and counts["route"] != run.calls:
                why.append(f"capture: {counts['route']} route requests for {run.calls} calls")
            if run.mode == "bypass" and sum(counts.values()):
                why.append("capture: FastAGI requests while callctl was bypassed")
        run.why = why
        run.ok = not why


# ----------------------------------------------------------------------------- report


def _ms(s: dict[str, float], key: str = "p50") -> str:
    value = s.get(key, math.nan)
    return "-" if value is None or math.isnan(value) else f"{value:.1f}"


def report(result: dict[str, Any]) -> str:
    out = ["bench_pbx: calls through the test PBX (Asterisk " + result["asterisk"] + ")", ""]
    out.append(f"{'run':<22} {'calls':>5} {'cps':>4} {'ok':>3} {'fail':>4} "
               f"{'pdd p50':>7} {'p99':>6} {'dec p50':>7} {'p99':>6} {'cc p50':>6} "
               f"{'hup p50':>7} {'p99':>6} {'ast ms':>6} {'cc ms':>6} {'pg ms':>6} "
               f"{'busy':>5} {'others':>6}")  # fmt: skip
    for r in result["runs"]:
        agi = r["agi"] or {}
        dec = agi.get("decision_ms", {})
        cc = agi.get("decision_callctl_ms", {})
        hup = agi.get("hangup_to_committed_ms", {})
        cpu = r["cpu_ms_per_call"]
        pdd = r["post_dial_ms"]
        out.append(
            f"{r['name']:<22} {r['calls']:>5} {r['rate']:>4} {'yes' if r['ok'] else 'NO':>3} "
            f"{r['sipp'].get('failed', -1):>4} {_ms(pdd):>7} {_ms(pdd, 'p99'):>6} "
            f"{_ms(dec):>7} {_ms(dec, 'p99'):>6} {_ms(cc):>6} {_ms(hup):>7} "
            f"{_ms(hup, 'p99'):>6} {cpu.get('asterisk', math.nan):>6.2f} "
            f"{cpu.get('callctl', math.nan):>6.2f} {cpu.get('postgres', math.nan):>6.2f} "
            f"{r['machine_busy_share']:>5.0%} {r['others_busy_share']:>6.0%}"
        )
        out += [f"    ! {w}" for w in r["why"]]
        if r["others_busy_share"] > OTHERS_WARNING:
            out.append(f"    ! other processes used {r['others_busy_share']:.0%} of the machine "
                       "during this run: its figures are disturbed")  # fmt: skip
    out.append("")
    out.append("pdd = caller's INVITE→200 OK; dec = AGI connect→decision; cc = env received→"
               "decision; hup = hangup handler start→record committed (target p99 ≤ 50 ms);"
               " CPU ms per call")  # fmt: skip
    for mode, rates in result.get("ramps", {}).items():
        passed = [r["rate"] for r in rates if r["ok"]]
        steps = ", ".join(f"{r['rate']}{'' if r['ok'] else ' FAIL'}" for r in rates)
        best = max(passed) if passed else "none"
        out.append(f"ramp {mode}: {steps} → highest rate with zero failures: {best} cps")
    return "\n".join(out)


# ----------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", default="sqlite,postgresql",
                        help="databases for (b), comma-separated (sqlite,postgresql)")  # fmt: skip
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--rate", type=int, default=50, help="calls per second")
    parser.add_argument("--hold-ms", type=int, default=1000, help="answered call length")
    parser.add_argument("--ramp", default=",".join(map(str, DEFAULT_RAMP)),
                        help="rates of the ramp (calls per second)")  # fmt: skip
    parser.add_argument("--ramp-seconds", type=int, default=10, help="seconds of calls per step")
    parser.add_argument("--ramp-db", default="sqlite", help="database of the callctl ramp")
    parser.add_argument("--ramp-modes", default="callctl,bypass", help="ramps to run")
    parser.add_argument("--no-ramp", action="store_true", help="skip the ramps")
    parser.add_argument("--no-bypass", action="store_true", help="skip the bypass run")
    parser.add_argument("--quick", action="store_true", help="100 calls at 20 cps, no ramp")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="PostgreSQL URL to create DBs")
    parser.add_argument("--wait", type=float, default=3600,
                        help="seconds to wait for port 4573 and the carrier")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rate, args.no_ramp = 100, 20, True
    if os.geteuid() != 0:
        print("bench_pbx: run as root (the test PBX runs in a chroot)", file=sys.stderr)
        return 2
    for tool in ("sipp", "dumpcap"):
        if shutil.which(tool) is None:
            print(f"bench_pbx: {tool} is not installed", file=sys.stderr)
            return 2

    work = Path(tempfile.mkdtemp(prefix="callctl-bench-pbx-"))
    runs: list[Run] = []
    ramps: dict[str, list[dict[str, Any]]] = {}
    with lab_up("bench_pbx") as lab:
        bench = Bench(lab, lab.credentials()[LINE], work, args.pg_admin, args.wait)
        info = {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
            "asterisk": str(lab.status()["version"]),
        }
        for db in [d for d in args.db.split(",") if d]:
            runs.append(bench.run(Run(f"callctl {db}", "callctl", db, args.calls, args.rate,
                                      args.hold_ms, capture=True)))  # fmt: skip
        if not args.no_bypass:
            runs.append(bench.run(Run("bypass", "bypass", None, args.calls, args.rate,
                                      args.hold_ms, capture=True)))  # fmt: skip
        if not args.no_ramp:
            rates = [int(r) for r in args.ramp.split(",") if r]
            modes = [m for m in args.ramp_modes.split(",") if m]
            for mode, db in (("callctl", args.ramp_db), ("bypass", None)):
                if mode not in modes:
                    continue
                key = mode if db is None else f"{mode} {db}"
                ramps[key] = []
                for rate in rates:
                    calls = max(rate * args.ramp_seconds, 200)
                    r = bench.run(Run(f"ramp {key} {rate}", mode, db, calls, rate,
                                      args.hold_ms, capture=False))  # fmt: skip
                    ramps[key].append(asdict(r))
                    if not r.ok:
                        break
    result: dict[str, Any] = {
        **info,
        "loadavg_end": os.getloadavg(),
        "settings": {"calls": args.calls, "rate": args.rate, "hold_ms": args.hold_ms},
        "runs": [asdict(r) for r in runs],
        "ramps": ramps,
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(report(result))
    if args.keep:
        print(f"work folder kept: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    # A missed latency target is a result, not an error: only failed calls fail the run.
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
