"""Throughput and latency of the live controller alone: ``callctl serve`` and a synthetic PBX.

Run from the repository root (the script pins itself and the server, see below)::

    .venv/bin/python benchmarks/bench_agi.py            # full run (about 5 minutes)
    .venv/bin/python benchmarks/bench_agi.py --quick    # smoke run (a few seconds)
    .venv/bin/python benchmarks/bench_agi.py --json     # machine-readable results
    .venv/bin/python benchmarks/bench_agi.py --profile serve.prof   # cProfile of the server

``callctl serve`` runs as a child process pinned to CPU 0 (``taskset -c 0``), on a fresh
SQLite file holding the lab lines (``dialplan/lab-lines.yaml``), on a free FastAGI port (not
4573, so it never meets the live tests' server). This process is the PBX: it pins itself
to CPU 1 and opens FastAGI connections exactly as Asterisk 22's res_agi does for the
dialplan's ``[callctl-route]`` and ``[callctl-hangup]`` requests: ``agi_network: yes``,
``agi_network_script``, the ``setup_env`` block in res_agi's order, the AGI arguments of
``dialplan/extensions.conf`` (header values as base64 of ``"x" + value``), a blank line;
then it answers each command the server sends with ``200 result=1`` and closes its end
when the server closes (res_agi's end of script).

Phases, each a closed loop of ``--concurrency`` sessions in flight (a new connection as
soon as one ends); every route phase is followed by the hangup requests of the calls it
routed, so the controller's table of calls in progress stays as small as on a real PBX:

- warm-up (reported, not counted);
- ``c1``: one session at a time, for the latency without queueing (info);
- ``run 1..--repeats``: route requests. Figure: decisions per second (target 2 000/s on one
  core) and the latency from the connection attempt to the ``SET VARIABLE CALLCTL`` line
  received (p50, p99). Then the hangup requests of the calls routed. Figure: records
  committed per second (the controller sets ``CALLCTL_RECORDED`` only after the record's
  transaction has committed), with the same latency definition.

A request the server cuts at its deadline (or turns away when ``max_sessions`` handlers run)
gets the safe answer ``CALLCTL_STATUS=timeout``: the dialplan's fallback. Those are counted,
not timed. At the end the records in the database are checked against the answers: every
answered hangup and refusal must have its record; what became of the cut ones is counted.
Exit status 1 means the benchmark itself went wrong (a request without any answer, a
recorded hangup without its record, a record nobody asked for), not that a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text

from callctl.data import default_emergency_plan, default_tariff
from callctl.pbx.serve_process import ServeProcess, free_port
from callctl.store import make_engine
from callctl.store.lines_yaml import parse_lines_yaml

ROOT = Path(__file__).resolve().parents[1]
LAB_LINES = ROOT / "dialplan" / "lab-lines.yaml"
HOST = "callctl-lab"  # SYSTEMNAME of the lab PBX (dialplan/asterisk.conf)
CLOCK = "2026-11-26T10:00:00+01:00"  # a Thursday, peak hours: the test clock of serve
TARGET_DECISIONS = 2000.0  # decisions per second on one core
SERVER_CPU = 0
CLIENT_CPU = 1
SEED = 20261126
CPU_SHARE_WARNING = 0.9


@dataclass(frozen=True)
class Sizes:
    concurrency: int
    warmup: int
    latency_c1: int
    route: int
    repeats: int
    pool: int  # distinct dial strings


FULL = Sizes(concurrency=200, warmup=2000, latency_c1=1000, route=10_000, repeats=3,
             pool=5000)  # fmt: skip
QUICK = Sizes(concurrency=50, warmup=100, latency_c1=50, route=500, repeats=1, pool=300)

# ----------------------------------------------------------------------------- requests

# (line, weight): the five lab lines; the paused one gets refusals (which write a record).
LINE_WEIGHTS = [("+3222000001", 40), ("+3222000002", 20), ("+3292000003", 20),
                ("+3242000004", 15), ("+3265000005", 5)]  # fmt: skip


def _d(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _dial_string(rng: random.Random) -> str:
    """One dial string, as a line's user types it; the mix is in docs/performance.md."""
    r = rng.random() * 100
    if r < 30:  # Belgian fixed
        area = rng.choice(["02", "03", "09", "010", "050", "071", "081"])
        return area + _d(rng, 9 - len(area))
    if r < 65:  # Belgian mobile
        return "04" + rng.choice("789") + _d(rng, 7)
    if r < 77:  # calling zone
        return rng.choice(["+33 1 ", "+49 30 ", "+31 20 ", "0044 20 7"]) + _d(rng, 7)
    if r < 82:  # rest of the world
        return rng.choice(["+81 3 ", "+1 212 ", "+86 10 "]) + _d(rng, 7)
    if r < 85:  # Morocco, Turkey
        return rng.choice(["+212 6", "+90 532 "]) + _d(rng, 7)
    if r < 89:
        return "0800 " + _d(rng, 5)
    if r < 92:
        return "070 " + _d(rng, 6)
    if r < 94:
        return "0903 " + _d(rng, 5)
    if r < 95:
        return rng.choice(["1813", "116000", "106"])
    if r < 96:
        return rng.choice(["112", "101", "#31#112"])
    return rng.choice(["0800-FLOWERS", "12", "+999 123", "02 99", "sip:@x"])


def _b64x(value: str) -> str:
    """``BASE64_ENCODE(x<value>)`` as the dialplan sends header values."""
    return base64.b64encode(("x" + value).encode()).decode()


@dataclass(frozen=True)
class LineInfo:
    number: str
    endpoint: str
    psap: str
    cic: str


def lab_lines() -> dict[str, LineInfo]:
    """The lab lines with what their endpoints carry (see callctl.pbx.lab.render_lines)."""
    plan = default_emergency_plan()
    out: dict[str, LineInfo] = {}
    for line in parse_lines_yaml(LAB_LINES.read_text("utf-8"), default_tariff()):
        centres = plan.centres_for_address(line.install_address)
        endpoint = line.number.lstrip("+")
        out[line.number] = LineInfo(line.number, endpoint, centres.psap, centres.cic)
    return out


@dataclass(frozen=True)
class Call:
    seq: int
    uniqueid: str
    line: LineInfo
    dialled: str


def _env(script: str, port: int, call: Call, *, context: str, priority: int,
         args: Sequence[str]) -> bytes:  # fmt: skip
    """The bytes res_agi writes for a FastAGI request (launch_netscript, then setup_env)."""
    seq, line = call.seq, call.line
    rows = [
        "agi_network: yes",
        f"agi_network_script: {script}",
        f"agi_request: agi://127.0.0.1:{port}/{script}",
        f"agi_channel: PJSIP/{line.endpoint}-{seq:08x}",
        "agi_language: en",
        "agi_type: PJSIP",
        f"agi_uniqueid: {call.uniqueid}",
        "agi_version: 22.10.1+dfsg+~cs6.17.60671434-1",
        f"agi_callerid: {line.number}",
        "agi_calleridname: unknown",
        "agi_callingpres: 0",
        "agi_callingani2: 0",
        "agi_callington: 0",
        "agi_callingtns: 0",
        f"agi_dnid: {call.dialled}",
        "agi_rdnis: unknown",
        f"agi_context: {context}",
        "agi_extension: s",
        f"agi_priority: {priority}",
        "agi_enhanced: 0.0",
        "agi_accountcode: ",
        f"agi_threadid: {140_000_000_000_000 + seq}",
        *(f"agi_arg_{i}: {a}" for i, a in enumerate(args, start=1)),
    ]
    return ("\n".join(rows) + "\n\n").encode()


def route_request(call: Call, port: int) -> bytes:
    """``AGI(${CALLCTL_AGI}/route, …)`` of [callctl-route] (14 arguments)."""
    line = call.line
    contact = f"<sip:{line.endpoint}@127.0.0.1:5062>"
    args = [
        _b64x(call.dialled), line.number, line.endpoint, "127.0.0.1:5062", HOST,
        _b64x(line.number), _b64x(""), _b64x(""), _b64x(contact), _b64x(""), _b64x(""),
        _b64x(""), line.psap, line.cic,
    ]  # fmt: skip
    return _env("route", port, call, context="callctl-route", priority=7, args=args)


def hangup_request(call: Call, trunk: str, port: int, rng: random.Random) -> bytes:
    """``AGI(${CALLCTL_AGI}/hangup, …)`` of [callctl-hangup] (8 arguments)."""
    answered = rng.random() < 0.85
    answered_ms = str(rng.randint(1_000, 600_000)) if answered else ""
    args = [
        HOST, f"{time.time():.6f}", answered_ms, "ANSWER" if answered else "NOANSWER",
        "16" if answered else "19", trunk, call.line.number, _b64x(call.dialled),
    ]  # fmt: skip
    return _env("hangup", port, call, context="callctl-hangup", priority=1, args=args)


def make_calls(count: int, pool: int, lines: dict[str, LineInfo], start: int) -> list[Call]:
    rng = random.Random(SEED + start)
    numbers = [_dial_string(rng) for _ in range(pool)]
    names = [n for n, _ in LINE_WEIGHTS]
    weights = [w for _, w in LINE_WEIGHTS]
    epoch = int(time.time())
    calls = []
    for seq in range(start, start + count):
        line = lines[rng.choices(names, weights)[0]]
        calls.append(Call(seq, f"{HOST}-{epoch}.{seq}", line, rng.choice(numbers)))
    return calls


# ----------------------------------------------------------------------------- the client


@dataclass
class Outcome:
    latency: float  # seconds from the connection attempt to the first SET VARIABLE
    variables: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None


def _unquote(word: bytes) -> str:
    return word.decode("utf-8", "replace").replace('\\"', '"').replace("\\\\", "\\")


class AgiPeer(asyncio.Protocol):
    """Asterisk's side of one FastAGI connection: send the request, answer every command."""

    def __init__(self, request: bytes, started: float, done: asyncio.Future[Outcome]) -> None:
        self.request = request
        self.started = started
        self.done = done
        self.buf = bytearray()
        self.first_set: float | None = None
        self.variables: list[tuple[str, str]] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while (end := self.buf.find(b"\n")) >= 0:
            line = bytes(self.buf[:end])
            del self.buf[: end + 1]
            if line.startswith(b"SET VARIABLE "):
                if self.first_set is None:
                    self.first_set = time.perf_counter()
                parts = line[len(b"SET VARIABLE ") :].split(b'" "', 1)
                name = _unquote(parts[0].strip(b'"'))
                value = _unquote(parts[1].rstrip(b'"')) if len(parts) > 1 else ""
                self.variables.append((name, value))
                reply = b"200 result=1\n"
            else:
                reply = b"510 Invalid or unknown command\n"
            assert self.transport is not None
            self.transport.write(reply)

    def eof_received(self) -> bool:
        return False  # the server ended the script: close our end too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if self.first_set is None:
            self.done.set_result(Outcome(math.nan, [], f"closed without an answer ({exc})"))
        else:
            self.done.set_result(Outcome(self.first_set - self.started, self.variables))


async def one_request(port: int, request: bytes) -> Outcome:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Outcome] = loop.create_future()
    started = time.perf_counter()
    try:
        await loop.create_connection(lambda: AgiPeer(request, started, done), "127.0.0.1", port)
    except OSError as exc:
        return Outcome(math.nan, [], f"connect: {exc}")
    return await done


@dataclass
class Phase:
    name: str
    concurrency: int
    requests: int
    answered: int = 0  # the expected variable was set
    routed: int = 0
    refused: int = 0
    safe_answers: int = 0  # only CALLCTL_STATUS=timeout: deadline or overload
    cut_after_answer: int = 0  # answered, then cut at the deadline (safe answer too)
    failures: int = 0  # no answer, connection error, unexpected variables
    elapsed_s: float = 0.0
    rate: float = 0.0  # answered per second
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_s: float = 0.0
    server_cpu_share: float = 0.0  # of one core, over the phase
    server_cpu_us_per_request: float = 0.0
    client_cpu_share: float = 0.0
    errors: list[str] = field(default_factory=list)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


async def run_phase(
    name: str, port: int, requests: Sequence[bytes], *, concurrency: int, expect: str,
    server_pid: int,
) -> tuple[Phase, list[Outcome]]:  # fmt: skip
    """Send every request, ``concurrency`` at a time (closed loop); classify the answers."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    next_index = 0

    async def worker() -> None:
        nonlocal next_index
        while next_index < len(requests):
            i = next_index
            next_index += 1
            outcomes[i] = await one_request(port, requests[i])

    cpu0, wall_cpu0 = process_cpu(server_pid), time.process_time()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(min(concurrency, len(requests)))))
    elapsed = time.perf_counter() - t0
    cpu1, wall_cpu1 = process_cpu(server_pid), time.process_time()

    phase = Phase(name, concurrency, len(requests), elapsed_s=elapsed)
    done = [o for o in outcomes if o is not None]
    latencies: list[float] = []
    for o in done:
        names = [n for n, _ in o.variables]
        if o.error is not None:
            phase.failures += 1
            phase.errors.append(o.error)
        elif names == ["CALLCTL_STATUS"]:
            phase.safe_answers += 1
        elif names and names[0] == expect and set(names[1:]) <= {"CALLCTL_STATUS"}:
            phase.answered += 1
            latencies.append(o.latency)
            if len(names) > 1:  # answered, then cut at the deadline before the end
                phase.cut_after_answer += 1
            if expect == "CALLCTL":
                value = o.variables[0][1]
                if value.startswith("route,"):
                    phase.routed += 1
                else:
                    phase.refused += 1
        else:
            phase.failures += 1
            phase.errors.append(f"unexpected variables {o.variables}")
    latencies.sort()
    phase.rate = phase.answered / elapsed if elapsed > 0 else 0.0
    phase.p50_ms = percentile(latencies, 50) * 1000
    phase.p99_ms = percentile(latencies, 99) * 1000
    phase.max_ms = (latencies[-1] if latencies else math.nan) * 1000
    phase.server_cpu_s = cpu1 - cpu0
    phase.server_cpu_share = phase.server_cpu_s / elapsed if elapsed > 0 else 0.0
    if phase.answered:
        phase.server_cpu_us_per_request = phase.server_cpu_s / phase.answered * 1e6
    phase.client_cpu_share = (wall_cpu1 - wall_cpu0) / elapsed if elapsed > 0 else 0.0
    phase.errors = sorted(set(phase.errors))[:5]
    return phase, done


# ----------------------------------------------------------------------------- the server


def process_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds, from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pinning_possible() -> bool:
    cpus = os.sched_getaffinity(0)
    return shutil.which("taskset") is not None and {SERVER_CPU, CLIENT_CPU} <= cpus


class Server(ServeProcess):
    """``callctl serve`` as a child process, on its own ports, pinned to one CPU."""

    def __init__(self, db: str, workdir: Path, max_sessions: int, profile: Path | None,
                 pin: bool, *, env: Mapping[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(
            db, CLOCK, workdir, agi_port=free_port(),
            prefix=("taskset", "-c", str(SERVER_CPU)) if pin else (),  # taskset execs: same pid
            python_args=("-m", "cProfile", "-o", str(profile)) if profile is not None else (),
            env={"CALLCTL_MAX_SESSIONS": str(max_sessions), **(env or {})},
        )  # fmt: skip


def import_lines(db: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", "lines", "import", str(LAB_LINES), "--db", db],
        capture_output=True, text=True, cwd=ROOT, check=False, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"callctl lines import failed:\n{proc.stderr}")


async def recorded_keys(db: str) -> set[str]:
    """The call ids that have a record."""
    engine = make_engine(db)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT call_id FROM call_records"))
            return {str(r[0]) for r in rows}
    finally:
        await engine.dispose()


LOG_KINDS = {  # what serve logs when it is short of time, by a piece of the message
    "deadline": "missed its",
    "overload": "FastAGI overload",
    "emergency_without_line": "emergency call: line",
}


def log_problems(log: Path) -> dict[str, Any]:
    """WARNING and ERROR lines of serve's log: counted by kind, and the first few others."""
    lines = log.read_text(errors="replace").splitlines()
    problems = [line for line in lines if " WARNING " in line or " ERROR " in line]
    counts = {kind: sum(piece in line for line in problems) for kind, piece in LOG_KINDS.items()}
    others = [line for line in problems if not any(p in line for p in LOG_KINDS.values())]
    return {"counts": counts, "other": len(others), "first_others": others[:10]}


class Postgres:
    """A fresh PostgreSQL database for one run, dropped afterwards."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.name = f"callctl_bench_agi_{os.getpid()}"

    @property
    def url(self) -> str:
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{self.name}"

    async def _admin(self, sql: str) -> None:
        engine = make_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    def create(self) -> None:
        asyncio.run(self._admin(f'CREATE DATABASE "{self.name}"'))

    def drop(self) -> None:
        asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))


# ----------------------------------------------------------------------------- main


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


@dataclass
class Ledger:
    """Which call ids must, may or must not have a record, from the answers received."""

    must: set[str] = field(default_factory=set)  # answered refusals and recorded hangups
    refused_answered: set[str] = field(default_factory=set)
    refused_cut: set[str] = field(default_factory=set)  # refusal answered, then cut
    hangup_recorded: set[str] = field(default_factory=set)
    hangup_cut: set[str] = field(default_factory=set)  # safe answer: cut at the deadline


async def run(sizes: Sizes, server: Server, lines: dict[str, LineInfo],
              ) -> tuple[list[Phase], Ledger]:  # fmt: skip
    port = server.agi_port
    phases: list[Phase] = []
    ledger = Ledger()
    rng = random.Random(SEED)
    seq = 1

    async def cycle(name: str, count: int, concurrency: int) -> None:
        """Route ``count`` calls, then hang up those that were routed."""
        nonlocal seq
        calls = make_calls(count, sizes.pool, lines, seq)
        seq += count
        requests = [route_request(c, port) for c in calls]
        phase, outcomes = await run_phase(f"{name} route", port, requests,
                                          concurrency=concurrency, expect="CALLCTL",
                                          server_pid=server.pid)  # fmt: skip
        phases.append(phase)
        routed: list[tuple[Call, str]] = []
        for call, o in zip(calls, outcomes, strict=True):
            names = [n for n, _ in o.variables]
            if o.error is None and names and names[0] == "CALLCTL":
                value = o.variables[0][1]
                if value.startswith("route,"):  # Asterisk dials: a hangup request follows
                    routed.append((call, value.split(",")[1]))
                elif len(names) == 1:
                    ledger.refused_answered.add(call.uniqueid)
                else:
                    ledger.refused_cut.add(call.uniqueid)
        requests = [hangup_request(call, trunk, port, rng) for call, trunk in routed]
        phase, outcomes = await run_phase(f"{name} hangup", port, requests,
                                          concurrency=concurrency, expect="CALLCTL_RECORDED",
                                          server_pid=server.pid)  # fmt: skip
        phases.append(phase)
        for (call, _), o in zip(routed, outcomes, strict=True):
            names = [n for n, _ in o.variables]
            if o.error is None and names and names[0] == "CALLCTL_RECORDED":
                ledger.hangup_recorded.add(call.uniqueid)
            elif names == ["CALLCTL_STATUS"]:
                ledger.hangup_cut.add(call.uniqueid)

    await cycle("warmup", sizes.warmup, sizes.concurrency)
    await cycle("c1", sizes.latency_c1, 1)
    for i in range(sizes.repeats):
        await cycle(f"run {i + 1}", sizes.route, sizes.concurrency)
    ledger.must = ledger.refused_answered | ledger.hangup_recorded
    return phases, ledger


def summarise(phases: list[Phase]) -> dict[str, Any]:
    def median_of(kind: str) -> tuple[list[Phase], Phase]:
        runs = [p for p in phases if p.name.startswith("run ") and p.name.endswith(kind)]
        return runs, sorted(runs, key=lambda p: p.rate)[len(runs) // 2]

    routes, route = median_of("route")
    hangups, hangup = median_of("hangup")
    best = max(p.rate for p in routes)
    return {
        "decisions_per_s_best": best,
        "decisions_per_s_median": statistics.median(p.rate for p in routes),
        "decision_p50_ms": route.p50_ms,
        "decision_p99_ms": route.p99_ms,
        "decision_cpu_us": route.server_cpu_us_per_request,
        "records_per_s_best": max(p.rate for p in hangups),
        "records_per_s_median": statistics.median(p.rate for p in hangups),
        "hangup_p50_ms": hangup.p50_ms,
        "hangup_p99_ms": hangup.p99_ms,
        "hangup_cpu_us": hangup.server_cpu_us_per_request,
        "safe_answers_route": sum(p.safe_answers for p in routes),
        "cut_after_answer_route": sum(p.cut_after_answer for p in routes),
        "safe_answers_hangup": sum(p.safe_answers for p in hangups),
        "requests_route": sum(p.requests for p in routes),
        "requests_hangup": sum(p.requests for p in hangups),
        "target_decisions_per_s": TARGET_DECISIONS,
        "status": "PASS" if best >= TARGET_DECISIONS else "BELOW",
    }


def report(result: dict[str, Any]) -> str:
    out = [
        f"bench_agi ({result['mode']}): callctl serve on CPU {SERVER_CPU}"
        f"{'' if result['pinned'] else ' (not pinned)'}, {result['database']}, "
        f"max_sessions={result['max_sessions']}, median and percentiles per phase",
        "",
        f"{'phase':<14} {'conc':>4} {'requests':>8} {'answered':>8} {'safe':>5} {'fail':>4} "
        f"{'per s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'srv CPU':>7} "
        f"{'µs/req':>6} {'cli CPU':>7}",
    ]
    for p in result["phases"]:
        out.append(
            f"{p['name']:<14} {p['concurrency']:>4} {p['requests']:>8} {p['answered']:>8} "
            f"{p['safe_answers']:>5} {p['failures']:>4} {p['rate']:>6.0f} {p['p50_ms']:>7.1f} "
            f"{p['p99_ms']:>7.1f} {p['max_ms']:>7.1f} {p['server_cpu_share']:>7.2f} "
            f"{p['server_cpu_us_per_request']:>6.0f} {p['client_cpu_share']:>7.2f}"
        )
    s = result["summary"]
    r = result["records"]
    out += [
        "",
        f"decisions/s: best {s['decisions_per_s_best']:.0f}, median "
        f"{s['decisions_per_s_median']:.0f} (target {TARGET_DECISIONS:.0f}): {s['status']}",
        f"decision latency at {result['concurrency']} in flight (median run): p50 "
        f"{s['decision_p50_ms']:.1f} ms, p99 {s['decision_p99_ms']:.1f} ms; "
        f"{s['safe_answers_route']} of {s['requests_route']} cut at the deadline (and "
        f"{s['cut_after_answer_route']} after their answer)",
        f"records committed/s: best {s['records_per_s_best']:.0f}, median "
        f"{s['records_per_s_median']:.0f} (median run p50 {s['hangup_p50_ms']:.1f} ms, p99 "
        f"{s['hangup_p99_ms']:.1f} ms); {s['safe_answers_hangup']} of {s['requests_hangup']} "
        "cut at the deadline",
        f"records: {r['in_db']} in the database; answered refusals without a record: "
        f"{r['refusals_missing']}; recorded hangups without a record: {r['hangups_missing']}; "
        f"cut hangups committed anyway: {r['cut_committed']} of {r['cut']}; refusals cut after "
        f"their answer committed: {r['refusals_cut_committed']} of {r['refusals_cut']}; "
        f"unexpected: {r['unexpected']}",
    ]
    logged = result["serve_log"]
    out.append(f"serve's log: {logged['counts']}, other warnings and errors: {logged['other']}")
    out += [f"WARNING: {w}" for w in result["warnings"]]
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--concurrency", type=int, help="sessions in flight (200; quick 50)")
    parser.add_argument("--max-sessions", type=int, default=256,
                        help="serve's max_sessions (CALLCTL_MAX_SESSIONS), 256")  # fmt: skip
    parser.add_argument("--postgres", metavar="ADMIN_URL",
                        help="use a fresh PostgreSQL database (created and dropped through "
                             "this URL, e.g. postgresql://postgres@127.0.0.1:5432/postgres) "
                             "instead of a SQLite file")  # fmt: skip
    parser.add_argument("--profile", metavar="FILE", type=Path,
                        help="run serve under cProfile and write its profile here")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.concurrency:
        sizes = Sizes(**{**asdict(sizes), "concurrency": args.concurrency})

    pin = pinning_possible()
    warnings: list[str] = []
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    else:
        warnings.append("fewer than 2 CPUs or no taskset: server and client are not pinned")
    if args.max_sessions < sizes.concurrency:
        warnings.append(f"max_sessions {args.max_sessions} < concurrency {sizes.concurrency}: "
                        "expect safe answers (the server's overload path)")  # fmt: skip
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="callctl-bench-agi-"))
    pg = Postgres(args.postgres) if args.postgres else None
    db = pg.url if pg else f"sqlite:///{work / 'callctl.db'}"
    server = Server(db, work, args.max_sessions, args.profile, pin)
    try:
        if pg:
            pg.create()
        import_lines(db)
        lines = lab_lines()
        try:
            server.start()
            phases, ledger = asyncio.run(run(sizes, server, lines))
            health = server.health()
        finally:
            server.stop()
        keys = asyncio.run(recorded_keys(db))
    finally:
        if pg:
            pg.drop()
    records = {
        "in_db": len(keys),
        "refusals_missing": len(ledger.refused_answered - keys),
        "hangups_missing": len(ledger.hangup_recorded - keys),
        "refusals_cut": len(ledger.refused_cut),
        "refusals_cut_committed": len(ledger.refused_cut & keys),
        "cut": len(ledger.hangup_cut),
        "cut_committed": len(ledger.hangup_cut & keys),
        "unexpected": len(keys - ledger.must - ledger.hangup_cut - ledger.refused_cut),
    }
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "database": "PostgreSQL" if pg else "SQLite",
        "machine": {**info, "loadavg_end": os.getloadavg()},
        "pinned": pin,
        "concurrency": sizes.concurrency,
        "max_sessions": args.max_sessions,
        "sizes": asdict(sizes),
        "phases": [asdict(p) for p in phases],
        "summary": summarise(phases),
        "records": records,
        "server_health": health,
        "serve_log": log_problems(server.log),
        "warnings": warnings,
    }
    ok = not (records["hangups_missing"] or records["unexpected"])
    for p in phases:
        if p.failures:
            ok = False
            warnings.append(f"{p.name}: {p.failures} requests without an answer: {p.errors}")
        if p.name.startswith("run ") and p.server_cpu_share < CPU_SHARE_WARNING:
            warnings.append(f"{p.name}: the server used only {p.server_cpu_share:.0%} of "
                            "its core (the client or the machine was the limit)")  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print(report(result))
    if args.profile is not None:
        print(f"profile of serve written to {args.profile}", file=sys.stderr)
    if args.keep:
        print(f"work folder kept: {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
