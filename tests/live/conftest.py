"""Live tests: a real Asterisk (the test PBX), real SIPp callers and far ends, and
``callctl serve`` as a separate process on a real SQLite or PostgreSQL database.

The PBX needs root (chroot, mount): these tests fail, never skip, without it. CI runs as
root; ``callctl pbx up`` builds the chroot the first time (about a minute).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from callctl.core.records import CallRecord
from callctl.pbx import faults
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.serve_process import ServeProcess
from callctl.pbx.sipp import FarEnd, SippResult, UacCall, place_call
from callctl.store import make_engine
from callctl.store.repository import Store
from tests.databases import fresh_database

ROOT = Path(__file__).resolve().parents[2]
LAB_LINES = ROOT / "dialplan" / "lab-lines.yaml"
CALLCTL = [sys.executable, "-m", "callctl"]

CLASSIC = "+3222000001"
CLASSIC_ANYTIME = "+3222000002"
KLIK = "+3292000003"
PHONE2GO = "+3242000004"
PHONE2GO_LICENCE = "+3242000014"
PAUSED = "+3265000005"

PEAK = "2026-11-26T10:00:00+01:00"  # a Thursday morning
OFFPEAK = "2026-11-26T20:00:00+01:00"  # the same Thursday evening


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*CALLCTL, *args], capture_output=True, text=True, timeout=300,
                          check=False, cwd=ROOT)  # fmt: skip
    if check and proc.returncode != 0:
        raise AssertionError(f"callctl {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """The test PBX with the lab lines, up for the whole session."""
    if os.geteuid() != 0:
        pytest.fail("the live tests need root: the test PBX runs in a chroot")
    run_cli("pbx", "up", "--lines", str(LAB_LINES))
    lab = Lab()
    yield lab
    run_cli("pbx", "down")


@pytest.fixture(scope="session")
def creds(lab: Lab) -> dict[str, Credential]:
    return lab.credentials()


wait_for = faults.wait_for  # one poller for the live tests and the fault drills


class Callctl(ServeProcess):
    """``callctl serve`` for a test, with the records it wrote."""

    def records(self) -> list[CallRecord]:
        return records(self.db)


def records(db: str, line: str | None = None) -> list[CallRecord]:
    async def main() -> list[CallRecord]:
        engine = make_engine(db)
        try:
            return await Store(engine).list_records(line=line)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@contextmanager
def serving_lab_lines(
    work: Path, clock: str | None = PEAK, env: Mapping[str, str] | None = None
) -> Iterator[Callctl]:
    """``callctl serve`` on a new SQLite database of the lab lines in ``work`` (for fixtures
    that keep one server for a whole module), with ``env``'s ``CALLCTL_…`` settings."""
    db = f"sqlite:///{work / 'callctl.db'}"
    run_cli("lines", "import", str(LAB_LINES), "--db", db)
    server = Callctl(db, clock, work, env=env).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lines_db(tmp_path: Path) -> str:
    """A SQLite database holding the lab lines."""
    url = f"sqlite:///{tmp_path / 'callctl.db'}"
    run_cli("lines", "import", str(LAB_LINES), "--db", url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def any_lines_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The lab lines in a SQLite file, or in a fresh PostgreSQL database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'callctl.db'}"
        run_cli("lines", "import", str(LAB_LINES), "--db", url)
        yield url
        return
    with fresh_database() as url:
        run_cli("lines", "import", str(LAB_LINES), "--db", url)
        yield url


@pytest.fixture
def start_callctl(tmp_path: Path, lab: Lab) -> Iterator[Callable[..., Callctl]]:
    """Start ``callctl serve`` on a database with a test clock; stopped after the test."""
    del lab
    started: list[Callctl] = []

    def start(db: str, clock: str | None = PEAK) -> Callctl:
        server = Callctl(db, clock, tmp_path).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def far_ends(lab: Lab) -> Iterator[Callable[..., FarEnd]]:
    """Start SIPp far ends on trunks' addresses (the carrier, emergency centres)."""
    with ExitStack() as stack:
        running: dict[str, FarEnd] = {}

        def far_end(trunk: str, hold_ms: int | None = None) -> FarEnd:
            if trunk not in running:
                running[trunk] = stack.enter_context(FarEnd(lab.trunk_address(trunk), hold_ms))
                time.sleep(0.2)  # SIPp binds its socket
            return running[trunk]

        yield far_end


@pytest.fixture
def call(creds: dict[str, Credential]) -> Callable[..., SippResult]:
    """Place one call from a lab line with SIPp (digest auth) and return SIPp's result."""

    def place(line: str, spec: UacCall) -> SippResult:
        cred = creds[line]
        return place_call(spec, cred.username, cred.password)

    return place
