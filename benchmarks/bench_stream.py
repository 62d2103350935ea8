"""Fan-out of the live stream: ``callctl serve`` deciding and recording calls while many
Server-Sent Events clients follow ``/v1/stream``.

Run from the repository root::

    .venv/bin/python benchmarks/bench_stream.py            # 100 clients, 50 records/s, 60 s
    .venv/bin/python benchmarks/bench_stream.py --quick    # smoke run (a few seconds)
    .venv/bin/python benchmarks/bench_stream.py --json     # machine-readable results

``callctl serve`` runs as a child process pinned to CPU 0, on a fresh SQLite file with the
lab lines and a free FastAGI port (never 4573), exactly as in ``bench_agi.py``, whose
synthetic PBX this script reuses. This process pins itself to CPU 1 and is both the PBX
and the clients:

- ``--clients`` connections to ``/v1/stream`` (HTTP/1.0, raw asyncio sockets), each
  reading every frame;
- calls started at a steady ``--rate`` per second for ``--duration`` seconds, each a
  ``route`` request and, when routed, its ``hangup`` request at once: every call leaves
  one record (a refusal's comes from the batch writer), so the rate is records per second.
  A call makes two events (refused, record) or three (decided, ended, record).

Figures: delivery latency of every event to every client (the client's receive time minus
the ``at`` the server stamped when it published the event; one clock, one machine), p50,
p99 and max; lost events (each client must receive every id from its ``hello`` position to
the final position exactly once, in order); clients dropped or reset; the server's CPU
share of its core over the production window; the route requests' latency meanwhile.
Exit status 1 when an event was lost or repeated, a client was dropped, or a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench_agi import (
    CLIENT_CPU,
    Server,
    hangup_request,
    import_lines,
    lab_lines,
    machine,
    make_calls,
    one_request,
    percentile,
    pinning_possible,
    process_cpu,
    route_request,
)

SETTLE = 1.0  # seconds after the last call for its record to be written and sent
DRAIN_TIMEOUT = 20.0


@dataclass(frozen=True)
class Sizes:
    clients: int
    rate: float  # calls (records) per second
    duration: float  # seconds


FULL = Sizes(clients=100, rate=50.0, duration=60.0)
QUICK = Sizes(clients=5, rate=20.0, duration=2.0)


class SseClient(asyncio.Protocol):
    """One stream client: splits frames, keeps every id and each event's delivery latency."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.buf = bytearray()
        self.headers_done = False
        self.start: int | None = None  # the hello's position
        self.ids: list[int] = []
        self.latencies: list[float] = []
        self.records = 0
        self.reset = False
        self.closed = False
        self.hello = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(
            f"GET /v1/stream?token={self.token} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        now = time.time()
        self.buf += data
        if not self.headers_done:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            del self.buf[: end + 4]
            self.headers_done = True
        while (end := self.buf.find(b"\n\n")) >= 0:
            frame = bytes(self.buf[:end])
            del self.buf[: end + 2]
            self._frame(frame, now)

    def _frame(self, frame: bytes, now: float) -> None:
        if not frame.startswith(b"id: "):
            return  # retry: or a comment
        head, kind_line, data = frame.split(b"\n", 2)
        event_id = int(head[4:])
        kind = kind_line[7:]
        if kind in (b"hello", b"reset"):
            self.reset |= kind == b"reset"
            self.start = event_id
            if not self.hello.done():
                self.hello.set_result(event_id)
            return
        self.ids.append(event_id)
        at = data.index(b'"at":') + 5
        self.latencies.append(now - float(data[at : data.index(b",", at)]))
        self.records += kind == b"record"

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.hello.done():
            self.hello.set_exception(ConnectionError(f"stream closed before hello: {exc}"))


@dataclass
class Result:
    clients: int
    rate: float
    duration_s: float
    calls: int = 0
    routed: int = 0
    refused: int = 0
    request_failures: int = 0
    records_per_client: int = 0
    events_per_client: int = 0
    deliveries: int = 0  # events received, all clients together
    lost: int = 0
    repeated_or_disordered: int = 0
    clients_dropped_or_reset: int = 0
    latency_p50_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0
    route_p50_ms: float = 0.0
    route_p99_ms: float = 0.0
    production_s: float = 0.0
    server_cpu_s: float = 0.0
    server_cpu_share: float = 0.0
    client_cpu_share: float = 0.0
    server_dropped_metric: float = 0.0
    errors: list[str] = field(default_factory=list)


async def connect(port: int, token: str) -> SseClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: SseClient(token), "127.0.0.1", port)
    await asyncio.wait_for(client.hello, 10)
    return client


async def produce(sizes: Sizes, server: Server, result: Result) -> list[float]:
    """Calls at a steady rate; the route requests' latencies (seconds)."""
    lines = lab_lines()
    calls = make_calls(max(1, round(sizes.rate * sizes.duration)), 500, lines, start=1)
    rng = random.Random(7)
    port = server.agi_port
    latencies: list[float] = []

    async def one(i: int) -> None:
        c = calls[i]
        outcome = await one_request(port, route_request(c, port))
        if outcome.error or not outcome.variables or outcome.variables[0][0] != "CALLCTL":
            result.request_failures += 1
            result.errors.append(outcome.error or f"route: {outcome.variables}")
            return
        latencies.append(outcome.latency)
        value = outcome.variables[0][1]
        if not value.startswith("route,"):
            result.refused += 1
            return
        result.routed += 1
        trunk = value.split(",")[1]
        hung = await one_request(port, hangup_request(c, trunk, port, rng))
        if hung.error or ("CALLCTL_RECORDED", "1") not in hung.variables:
            result.request_failures += 1
            result.errors.append(hung.error or f"hangup: {hung.variables}")

    t0 = time.perf_counter()
    tasks = []
    for i in range(len(calls)):
        delay = t0 + i / sizes.rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*tasks)
    result.calls = len(calls)
    return latencies


def final_position(port: int, token: str) -> int:
    """The stream's position now: the id of a fresh connection's hello."""
    url = f"http://127.0.0.1:{port}/v1/stream?token={token}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        while line := resp.readline():
            if line.startswith(b"id: "):
                return int(line[4:])
    raise RuntimeError("no hello on the stream")


def dropped_metric(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("callctl_stream_dropped_clients_total "):
                return float(line.split()[1])
    return math.nan


async def run(sizes: Sizes, server: Server) -> Result:
    result = Result(sizes.clients, sizes.rate, sizes.duration)
    port = server.http_port
    token = await asyncio.to_thread(server.create_token)
    clients = [await connect(port, token) for _ in range(sizes.clients)]
    cpu0, own0 = process_cpu(server.pid), time.process_time()
    t0 = time.perf_counter()
    route_latencies = await produce(sizes, server, result)
    await asyncio.sleep(SETTLE)
    result.production_s = time.perf_counter() - t0
    cpu1, own1 = process_cpu(server.pid), time.process_time()
    end = await asyncio.to_thread(final_position, port, token)
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline and any(
        not c.closed and (c.ids[-1] if c.ids else c.start) != end for c in clients
    ):
        await asyncio.sleep(0.05)

    latencies: list[float] = []
    for c in clients:
        assert c.start is not None
        expected = end - c.start
        unique = len(set(c.ids))
        result.lost += expected - len(set(c.ids) & set(range(c.start + 1, end + 1)))
        result.repeated_or_disordered += (len(c.ids) - unique) + (c.ids != sorted(c.ids))
        result.clients_dropped_or_reset += c.closed or c.reset
        result.deliveries += len(c.ids)
        latencies.extend(c.latencies)
    result.records_per_client = clients[0].records if clients else 0
    result.events_per_client = len(clients[0].ids) if clients else 0
    latencies.sort()
    route_latencies.sort()
    result.latency_p50_ms = percentile(latencies, 50) * 1000
    result.latency_p99_ms = percentile(latencies, 99) * 1000
    result.latency_max_ms = (latencies[-1] if latencies else math.nan) * 1000
    result.route_p50_ms = percentile(route_latencies, 50) * 1000
    result.route_p99_ms = percentile(route_latencies, 99) * 1000
    result.server_cpu_s = cpu1 - cpu0
    result.server_cpu_share = result.server_cpu_s / result.production_s
    result.client_cpu_share = (own1 - own0) / result.production_s
    result.server_dropped_metric = await asyncio.to_thread(dropped_metric, port)
    result.errors = sorted(set(result.errors))[:5]
    return result


def report(out: dict[str, Any]) -> str:
    r = out["result"]
    return "\n".join(
        [
            f"callctl stream fan-out ({out['mode']}): {r['clients']} SSE clients, "
            f"{r['rate']:g} records/s for {r['duration_s']:g} s "
            f"({'pinned' if out['pinned'] else 'not pinned'})",
            f"  calls {r['calls']} (routed {r['routed']}, refused {r['refused']}), "
            f"request failures {r['request_failures']}",
            f"  per client: {r['events_per_client']} events, {r['records_per_client']} records;"
            f" deliveries {r['deliveries']}",
            f"  delivery latency p50 {r['latency_p50_ms']:.2f} ms, p99 {r['latency_p99_ms']:.2f}"
            f" ms, max {r['latency_max_ms']:.2f} ms",
            f"  lost {r['lost']}, repeated/disordered {r['repeated_or_disordered']}, clients "
            f"dropped or reset {r['clients_dropped_or_reset']} "
            f"(server metric {r['server_dropped_metric']:g})",
            f"  server CPU {r['server_cpu_s']:.2f} s over {r['production_s']:.1f} s = "
            f"{r['server_cpu_share']:.1%} of its core; client process {r['client_cpu_share']:.1%}",
            f"  route latency meanwhile p50 {r['route_p50_ms']:.2f} ms, p99 "
            f"{r['route_p99_ms']:.2f} ms",
            *(f"  warning: {w}" for w in out["warnings"]),
            *(f"  error: {e}" for e in r["errors"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smoke run (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--clients", type=int, help="stream clients (100; quick 5)")
    parser.add_argument("--rate", type=float, help="records per second (50; quick 20)")
    parser.add_argument("--duration", type=float, help="seconds of calls (60; quick 2)")
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    sizes = Sizes(
        clients=args.clients or base.clients,
        rate=args.rate or base.rate,
        duration=args.duration or base.duration,
    )
    pin = pinning_possible()
    warnings: list[str] = []
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    else:
        warnings.append("fewer than 2 CPUs or no taskset: server and clients are not pinned")
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="callctl-bench-stream-"))
    db = f"sqlite:///{work / 'callctl.db'}"
    import_lines(db)
    server = Server(db, work, 256, None, pin)
    try:
        server.start()
        result = asyncio.run(run(sizes, server))
    finally:
        server.stop()
    out = {
        "mode": "quick" if args.quick else "full",
        "pinned": pin,
        "sizes": asdict(sizes),
        "machine": {**info, "loadavg_end": os.getloadavg()},
        "result": asdict(result),
        "warnings": warnings,
    }
    print(json.dumps(out, indent=1) if args.json else report(out))
    failed = (
        result.lost or result.repeated_or_disordered or result.clients_dropped_or_reset
        or result.request_failures
    )  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
