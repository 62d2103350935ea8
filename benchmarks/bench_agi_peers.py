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
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench_pbx import LAB_LINES, LINE, PG_ADMIN, Bench, Carrier, Run, Serve, percentile

from callctl.data import default_tariff
from callctl.pbx.agi_peers import BadPeers
from callctl.pbx.lab import Lab
from callctl.pbx.rss import open_fds, rss, sampled
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
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_agi_peers: run as root (the test PBX runs in a chroot)", file=sys.stderr)
        return 2
    floods: dict[str, Callable[[], AbstractContextManager[object]] | None] = {
        "baseline": None,
        "idle-flood": lambda: BadPeers("idle_flood", args.flood, rate=args.flood_rate, hold=3600),
        "bursts": lambda: BadPeers("burst", args.flood, interval=1.0),
    }
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
