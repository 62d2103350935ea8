"""The real ``callctl serve`` process against a repeated hangup and against FastAGI garbage
(R6, R7, R10).

R10: a call is identified by the PBX's host and unique id, and a repeated hangup event for
the same call changes nothing: after a real call through the PBX, its ``hangup`` request is
replayed (once, then twice at the same time) with the dialplan's own arguments; the call
still has exactly one record, unchanged, and the line's counters (R6 bundle, R7 fair use)
are unchanged.

Garbage on the FastAGI port (not ``agi_key: value`` lines, an empty or missing environment,
a 100 KB line, thousands of lines, undecodable arguments, a peer that leaves mid-request or
never speaks) must cost nothing lasting: after each, the same process still answers a normal
``route`` request, ``/healthz`` says ok, and it holds no more sockets than before.
"""

from __future__ import annotations

import asyncio
import csv
import itertools
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import pytest

from callctl.core.rating import Usage
from callctl.core.records import CallKey, CallRecord
from callctl.pbx.agi_peers import HOST, env_block, hangup_args, route_args
from callctl.pbx.lab import Lab
from callctl.pbx.serve_process import AGI_PORT
from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from callctl.service.reconcile import CDR_FIELDS
from callctl.store import make_engine
from callctl.store.repository import Store
from tests.live.conftest import CLASSIC, OFFPEAK, Callctl, serving_lab_lines, wait_for

DIALLED = "022345678"  # the real call of the repeated-hangup test
PROBE_DIALLED = "022345699"  # the route requests this file sends itself
IO_TIMEOUT = 5.0  # every socket operation here is bounded
SOCKET_SLACK = 2  # sockets the process may hold beyond its count before a case
REPEAT = 5  # each garbage case runs this often: one leaked socket per request would show

_ids = itertools.count(1)


# ------------------------------------------------------------------ FastAGI, by hand


def connect() -> socket.socket:
    return socket.create_connection(("127.0.0.1", AGI_PORT), timeout=IO_TIMEOUT)


def read_to_close(sock: socket.socket, timeout: float = IO_TIMEOUT) -> bytes:
    """Everything the server sends until it closes; fails if it does not within ``timeout``."""
    data = b""
    deadline = time.monotonic() + timeout
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open; got {data!r}") from None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def exchange(env: bytes, replies: bool = True) -> list[str]:
    """Send a request like Asterisk; answer each command ``200 result=1``; the commands."""
    commands: list[str] = []
    with connect() as sock:
        sock.sendall(env)
        buf = b""
        deadline = time.monotonic() + IO_TIMEOUT
        while True:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"no end of request; commands {commands}") from None
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, _, buf = buf.partition(b"\n")
                commands.append(line.decode())
                if not replies:
                    return commands
                sock.sendall(b"200 result=1\n")
    assert not buf, buf
    return commands


def route(uniqueid: str, dialled: str = PROBE_DIALLED) -> str:
    """A normal route request; the CALLCTL value the server set."""
    commands = exchange(env_block("route", uniqueid, route_args(dialled)))
    assert len(commands) == 1, commands
    prefix = 'SET VARIABLE "CALLCTL" "'
    assert commands[0].startswith(prefix), commands
    assert commands[0].endswith('"'), commands
    return commands[0][len(prefix) : -1]


def hangup(uniqueid: str, args: Sequence[str], channel: str = "") -> list[str]:
    return exchange(env_block("hangup", uniqueid, args, channel))


# ------------------------------------------------------------------ the process and its store


def get_usage(db: str, line: str, period: str) -> Usage:
    async def main() -> Usage:
        engine = make_engine(db)
        try:
            return await Store(engine).get_usage(line, period)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def get_record(db: str, key: CallKey) -> CallRecord | None:
    async def main() -> CallRecord | None:
        engine = make_engine(db)
        try:
            return await Store(engine).get_record(key)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def socket_count(pid: int) -> int:
    """Sockets the process holds (entries of /proc/<pid>/fd that are sockets)."""
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                count += 1
        except FileNotFoundError:  # closed while we looked
            pass
    return count


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Callctl]:
    """One ``callctl serve`` for the file, on the lab lines, on a Thursday evening (R3)."""
    del lab
    with serving_lab_lines(tmp_path_factory.mktemp("agi-live"), OFFPEAK) as served:
        yield served


def pid_of(server: Callctl) -> int:
    assert server.proc is not None
    assert server.proc.poll() is None, "callctl serve is gone"
    return server.proc.pid


def probe(server: Callctl) -> None:
    """The server still routes a normal request, and forgets it again at its hangup."""
    uniqueid = f"probe-{time.time():.6f}-{next(_ids)}"
    value = route(uniqueid)
    assert value.startswith("route,carrier,+3222345699,"), value
    done = hangup(uniqueid, hangup_args(f"{time.time():.6f}", 0, "CANCEL", PROBE_DIALLED))
    assert done == ['SET VARIABLE "CALLCTL_RECORDED" "1"'], done
    health = server.health()
    assert health["status"] == "ok", health
    assert health["active_calls"] == 0, health


# ------------------------------------------------------------------ R10: the same hangup twice


def cdr_row(lab: Lab, uniqueid: str, timeout: float = 5) -> dict[str, str]:
    """The call's row in Asterisk's own CDR file (written just after the hangup handler)."""
    found: dict[str, str] = {}

    def check() -> bool:
        if not lab.cdr_file.exists():
            return False
        with open(lab.cdr_file, encoding="utf-8", newline="") as handle:
            for row in csv.reader(handle):
                if len(row) == len(CDR_FIELDS) and row[1] == uniqueid:
                    found.update(zip(CDR_FIELDS, row, strict=True))
                    return True
        return False

    assert wait_for(check, timeout, step=0.1), f"no CDR row for {uniqueid}"
    return found


def test_a_repeated_hangup_changes_nothing(
    server: Callctl,
    lab: Lab,
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    far_ends("carrier")
    result = call(CLASSIC, UacCall(DIALLED, hold_ms=1500))
    assert result.returncode == 0, result.stderr[-2000:]
    mine = [r for r in server.records() if r.dialled == DIALLED]
    assert len(mine) == 1, mine
    record = mine[0]
    assert record.key.host == HOST
    assert record.disposition == "ANSWERED"
    assert record.period is not None
    # Off-peak Belgian seconds are free and count toward fair use (R7): a second draw shows.
    assert record.fair_use_seconds > 0
    usage = get_usage(server.db, CLASSIC, record.period)
    assert usage.fair_use_seconds == record.fair_use_seconds

    # The hangup request exactly as [callctl-hangup] sent it, from Asterisk's own CDR.
    row = cdr_row(lab, record.key.call_id)
    answered_ms = round((Decimal(row["end"]) - Decimal(row["answer"])) * 1000)
    assert answered_ms > 0
    args = hangup_args(row["end"], answered_ms, "ANSWER", DIALLED)
    replay = env_block("hangup", record.key.call_id, args, row["channel"])

    assert exchange(replay) == ['SET VARIABLE "CALLCTL_RECORDED" "1"']
    with ThreadPoolExecutor(max_workers=2) as pool:  # and twice at the same moment
        answers = list(pool.map(lambda _: exchange(replay), range(2)))
    assert answers == [['SET VARIABLE "CALLCTL_RECORDED" "1"']] * 2

    assert [r for r in server.records() if r.key == record.key] == [record]  # R10
    assert get_record(server.db, record.key) == record
    assert get_usage(server.db, CLASSIC, record.period) == usage  # R6, R7: nothing drawn
    health = server.health()
    assert (health["status"], health["active_calls"]) == ("ok", 0), health


# ------------------------------------------------------------------ garbage


def send_then_read(data: bytes) -> bytes:
    """Send ``data`` (the server may cut us off midway) and read until it closes."""
    with connect() as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            return b""
        return read_to_close(sock)


def no_colon() -> None:
    assert send_then_read(b"hello\nthis is not FastAGI\n\n") == b""


def empty_environment() -> None:
    assert send_then_read(b"\n") == b""


def connect_and_close() -> None:
    with connect():
        pass


def line_of_100_kb() -> None:
    assert send_then_read(b"agi_channel: " + b"A" * 100_000 + b"\n\n") == b""


def thousands_of_lines() -> None:
    lines = b"".join(b"agi_var_%d: value %d\n" % (i, i) for i in range(5000))
    assert send_then_read(lines + b"\n") == b""


def binary_noise() -> None:
    noise = bytes(range(256)) * 8 + b"\r\n\x00\xff\xfe\n\n"
    assert send_then_read(noise) == b""


def garbage_route_arguments() -> None:
    uniqueid = f"garbage-route-{next(_ids)}"
    args = ["%%% not base64 %%%", *route_args(PROBE_DIALLED)[1:]]
    assert exchange(env_block("route", uniqueid, args)) == []  # no answer: the dialplan falls back


def garbage_hangup_arguments() -> CallKey:
    uniqueid = f"garbage-hangup-{next(_ids)}"
    args = hangup_args(f"{time.time():.6f}", 1500, "ANSWER", PROBE_DIALLED)
    args[-1] = "%%% not base64 %%%"
    assert exchange(env_block("hangup", uniqueid, args)) == []
    return CallKey(HOST, uniqueid)  # rated and recorded on garbage: it must not be


def unknown_script() -> None:
    assert exchange(env_block("nosuch", f"garbage-script-{next(_ids)}", ["1", "2"])) == []


def close_mid_environment() -> None:
    env = env_block("route", f"garbage-half-{next(_ids)}", route_args(PROBE_DIALLED))
    with connect() as sock:
        sock.sendall(env[: len(env) // 2])


def close_mid_command() -> None:
    """Leave while the server waits for the reply to its SET VARIABLE (a caller's CANCEL)."""
    env = env_block("route", f"garbage-leave-{next(_ids)}", route_args(PROBE_DIALLED))
    commands = exchange(env, replies=False)
    assert len(commands) == 1, commands
    assert commands[0].startswith('SET VARIABLE "CALLCTL"'), commands


def silent_client() -> None:
    with connect() as sock:  # the server gives up on a missing environment by itself
        assert read_to_close(sock, timeout=IO_TIMEOUT) == b""


@dataclass(frozen=True)
class Garbage:
    name: str
    run: Callable[[], CallKey | None]  # returns a call that must not have been recorded


GARBAGE = [
    Garbage("no-colon", no_colon),
    Garbage("empty-environment", empty_environment),
    Garbage("connect-and-close", connect_and_close),
    Garbage("line-of-100-kb", line_of_100_kb),
    Garbage("thousands-of-lines", thousands_of_lines),
    Garbage("binary-noise", binary_noise),
    Garbage("garbage-route-arguments", garbage_route_arguments),
    Garbage("garbage-hangup-arguments", garbage_hangup_arguments),
    Garbage("unknown-script", unknown_script),
    Garbage("close-mid-environment", close_mid_environment),
    Garbage("close-mid-command", close_mid_command),
    Garbage("silent-client", silent_client),
]


@pytest.mark.parametrize("garbage", GARBAGE, ids=lambda g: g.name)
def test_garbage_leaves_the_server_serving(garbage: Garbage, server: Callctl) -> None:
    pid = pid_of(server)
    probe(server)  # warm: whatever the process opens lazily is open before we count
    before = socket_count(pid)
    for _ in range(REPEAT):
        unrecorded = garbage.run()
        assert pid_of(server) == pid
        probe(server)
        if unrecorded is not None:
            assert get_record(server.db, unrecorded) is None
    # A socket closes a moment after its peer sees EOF: wait for the count to settle.
    settled = wait_for(lambda: socket_count(pid) <= before + SOCKET_SLACK, timeout=5)
    assert settled, f"{socket_count(pid)} sockets after {garbage.name} x{REPEAT}, {before} before"
