"""Misbehaving FastAGI peers against the real ``callctl serve`` while real calls go through the
real PBX (docs/operations.md, "Misbehaving AGI peers").

Each case starts one kind of bad peer on callctl's FastAGI port (slow peers sending their
environment a byte at a time, stuck peers that send a request and then neither read nor close,
peers that vanish without FIN or RST from a network namespace, a flood of idle connections,
bursts of connections closed at once, and more stuck peers than ``max_sessions``), then places
real calls of the Classic line with SIPp through Asterisk while they are active. Each call
must be answered by the carrier with its post-dial delay (authenticated INVITE to 200 OK)
under the AGI deadline, and where the case says so be decided by callctl itself (its record
exists: the dialplan's fallback writes none). The callctl process's open file descriptors and
RSS (``/proc/<pid>``) must stay under the stated bounds, the descriptors come back to where
they were once the bad peers are gone, and a last call is decided normally.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import pytest

from callctl.pbx.agi_peers import BadPeers, PeerStats, vanishing_peers
from callctl.pbx.lab import Lab
from callctl.pbx.rss import open_fds, rss, sampled
from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from tests.live.conftest import CLASSIC, Callctl, serving_lab_lines, wait_for

AGI_DEADLINE = 1.5  # callctl serve's default agi_deadline
MAX_SESSIONS = 64  # its default max_sessions
MAX_CONNECTIONS = 4 * MAX_SESSIONS  # its default agi_max_connections
BACKLOG = 256  # FastAgiServer's listen backlog: one turn of its loop accepts this many at most
# Descriptors the bad peers may add: FastAGI sockets (FastAgiServer's doc), and a few more the
# process opens under load (database connections: 28 more at most under the 10 000-connection
# flood of benchmarks/bench_agi_peers.py).
FD_BOUND = MAX_CONNECTIONS + 3 * BACKLOG + 64
RSS_BOUND = 64 * 2**20  # bytes the bad peers may add to callctl's RSS
FD_SLACK = 4  # descriptors callctl may hold beyond its count before a case, once it is over
CALLS = 4  # real calls per case, one after the other
RAMP = 1.5  # seconds the bad peers run before the first call
SETTLE = 8.0  # seconds for callctl to let go of every bad peer once they stop
HOLD_MS = 200


@dataclass(frozen=True)
class Case:
    name: str
    peers: Callable[[], AbstractContextManager[object]]
    decided: bool  # every real call decided by callctl (else the fallback is allowed too)
    let_go_within: float | None  # seconds within which callctl closes each bad peer


@contextmanager
def half_open_waves(count: int = 150, whole: int = 5) -> Iterator[None]:
    """Waves of ``count`` peers from a network namespace that vanish right after talking
    (``whole`` of them after a whole request), one wave after the other until the block ends.

    A whole request holds one of the ``max_sessions`` decisions until its reply times out
    (about 1.5 s); waves come every half second or so, so ``whole`` stays far below
    ``MAX_SESSIONS`` / 3: with 25 a wave, the vanished requests alone filled the 64 sessions
    on some runs and a real call got the overload answer (that is the case
    ``stuck-beyond-max-sessions``, not this one)."""
    stop = threading.Event()
    waves: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            while not stop.is_set():
                with vanishing_peers(count, whole) as wave:
                    wave.vanish()
                waves.append(count)
                stop.wait(0.3)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
    if errors:
        raise RuntimeError("half-open peers failed") from errors[0]
    assert waves, "no wave of half-open peers ran"


CASES = [
    Case("slow", lambda: BadPeers("slow", 150, interval=0.3), True, 1.0 + 0.5),
    Case("stuck", lambda: BadPeers("stuck", 40), True, 1.0 + 0.5),
    Case("half-open", half_open_waves, True, None),
    Case("idle-flood", lambda: BadPeers("idle_flood", 2000, rate=1500, hold=5), True, 1.0 + 0.5),
    Case("bursts", lambda: BadPeers("burst", 1000, interval=0.5), True, None),
    Case("stuck-beyond-max-sessions", lambda: BadPeers("stuck", 2 * MAX_SESSIONS), False,
         1.0 + 0.5),
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Callctl]:
    """One ``callctl serve`` with default limits, also listening on the namespace's link
    (``agi_host = 0.0.0.0``: the half-open peers connect from outside the loopback)."""
    del lab
    env = {"CALLCTL_AGI_HOST": "0.0.0.0"}
    with serving_lab_lines(tmp_path_factory.mktemp("agi-peers"), env=env) as served:
        yield served


def agi_errors(server: Callctl) -> dict[str, float]:
    """``callctl_agi_errors_total`` by kind, from ``/metrics``."""
    url = f"http://127.0.0.1:{server.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    return {
        m[1]: float(m[2])
        for m in re.finditer(r'^callctl_agi_errors_total\{kind="(\w+)"\} (\S+)$', text, re.M)
    }


_numbers = iter(range(10, 100))


def real_call(server: Callctl, call: Callable[..., SippResult], decided: bool) -> float:
    """One call of the Classic line to a Belgian fixed number; its post-dial delay."""
    dialled = f"0223456{next(_numbers):02d}"
    result = call(CLASSIC, UacCall(dialled, hold_ms=HOLD_MS))
    assert result.returncode == 0, result.stderr[-2000:]
    delay = result.post_dial_delay()
    assert delay is not None, result.messages[-2000:]
    assert delay < AGI_DEADLINE, f"{dialled}: answered {delay:.3f} s after the INVITE"
    if decided:  # the dialplan's fallback writes no record: callctl decided this call
        assert wait_for(lambda: any(r.dialled == dialled for r in server.records()), timeout=5), (
            f"{dialled}: no record, so callctl did not decide it"
        )
    return delay


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_peers_cost_bounded_resources_and_calls_go_through(
    case: Case,
    server: Callctl,
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    assert server.proc is not None
    pid = server.proc.pid
    far_ends("carrier")
    real_call(server, call, decided=True)  # warm: what the process opens lazily is open
    fds_before, rss_before = open_fds(pid), rss(pid)
    errors_before = agi_errors(server)
    delays = []
    with (
        sampled(lambda: open_fds(pid), 0.02) as fds,
        sampled(lambda: rss(pid), 0.05) as rsss,
        case.peers() as peers,
    ):
        time.sleep(RAMP)
        for _ in range(CALLS):
            delays.append(real_call(server, call, case.decided))
            assert server.proc.poll() is None, "callctl serve is gone"
    stats: PeerStats | None = peers.stats if isinstance(peers, BadPeers) else None
    settled = wait_for(lambda: open_fds(pid) <= fds_before + FD_SLACK, timeout=SETTLE)
    after = open_fds(pid)
    errors = {k: v - errors_before.get(k, 0) for k, v in agi_errors(server).items()}
    peers_seen = stats and (stats.opened, stats.let_go, max(stats.lifetimes, default=None))
    print(f"{case.name}: post-dial {[round(d * 1000) for d in delays]} ms; fds "
          f"{fds_before} -> peak {max(fds)} -> {after}; rss {rss_before >> 20} -> peak "
          f"{max(rsss) >> 20} MiB; peers (opened, let go, longest life) {peers_seen}; "
          f"errors {({k: v for k, v in errors.items() if v})}")  # fmt: skip
    assert max(fds) <= fds_before + FD_BOUND, (max(fds), fds_before)
    assert max(rsss) <= rss_before + RSS_BOUND, (max(rsss), rss_before)
    assert settled, f"{after} descriptors {SETTLE} s after the bad peers, {fds_before} before"
    health = server.health()
    assert health["status"] == "ok", health
    assert health["agi"]["open_connections"] == 0, health
    if stats is not None:
        assert stats.opened > 0
        if case.let_go_within is not None:  # callctl closed them, they did not leave
            assert stats.let_go > 0, stats
            assert max(stats.lifetimes) <= case.let_go_within, stats
    real_call(server, call, decided=True)  # and it keeps serving
