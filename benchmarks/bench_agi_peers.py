"""Real calls through the test PBX while a flood of connections hits callctl's FastAGI port.

Run as root from the repository root, holding the lab's lock (it uses the PBX, SIPp and port
4573)::

    flock /tmp/callctl-live.lock nice .venv/bin/python benchmarks/bench_agi_peers.py
    flock /tmp/callctl-live.lock nice .venv/bin/python benchmarks/bench_agi_peers.py --json

Each phase is one run of ``benchmarks/bench_pbx.py`` (``--calls`` calls at ``--rate`` calls
per second from the Classic line to a Belgian fixed number, callctl on SQLite with its default
limits, a capture of the FastAGI port and of SIP for the latencies), with:

- *baseline*: nothing else;
- *idle flood*: ``--flood`` connections (10 000) opened as fast as the peer can from
  127.0.0.64/26 and left silent, each one callctl closes replaced at once, up to
  ``--flood-rate`` new ones a second, for the whole run;
- *bursts*: ``--flood`` connections opened as fast as possible, then all closed at once,
  again every second.

``--emulated`` needs no PBX (nor the lock): a ``callctl serve`` on a free port gets requests
written like Asterisk's (``route``, the Classic line) at ``--rate`` a second instead of real
calls, and the figure is the time from connecting to its answer (``SET VARIABLE``), with what
the answer was (``CALLCTL``, the safe answer ``CALLCTL_STATUS``, or the connection reset).

Reported per phase: the calls (all answered?), the post-dial delay (the caller's INVITE to
its 200 OK) and the AGI decision (Asterisk's connection to callctl's answer) p50/p99/max,
safe answers, callctl's open file descriptors and RSS (``/proc``, sampled every 20 ms:
before, peak, and 5 s after the flood), the flood's connections and how long callctl let
each live, and callctl's FastAGI counters. Figures: docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_pbx import (
    AGI_PORT,
    LAB_LINES,
    LINE,
    PG_ADMIN,
    Bench,
    Carrier,
    Run,
    Serve,
    _import_lines,
    percentile,
)

from callctl.data import default_tariff
from callctl.pbx.agi_peers import BadPeers, env_block, route_args
from callctl.pbx.lab import Lab
from callctl.pbx.rss import open_fds, rss, sampled
from callctl.pbx.serve_process import free_port
from callctl.store.lines_yaml import parse_lines_yaml

SETTLE = 5.0  # seconds after the flood before the "after" reading


def agi_counters(serve: Serve) -> dict[str, float]:
    """callctl's FastAGI counters by kind (``/metrics``), plus the sessions accepted."""
    url = f"http://127.0.0.1:{serve.http_port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith('callctl_agi_errors_total{kind="'):
            kind = line.split('"')[1]
            out[kind] = float(line.rsplit(" ", 1)[1])
        elif line.startswith("callctl_agi_sessions_total "):
            out["sessions"] = float(line.rsplit(" ", 1)[1])
    return out


class FloodBench(Bench):
    """bench_pbx's runs, with a flood running from the first call to the last."""

    def __init__(self, *args: Any, ramp: float = 2.0, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.ramp = ramp
        self.flood: Callable[[], AbstractContextManager[object]] | None = None
        self.extra: dict[str, dict[str, Any]] = {}

    def _measure(self, run: Run, serve: Serve | None, carrier: Carrier, work: Path) -> None:
        assert serve is not None, "only callctl runs here"
        pid = serve.pid
        extra: dict[str, Any] = {"fds_before": open_fds(pid), "rss_before": rss(pid)}
        before = agi_counters(serve)
        flood = self.flood() if self.flood is not None else contextlib.nullcontext()
        with (
            sampled(lambda: open_fds(pid), 0.02) as fds,
            sampled(lambda: rss(pid), 0.05) as rsss,
            flood as peers,
        ):
            time.sleep(self.ramp if self.flood is not None else 0)
            super()._measure(run, serve, carrier, work)
        time.sleep(SETTLE)
        extra.update(fds_peak=max(fds), rss_peak=max(rsss), fds_after=open_fds(pid),
                     rss_after=rss(pid))  # fmt: skip
        extra["agi_counters"] = {k: v - before.get(k, 0.0) for k, v in agi_counters(serve).items()}
        if isinstance(peers, BadPeers):
            s = peers.stats
            extra["flood"] = {
                "opened": s.opened,
                "let_go": s.let_go,
                "max_open": s.max_open,
                "lifetime_s": {"p50": percentile(s.lifetimes, 50),
                               "p99": percentile(s.lifetimes, 99),
                               "max": max(s.lifetimes, default=math.nan)},
            }  # fmt: skip
        self.extra[run.name] = extra


def emulated_request(port: int, n: int) -> tuple[str, float]:
    """One ``route`` request written like Asterisk's: what was answered, and after how long."""
    start = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(env_block("route", f"emulated-{n}-{time.time()}", route_args("022345611")))
            data = b""
            while b"\n" not in data:
                chunk = sock.recv(4096)
                if not chunk:
                    return "closed unanswered", time.monotonic() - start
                data += chunk
            took = time.monotonic() - start
            sock.sendall(b"200 result=1\n" * data.count(b"\n"))
            return data.split(b'"')[1].decode(), took
    except OSError as exc:
        return type(exc).__name__, time.monotonic() - start


def emulated(args: argparse.Namespace, floods: dict[str, Any]) -> dict[str, Any]:
    """The phases against a bare ``callctl serve`` with emulated requests (no PBX)."""
    work = Path(tempfile.mkdtemp(prefix="callctl-bench-agi-peers-"))
    db = f"sqlite:///{work / 'callctl.db'}"
    _import_lines(db)
    port = free_port()
    serve = Serve(db, work)
    serve.agi_port = port
    serve.start()
    out: dict[str, Any] = {}
    pid = serve.pid
    try:
        for phase in [p for p in args.phases.split(",") if p]:
            fds0, rss0 = open_fds(pid), rss(pid)
            flood = floods[phase]
            peers_cm = flood(port) if flood is not None else contextlib.nullcontext()
            with (
                sampled(lambda: open_fds(pid), 0.02) as fds,
                sampled(lambda: rss(pid), 0.05) as rsss,
                peers_cm as peers,
                ThreadPoolExecutor(max_workers=32) as pool,
            ):
                time.sleep(2.0 if flood is not None else 0)
                futures = []
                for n in range(args.calls):
                    futures.append(pool.submit(emulated_request, port, n))
                    time.sleep(1 / args.rate)
                answers = [f.result() for f in futures]
            time.sleep(SETTLE)
            outcomes: dict[str, int] = {}
            for what, _ in answers:
                outcomes[what] = outcomes.get(what, 0) + 1
            times = [t * 1000 for what, t in answers if what == "CALLCTL"]
            out[phase] = {
                "outcomes": outcomes,
                "answer_ms": {"p50": percentile(times, 50), "p95": percentile(times, 95),
                              "p99": percentile(times, 99), "max": max(times, default=math.nan)},
                "fds": [fds0, max(fds), open_fds(pid)],
                "rss_mib": [rss0 >> 20, max(rsss) >> 20, rss(pid) >> 20],
                "flood_opened": peers.stats.opened if isinstance(peers, BadPeers) else 0,
                "loadavg": os.getloadavg(),
            }  # fmt: skip
            print(f"{phase}: {out[phase]}", file=sys.stderr)
    finally:
        serve.stop()
        shutil.rmtree(work, ignore_errors=True)
    return out


def _f(value: float | None, scale: float = 1.0) -> str:
    return "-" if value is None or math.isnan(value) else f"{value * scale:.0f}"


def report(result: dict[str, Any]) -> str:
    out = [f"bench_agi_peers: {result['settings']}", ""]
    head = (f"{'phase':<12} {'ok':>3} {'calls':>5} {'pdd p50':>7} {'p99':>5} {'max':>5} "
            f"{'dec p50':>7} {'p99':>5} {'max':>5} {'safe':>4} {'fds':>15} {'rss MiB':>13} "
            f"{'flood conns':>11} {'life p99 ms':>11}")  # fmt: skip
    out.append(head)
    for r in result["runs"]:
        e = result["extra"].get(r["name"], {})
        pdd, dec = r["post_dial_ms"], r["agi"].get("decision_ms", {})
        flood = e.get("flood", {})
        out.append(
            f"{r['name']:<12} {'yes' if r['ok'] else 'NO':>3} "
            f"{r['sipp'].get('successful', -1):>5} {_f(pdd.get('p50')):>7} "
            f"{_f(pdd.get('p99')):>5} {_f(pdd.get('max')):>5} {_f(dec.get('p50')):>7} "
            f"{_f(dec.get('p99')):>5} {_f(dec.get('max')):>5} "
            f"{r['agi'].get('counts', {}).get('safe_answers', -1):>4} "
            f"{e.get('fds_before')}/{e.get('fds_peak')}/{e.get('fds_after'):<5} "
            f"{e.get('rss_before', 0) >> 20}/{e.get('rss_peak', 0) >> 20}/"
            f"{e.get('rss_after', 0) >> 20:<5} {flood.get('opened', 0):>11} "
            f"{_f(flood.get('lifetime_s', {}).get('p99'), 1000):>11}"
        )
        out += [f"    ! {w}" for w in r["why"]]
        if e.get("agi_counters"):
            counters = {k: int(v) for k, v in e["agi_counters"].items() if v}
            out.append(f"    callctl FastAGI counters: {counters}")
    out.append("")
    out.append("pdd = caller's INVITE→200 OK; dec = AGI connect→decision (ms); safe = safe "
               "answers; fds and rss = callctl before/peak/after")  # fmt: skip
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rate", type=int, default=20, help="calls per second")
    parser.add_argument("--hold-ms", type=int, default=1000, help="answered call length")
    parser.add_argument("--flood", type=int, default=10_000, help="connections of a flood")
    parser.add_argument("--flood-rate", type=float, default=10_000,
                        help="idle flood: new connections per second at most")  # fmt: skip
    parser.add_argument("--phases", default="baseline,idle-flood,bursts")
    parser.add_argument("--wait", type=float, default=3600,
                        help="seconds to wait for port 4573 and the carrier")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--emulated", action="store_true",
                        help="no PBX: Asterisk-like requests to a bare callctl serve")  # fmt: skip
    args = parser.parse_args(argv)
    floods: dict[str, Callable[..., AbstractContextManager[object]] | None] = {
        "baseline": None,
        "idle-flood": lambda port=AGI_PORT: BadPeers(
            "idle_flood", args.flood, port=port, rate=args.flood_rate, hold=3600
        ),
        "bursts": lambda port=AGI_PORT: BadPeers("burst", args.flood, port=port, interval=1.0),
    }
    if args.emulated:
        print(json.dumps(emulated(args, floods), indent=1))
        return 0
    if os.geteuid() != 0:
        print("bench_agi_peers: run as root (the test PBX runs in a chroot)", file=sys.stderr)
        return 2
    lab = Lab()
    was_running = lab.running()
    lab.up(parse_lines_yaml(LAB_LINES.read_text("utf-8"), default_tariff()))
    work = Path(tempfile.mkdtemp(prefix="callctl-bench-agi-peers-"))
    bench = FloodBench(lab, lab.credentials()[LINE], work, PG_ADMIN, args.wait)
    runs: list[Run] = []
    try:
        for phase in [p for p in args.phases.split(",") if p]:
            bench.flood = floods[phase]
            runs.append(bench.run(Run(phase, "callctl", "sqlite", args.calls, args.rate,
                                      args.hold_ms, capture=True)))  # fmt: skip
    finally:
        if not was_running:
            lab.down()
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "cpus": os.cpu_count(),
        "settings": {"calls": args.calls, "rate": args.rate, "hold_ms": args.hold_ms,
                     "flood": args.flood, "flood_rate": args.flood_rate},
        "runs": [asdict(r) for r in runs],
        "extra": bench.extra,
    }  # fmt: skip
    print(json.dumps(result, indent=1) if args.json else report(result))
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
