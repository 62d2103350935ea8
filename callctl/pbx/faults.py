"""Fault drills on the test PBX under SIPp load: callctl killed (SIGKILL), Asterisk
restarted, and two callctl processes on one PostgreSQL database behind one Asterisk.

Each drill runs the fault and returns what it observed (SIPp's counts, the far ends'
INVITEs, the records, Asterisk's CDR rows); ``tests/live/test_process_faults.py`` runs them
small enough for CI and asserts on the outcome, ``benchmarks/bench_faults.py`` runs them at
the sizes of issue 7 and prints the figures (docs/operations.md). Whoever runs a drill
holds ``/tmp/callctl-live.lock`` and has the PBX up with the lab lines.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from callctl.core.records import CallRecord
from callctl.data import default_tariff
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.serve_process import ServeProcess, free_port
from callctl.pbx.session import lab_lines
from callctl.pbx.sipp import FarEnd, LoadResult, SippLoad, SippResult, UacCall, place_call
from callctl.service.reconcile import CDR_FIELDS
from callctl.store import make_engine
from callctl.store.repository import Store

ROOT = Path(__file__).resolve().parents[2]
BELGIAN = "022345678"  # a Belgian fixed number: the dialplan's fallback connects it too
ZONE = "+33142685300"  # a zone number (R2), drawn from the bundle where the line has one
TARIFF = ROOT / "callctl" / "data" / "tariff.toml"
ALL_RECORDS = 10**7


def records(db: str) -> list[CallRecord]:
    """Every record of ``db`` (the store's listing stops at 1000 by default)."""

    async def read() -> list[CallRecord]:
        engine = make_engine(db)
        try:
            return await Store(engine).list_records(limit=ALL_RECORDS)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def bundle_counter(db: str, line: str, period: str) -> int:
    """The line's zone bundle counter for ``period`` (R6), as stored."""

    async def read() -> int:
        engine = make_engine(db)
        try:
            return (await Store(engine).get_usage(line, period)).bundle_seconds
        finally:
            await engine.dispose()

    return asyncio.run(read())


def cdr_rows(lab: Lab, offset: int) -> list[dict[str, str]]:
    """Asterisk's CDR rows (dialplan/cdr_custom.conf) written after ``offset`` bytes."""
    text = lab.cdr_file.read_bytes()[offset:].decode("utf-8", "replace")
    return [dict(zip(CDR_FIELDS, row, strict=True)) for row in csv.reader(io.StringIO(text))]


def cdr_size(lab: Lab) -> int:
    return lab.cdr_file.stat().st_size if lab.cdr_file.exists() else 0


def answered_ids(rows: Sequence[dict[str, str]]) -> set[str]:
    """Unique ids of the answered calls among CDR rows."""
    return {r["uniqueid"] for r in rows if r["disposition"] == "ANSWERED"}


def wait_for(check: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``check`` until it holds or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(step)
    return check()


def run_callctl(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "callctl", *args], capture_output=True,
                          text=True, timeout=300, check=False, cwd=ROOT)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"callctl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def recorded_now(reconcile_output: str) -> int:
    """``callctl reconcile``'s count of records it wrote."""
    match = re.search(r"(\d+) recorded now", reconcile_output)
    if match is None:
        raise RuntimeError(f"unexpected reconcile output: {reconcile_output!r}")
    return int(match.group(1))


# ----------------------------------------------------------------------------- SIGKILL


@dataclass
class KillDrill:
    """What :func:`kill_drill` saw."""

    load: LoadResult  # the steady load (Belgian calls, answered and held)
    calls: int  # calls the load placed
    active_at_kill: int  # calls callctl had in progress when it was killed
    outage_s: float  # from the kill to the new process answering /healthz
    emergency: list[SippResult]  # 112 calls placed while callctl was down
    psap_invites: int  # INVITEs the 112 centre received during the drill
    answered: set[str]  # unique ids of the answered calls (Asterisk's CDR)
    live_records: int  # records callctl wrote itself (both processes)
    reconciled: int  # records `callctl reconcile` added
    reconciled_again: int  # the same, run a second time
    records: list[CallRecord] = field(default_factory=list)  # every record, at the end
    cdr: list[dict[str, str]] = field(default_factory=list)  # the drill's CDR rows


def kill_drill(
    lab: Lab,
    cred: Credential,
    db: str,
    work: Path,
    *,
    rate: int,
    seconds: float,
    hold_ms: int,
    kill_after: float,
    down_for: float,
    emergency_calls: int,
    clock: str | None = None,
) -> KillDrill:
    """SIGKILL ``callctl serve`` ``kill_after`` seconds into a steady load of ``rate``
    Belgian calls a second for ``seconds`` (each held ``hold_ms``), place
    ``emergency_calls`` 112 calls while it is down, restart it after ``down_for`` seconds,
    and once every call ended run ``callctl reconcile`` on the drill's CDR rows twice.

    The far ends (carrier, the line's 112 centre) must be answering; ``db`` holds the lab
    lines. The PBX and the FastAGI port are the shared lab's: hold the live lock.
    """
    offset = cdr_size(lab)
    calls = int(rate * seconds)
    server = ServeProcess(db, clock, work).start()
    psap = FarEnd(lab.trunk_address("psap-112-brussels")).start()
    restarted: ServeProcess | None = None
    try:
        time.sleep(0.2)  # SIPp binds its socket
        load = SippLoad(UacCall(BELGIAN, hold_ms=hold_ms), cred.username, cred.password,
                        calls=calls, rate=rate, limit=calls).start()  # fmt: skip
        try:
            time.sleep(kill_after)
            active = int(server.health()["active_calls"])
            killed_at = time.monotonic()
            server.stop(signal.SIGKILL)
            with ThreadPoolExecutor(max(emergency_calls, 1)) as pool:
                placed = [
                    pool.submit(place_call, UacCall("112", hold_ms=300), cred.username,
                                cred.password, timeout=30)
                    for _ in range(emergency_calls)
                ]  # fmt: skip
                time.sleep(max(killed_at + down_for - time.monotonic(), 0))
                restarted = ServeProcess(db, clock, work).start()
                outage = time.monotonic() - killed_at
                emergency = [f.result() for f in placed]
            result = load.wait(timeout=calls / rate + hold_ms / 1000 + 120)
        finally:
            load.close()
        psap_invites = len(psap.invites())
    finally:
        psap.stop()
        if restarted is not None:
            restarted.stop()
        server.stop()
    # The CDR row is written once the call's channel is gone: after its hangup handler.
    expected = result.successful + sum(r.returncode == 0 for r in emergency)
    wait_for(lambda: len(answered_ids(cdr_rows(lab, offset))) >= expected, 10)
    rows = cdr_rows(lab, offset)
    answered = answered_ids(rows)
    live = len(records(db))
    cdr = work / "drill-cdr.csv"
    cdr.write_bytes(lab.cdr_file.read_bytes()[offset:])
    first = recorded_now(run_callctl("reconcile", str(cdr), "--db", db))
    again = recorded_now(run_callctl("reconcile", str(cdr), "--db", db))
    return KillDrill(
        load=result, calls=calls, active_at_kill=active, outage_s=outage,
        emergency=emergency, psap_invites=psap_invites, answered=answered,
        live_records=live, reconciled=first, reconciled_again=again,
        records=records(db), cdr=rows,
    )  # fmt: skip


# ----------------------------------------------------------------------------- Asterisk


@dataclass
class RestartDrill:
    """What :func:`asterisk_restart_drill` saw."""

    during: LoadResult  # the load Asterisk was restarted in
    after: LoadResult  # calls placed once it was back
    after_calls: int
    callctl_alive: bool  # the same callctl process, still running
    health: dict[str, object]  # its /healthz once every call ended
    after_answered: set[str]  # unique ids of the answered calls placed after (CDR)
    after_records: list[CallRecord]  # callctl's records of those calls
    restart_s: float  # Asterisk down and up again


def asterisk_restart_drill(
    lab: Lab,
    server: ServeProcess,
    cred: Credential,
    *,
    rate: int,
    seconds: float,
    hold_ms: int,
    restart_after: float,
) -> RestartDrill:
    """Stop and start Asterisk ``restart_after`` seconds into a load of ``rate`` Belgian
    calls a second, then place the same load again; ``server`` (already serving the lab
    lines on the dialplan's FastAGI port) is left alone throughout. The carrier's far end
    must be answering."""
    lines = lab_lines(default_tariff())
    calls = int(rate * seconds)
    spec = UacCall(BELGIAN, hold_ms=hold_ms)
    with SippLoad(spec, cred.username, cred.password, calls=calls, rate=rate,
                  recv_timeout_ms=5000) as load:  # fmt: skip
        time.sleep(restart_after)
        started = time.monotonic()
        lab.down()
        lab.up(lines)
        restart_s = time.monotonic() - started
        during = load.wait(timeout=calls / rate + hold_ms / 1000 + 60)
    offset = cdr_size(lab)
    with SippLoad(spec, cred.username, cred.password, calls=calls, rate=rate) as load:
        after = load.wait(timeout=calls / rate + hold_ms / 1000 + 60)
    wait_for(lambda: len(answered_ids(cdr_rows(lab, offset))) >= after.successful, 10)
    answered = answered_ids(cdr_rows(lab, offset))
    wait_for(lambda: server.health()["active_calls"] == 0, 10)
    return RestartDrill(
        during=during, after=after, after_calls=calls,
        callctl_alive=server.proc is not None and server.proc.poll() is None,
        health=server.health(), after_answered=answered,
        after_records=[r for r in records(server.db) if r.key.call_id in answered],
        restart_s=restart_s,
    )  # fmt: skip


# ----------------------------------------------------------------------------- two processes


def active_calls(server: ServeProcess) -> int | None:
    """The calls ``server`` holds in progress; None while its /healthz says the database does
    not answer in time (503: every connection busy settling hangups)."""
    try:
        return int(server.health()["active_calls"])
    except OSError:
        return None


def load_test_tariff(path: Path, bundle_seconds: int) -> Path:
    """The shipped tariff with a ``bundle_seconds`` zone bundle and the fraud guard's
    velocity limits lifted (so that one line may hold hundreds of calls abroad at once),
    under its own id: the drill's records say which tariff rated them."""
    text = TARIFF.read_text("utf-8")
    changes = {
        r'^id = "([^"]+)"': r'id = "\1-drill"',
        r"^bundle_seconds = \d+": f"bundle_seconds = {bundle_seconds}",
        r"^max_simultaneous = \d+": "max_simultaneous = 100000",
        r"^max_seconds = \d+": "max_seconds = 1000000000",
    }
    for pattern, replacement in changes.items():
        text, count = re.subn(pattern, replacement, text, count=1, flags=re.MULTILINE)
        if count != 1:
            raise RuntimeError(f"{TARIFF} changed: no line matches {pattern!r}")
    path.write_text(text, "utf-8")
    return path


@dataclass
class PairDrill:
    """What :func:`pair_drill` saw."""

    load: LoadResult
    calls: int
    active: list[int]  # calls in progress in each process, all calls being held
    sessions: list[int]  # FastAGI requests each process answered
    answered: set[str]  # unique ids of the answered calls (CDR)
    records: list[CallRecord]  # every record of the database
    usage_bundle_seconds: int  # the line's bundle counter for the calls' period


def pair_drill(
    lab: Lab,
    cred: Credential,
    db: str,
    work: Path,
    *,
    calls: int,
    rate: int,
    hold_ms: int,
    bundle_seconds: int,
    clock: str | None,
) -> PairDrill:
    """Two ``callctl serve`` on ``db`` (the lab lines, PostgreSQL), the dialplan asking
    both (``CALLCTL_AGI_MORE``); ``calls`` zone calls of the line of ``cred`` ramped in at
    ``rate`` a second and held ``hold_ms`` so that they overlap, on a tariff whose zone
    bundle holds ``bundle_seconds``. The carrier's far end must be answering."""
    tariff = load_test_tariff(work / "drill-tariff.toml", bundle_seconds)
    env = {"CALLCTL_TARIFF": str(tariff)}
    offset = cdr_size(lab)
    servers = [ServeProcess(db, clock, work, env=env)]
    servers.append(ServeProcess(db, clock, work, agi_port=free_port(), env=env))
    try:
        for server in servers:
            server.start()
        lab.use_agi_servers([f"agi://127.0.0.1:{servers[1].agi_port}"])
        with SippLoad(UacCall(ZONE, hold_ms=hold_ms), cred.username, cred.password,
                      calls=calls, rate=rate, limit=calls) as load:  # fmt: skip
            # Count the calls in progress in each process until all are placed and answered
            # (the first ends ``hold_ms`` after it was placed): the highest count is kept.
            started = time.monotonic()
            active = [0] * len(servers)
            with ThreadPoolExecutor(len(servers)) as pool:
                while time.monotonic() < started + hold_ms / 1000 - 0.5 and sum(active) < calls:
                    time.sleep(0.2)
                    now = [n or 0 for n in pool.map(active_calls, servers)]
                    active = max(active, now, key=sum)
            result = load.wait(timeout=calls / rate + hold_ms / 1000 + 120)
        wait_for(lambda: all(active_calls(s) == 0 for s in servers), 30, step=0.5)
        sessions = [int(s.health()["agi"]["sessions_total"]) for s in servers]
    finally:
        lab.use_agi_servers([])
        for server in servers:
            server.stop()
    wait_for(lambda: len(answered_ids(cdr_rows(lab, offset))) >= result.successful, 10)
    answered = answered_ids(cdr_rows(lab, offset))
    recs = records(db)
    period = recs[0].period if recs and recs[0].period else ""
    return PairDrill(
        load=result, calls=calls, active=active, sessions=sessions, answered=answered,
        records=recs, usage_bundle_seconds=bundle_counter(db, cred.number, period),
    )  # fmt: skip
