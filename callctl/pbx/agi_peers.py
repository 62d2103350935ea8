"""FastAGI requests as the dialplan sends them, and misbehaving FastAGI peers.

For the live tests and the benchmark of ``callctl serve`` against bad peers (docs/operations.md,
"Misbehaving AGI peers"): :class:`BadPeers` runs, from a thread, peers that are *slow* (the
environment one byte at a time), *stuck* (a whole request, then neither reading nor closing),
an *idle flood* (connections opened fast and left silent) or *bursts* (connections opened and
closed at once); :func:`vanishing_peers` opens connections from a network namespace whose link
is then deleted, so no FIN or RST ever reaches callctl (half-open TCP). The bad peers connect
from ``BAD_NET`` (127.0.0.64/26), so a capture can leave them out and keep Asterisk's requests.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import errno
import itertools
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

CLASSIC = "+3222000001"  # the lab's Classic line (dialplan/lab-lines.yaml)
HOST = "callctl-lab"  # dialplan/asterisk.conf systemname: the host of every call key
AGI_PORT = 4573
BAD_NET = "127.0.0.64/26"
"""Loopback addresses the bad peers connect from (none of the lab's trunks is there)."""
BAD_DIALLED = "022345697"  # what the stuck and vanished peers' requests dial

Kind = Literal["slow", "stuck", "idle_flood", "burst"]

_ids = itertools.count(1)
_TCP_ESTABLISHED, _TCP_SYN_SENT = 1, 2
_LINGER_RESET = struct.pack("ii", 1, 0)  # close() sends RST: no TIME_WAIT on our side


# ------------------------------------------------------------------ requests, by hand


def x64(value: str) -> str:
    """An argument as the dialplan sends it: ``BASE64_ENCODE(x<value>)``."""
    return base64.b64encode(("x" + value).encode()).decode()


def env_block(script: str, uniqueid: str, args: Sequence[str], channel: str = "") -> bytes:
    """An environment block as res_agi (Asterisk 22) writes it, then its blank line."""
    lines = {
        "agi_network": "yes",
        "agi_network_script": script,
        "agi_request": f"agi://127.0.0.1:{AGI_PORT}/{script}",
        "agi_channel": channel or f"PJSIP/{CLASSIC.lstrip('+')}-{next(_ids):08x}",
        "agi_language": "en",
        "agi_type": "PJSIP",
        "agi_uniqueid": uniqueid,
        "agi_version": "22.10.1",
        "agi_callerid": CLASSIC,
        "agi_calleridname": "unknown",
        "agi_callingpres": "0",
        "agi_callingani2": "0",
        "agi_callington": "0",
        "agi_callingtns": "0",
        "agi_dnid": "unknown",
        "agi_rdnis": "unknown",
        "agi_context": f"callctl-{script}",
        "agi_extension": "s",
        "agi_priority": "1",
        "agi_enhanced": "0.0",
        "agi_accountcode": "",
        "agi_threadid": "140000000000000",
    }
    lines.update({f"agi_arg_{i}": arg for i, arg in enumerate(args, start=1)})
    return "".join(f"{k}: {v}\n" for k, v in lines.items()).encode() + b"\n"


def route_args(dialled: str) -> list[str]:
    """[callctl-route]'s AGI arguments for a call of the Classic line."""
    user = CLASSIC.lstrip("+")
    return [
        x64(dialled), CLASSIC, user, "127.0.0.1:5061", HOST, x64(CLASSIC), x64(""), x64(""),
        x64(f"<sip:{user}@127.0.0.1:5061>"), x64(""), x64(""), x64(""),
        "psap-112-brussels", "cic-101-brussels",
    ]  # fmt: skip


def hangup_args(ended: str, answered_ms: int, status: str, dialled: str) -> list[str]:
    """[callctl-hangup]'s AGI arguments for a call of the Classic line on the carrier."""
    return [HOST, ended, str(answered_ms), status, "16", "carrier", CLASSIC, x64(dialled)]


def bad_request() -> bytes:
    """A valid ``route`` request (callctl decides it and waits for Asterisk's reply)."""
    return env_block("route", f"bad-peer-{time.time():.6f}-{next(_ids)}", route_args(BAD_DIALLED))


# ------------------------------------------------------------------ bad peers


def server_let_go(sock: socket.socket) -> bool:
    """True once the server closed (FIN: CLOSE_WAIT) or reset the connection."""
    try:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]
    except OSError:
        return True
    return state not in (_TCP_ESTABLISHED, _TCP_SYN_SENT)


@dataclass
class PeerStats:
    """What the bad peers saw."""

    opened: int = 0
    """Connections opened (connect started)."""
    let_go: int = 0
    """Connections the server closed or reset."""
    lifetimes: list[float] = field(default_factory=list)
    """Seconds from connect to the server letting go, for each let go."""
    max_open: int = 0
    """Most connections open at once on the peers' side."""


@dataclass
class _Peer:
    sock: socket.socket
    opened: float
    data: bytes
    sent: int = 0


class BadPeers:
    """Misbehaving peers of one ``kind`` against ``host:port``, run from a thread until
    ``stop`` (or the end of a ``with`` block):

    - ``slow``: ``count`` connections, each sending a request one byte every ``interval``
      seconds; one the server lets go is replaced;
    - ``stuck``: ``count`` connections, each sending a whole request at once, then neither
      reading nor closing; one the server lets go is replaced;
    - ``idle_flood``: up to ``rate`` new silent connections a second, each left open for
      ``hold`` seconds (then reset), at most ``count`` open at once;
    - ``burst``: ``count`` connections opened as fast as possible then all closed at once,
      every ``interval`` seconds.
    """

    def __init__(
        self,
        kind: Kind,
        count: int,
        *,
        host: str = "127.0.0.1",
        port: int = AGI_PORT,
        interval: float = 0.3,
        rate: float = 2000.0,
        hold: float = 5.0,
    ) -> None:
        self.kind = kind
        self.count = count
        self.address = (host, port)
        self.interval = interval
        self.rate = rate
        self.hold = hold
        self.stats = PeerStats()
        self._peers: list[_Peer] = []
        self._sources = itertools.cycle(f"127.0.0.{n}" for n in range(65, 127))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"bad-peers-{kind}", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> BadPeers:
        self._thread.start()
        return self

    def stop(self) -> PeerStats:
        self._stop.set()
        self._thread.join(timeout=30)
        for peer in self._peers:
            self._reset(peer.sock)
        self._peers.clear()
        if self.error is not None:
            raise RuntimeError(f"bad peers ({self.kind}) failed") from self.error
        return self.stats

    def __enter__(self) -> BadPeers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the thread

    def _open(self, data: bytes) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
        sock.setblocking(False)
        try:
            sock.bind((next(self._sources), 0))
            code = sock.connect_ex(self.address)
        except OSError:
            sock.close()
            raise
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(code, f"connect to {self.address}: {errno.errorcode.get(code)}")
        self._peers.append(_Peer(sock, time.monotonic(), data))
        self.stats.opened += 1
        self.stats.max_open = max(self.stats.max_open, len(self._peers))

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.close()

    def _run(self) -> None:
        try:
            if self.kind == "burst":
                self._bursts()
            else:
                self._steady()
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def _steady(self) -> None:
        tick = self.interval if self.kind == "slow" else 0.02
        budget = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            kept: list[_Peer] = []
            for peer in self._peers:
                if server_let_go(peer.sock):
                    self.stats.let_go += 1
                    self.stats.lifetimes.append(now - peer.opened)
                    self._reset(peer.sock)
                elif self.kind == "idle_flood" and now - peer.opened > self.hold:
                    self._reset(peer.sock)
                else:
                    self._send(peer)
                    kept.append(peer)
            self._peers = kept
            if self.kind == "idle_flood":
                budget = min(budget + self.rate * tick, float(self.count))
                while budget >= 1 and len(self._peers) < self.count:
                    self._open(b"")
                    budget -= 1
            else:
                data = bad_request()
                while len(self._peers) < self.count:
                    self._open(data)
            self._stop.wait(tick)

    def _send(self, peer: _Peer) -> None:
        if peer.sent >= len(peer.data):
            return
        size = 1 if self.kind == "slow" else len(peer.data) - peer.sent
        with contextlib.suppress(BlockingIOError, InterruptedError):  # not connected yet
            peer.sent += peer.sock.send(peer.data[peer.sent : peer.sent + size])
        # A reset or broken pipe here is seen as "let go" at the next tick.

    def _bursts(self) -> None:
        while not self._stop.is_set():
            for _ in range(self.count):
                self._open(b"")
            for peer in self._peers:
                self._reset(peer.sock)
            self._peers = []
            self._stop.wait(self.interval)


# ------------------------------------------------------------------ half-open TCP


NETNS = "callctl-agipeers"
_VETH_HOST, _VETH_PEER = "ccagi-h", "ccagi-p"
HOST_SIDE, PEER_SIDE = "10.231.77.1", "10.231.77.2"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class Vanishing:
    """Peers in a network namespace, connected and talking to callctl, until ``vanish``."""

    proc: subprocess.Popen[bytes]
    count: int
    whole: int  # of them sent a whole request (the others half of one)
    gone: bool = False

    def vanish(self) -> None:
        """Delete the namespace's link: the peers' sockets stay open, no packet ever leaves."""
        _ip("link", "del", _VETH_HOST)
        self.gone = True


@contextlib.contextmanager
def vanishing_peers(count: int, whole: int, port: int = AGI_PORT) -> Iterator[Vanishing]:
    """``count`` peers connected to ``HOST_SIDE:port`` from the namespace ``NETNS`` (root):
    ``whole`` send a whole request, the others half of one; the block calls ``vanish``.
    The server must listen on ``HOST_SIDE`` (e.g. ``agi_host = 0.0.0.0``)."""
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "del", NETNS)  # left over by an interrupted run
    _ip("netns", "add", NETNS)
    proc: subprocess.Popen[bytes] | None = None
    try:
        _ip("link", "add", _VETH_HOST, "type", "veth", "peer", "name", _VETH_PEER)
        _ip("link", "set", _VETH_PEER, "netns", NETNS)
        _ip("addr", "add", f"{HOST_SIDE}/30", "dev", _VETH_HOST)
        _ip("link", "set", _VETH_HOST, "up")
        inside = ("-n", NETNS)
        _ip(*inside, "addr", "add", f"{PEER_SIDE}/30", "dev", _VETH_PEER)
        _ip(*inside, "link", "set", _VETH_PEER, "up")
        _ip(*inside, "link", "set", "lo", "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", NETNS, sys.executable, "-m", "callctl.pbx.agi_peers",
             "--host", HOST_SIDE, "--port", str(port), "--count", str(count),
             "--whole", str(whole)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = proc.stdout.readline()
        if ready.strip() != b"ready":
            raise RuntimeError(f"the peers in {NETNS} did not start: {ready!r}")
        handle = Vanishing(proc, count, whole)
        yield handle
    finally:
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", _VETH_HOST)
        _ip("netns", "del", NETNS)


def _hold(host: str, port: int, count: int, whole: int) -> None:
    """Inside the namespace: connect, talk, say ``ready``, then hold until stdin closes."""
    socks = []
    for i in range(count):
        sock = socket.create_connection((host, port), timeout=5)
        request = bad_request()
        sock.sendall(request if i < whole else request[: len(request) // 2])
        socks.append(sock)
    print("ready", flush=True)
    sys.stdin.read()  # the parent deletes our link, then closes stdin


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=_hold.__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=AGI_PORT)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--whole", type=int, default=0)
    args = parser.parse_args(argv)
    _hold(args.host, args.port, args.count, args.whole)


if __name__ == "__main__":
    main()
