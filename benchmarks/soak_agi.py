"""Controller-alone soak: ``callctl serve`` fed calls at a steady rate by ``bench_agi.py``'s
synthetic PBX for many minutes, its memory, file descriptors and threads sampled as it goes.

Run from the repository root (no test PBX, no lock: a free FastAGI port, never 4573)::

    nice .venv/bin/python benchmarks/soak_agi.py              # 10 min at 50 calls/s, SQLite
    nice .venv/bin/python benchmarks/soak_agi.py --postgres \
        postgresql://postgres@127.0.0.1:5432/postgres          # a fresh PostgreSQL database
    nice .venv/bin/python benchmarks/soak_agi.py --env MALLOC_ARENA_MAX=2   # serve's environment
    .venv/bin/python benchmarks/soak_agi.py --quick --json    # smoke, about 25 s

What it reuses: ``bench_agi.py``'s ``callctl serve`` child (pinned to CPU 0, the lab lines,
the test clock at a peak hour), its FastAGI requests exactly as Asterisk's res_agi writes
them and its mix of dial strings and lines; ``soak.py``'s process sampling (``proc_status``:
VmRSS, ``/proc/<pid>/fd``, threads, CPU) and its flatness rule. Each call is a ``route``
request started at a steady ``--rate``; when routed, its ``hangup`` request follows
``--hold-seconds`` later (so about rate × hold calls are in progress, as on a real PBX).
Every call must get its answer (no failure, no safe answer at the deadline), and every
answered refusal and recorded hangup must have its record in the database at the end.

Verdict, as ``soak.py``'s: the mean of the last third of the samples against the mean of
the sixth-to-third of the run, RSS within max(5 MiB, 5 %), FDs within max(10, 10 %), threads
within 2. Exit 0 when it all holds, 1 on failed requests or missing records, 3 when only
flatness fails (``--quick`` does not judge flatness).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_agi import (
    CLIENT_CPU,
    Call,
    Postgres,
    Server,
    hangup_request,
    import_lines,
    lab_lines,
    log_problems,
    machine,
    make_calls,
    one_request,
    pinning_possible,
    recorded_keys,
    route_request,
)
from soak import flatness, proc_status

POOL = 5000  # distinct dial strings


@dataclass
class Sample:
    t_s: float  # seconds since the first call
    at: str
    calls: int  # route requests started
    server: dict[str, float]  # proc_status of callctl serve
    active_calls: int  # callctl's calls in progress (/healthz)
    loadavg: float
    during_load: bool = True


@dataclass
class Tally:
    """What became of the calls, and the call ids that must have a record."""

    routed: int = 0
    refused: int = 0
    recorded: int = 0
    failures: int = 0
    safe_answers: int = 0  # CALLCTL_STATUS=timeout: cut at the deadline or turned away
    must_record: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    def fail(self, why: str) -> None:
        self.failures += 1
        if len(self.errors) < 20:
            self.errors.append(why)


async def one_call(call: Call, port: int, hold_s: float, rng: random.Random, tally: Tally) -> None:
    """A route request; when routed, its hangup ``hold_s`` later."""
    route = await one_request(port, route_request(call, port))
    names = [n for n, _ in route.variables]
    if route.error is not None:
        return tally.fail(f"route: {route.error}")
    if "CALLCTL_STATUS" in names:  # cut at the deadline (before or after its answer)
        tally.safe_answers += 1
        return None
    if names != ["CALLCTL"]:
        return tally.fail(f"route: unexpected variables {route.variables}")
    value = route.variables[0][1]
    if not value.startswith("route,"):
        tally.refused += 1
        tally.must_record.add(call.uniqueid)
        return None
    tally.routed += 1
    await asyncio.sleep(hold_s)
    hangup = await one_request(port, hangup_request(call, value.split(",")[1], port, rng))
    if hangup.error is not None:
        return tally.fail(f"hangup: {hangup.error}")
    if ("CALLCTL_RECORDED", "1") not in hangup.variables:
        if [n for n, _ in hangup.variables] == ["CALLCTL_STATUS"]:
            tally.safe_answers += 1
            return None
        return tally.fail(f"hangup: unexpected variables {hangup.variables}")
    if len(hangup.variables) > 1:  # recorded, then cut at the deadline before the end
        tally.safe_answers += 1
    tally.recorded += 1
    tally.must_record.add(call.uniqueid)
    return None


def health_of(server: Server) -> dict[str, Any]:
    """``/healthz``'s body, also when it says 503 (its database check timed out under load)."""
    try:
        return server.health()
    except urllib.error.HTTPError as exc:
        body: dict[str, Any] = json.loads(exc.read())
        return body


@dataclass
class SoakRun:
    server: Server
    rate: float
    minutes: float
    hold_s: float
    sample_s: float
    tally: Tally = field(default_factory=Tally)
    samples: list[Sample] = field(default_factory=list)
    started_calls: int = 0

    async def sample(self, t0: float, during_load: bool) -> None:
        health = await asyncio.to_thread(health_of, self.server)
        s = Sample(
            t_s=round(time.perf_counter() - t0, 1),
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            calls=self.started_calls,
            server=proc_status(self.server.pid),
            active_calls=int(health["active_calls"]),
            loadavg=os.getloadavg()[0],
            during_load=during_load,
        )
        self.samples.append(s)
        print(
            f"soak_agi: {s.t_s / 60:5.1f} min  RSS {s.server['rss_mib']:.1f} MiB, "
            f"{s.server['fds']:.0f} FDs, {s.server['threads']:.0f} threads; calls {s.calls}, "
            f"in progress {s.active_calls}, failures {self.tally.failures}, "
            f"safe answers {self.tally.safe_answers}, load {s.loadavg:.2f}",
            file=sys.stderr,
        )

    async def run(self) -> None:
        lines = lab_lines()
        port = self.server.agi_port
        rng = random.Random(11)
        total = max(1, round(self.rate * self.minutes * 60))
        pending: set[asyncio.Task[None]] = set()
        t0 = time.perf_counter()
        next_sample = 1
        # One pool of POOL dial strings for the whole run, as bench_agi's: a steady mix, so
        # the classifier's cache fills in the first minutes and then only serves.
        for i, call in enumerate(make_calls(total, POOL, lines, 1)):
            while (now := time.perf_counter()) < t0 + i / self.rate:
                if now >= t0 + next_sample * self.sample_s:
                    await self.sample(t0, True)
                    next_sample += 1
                else:
                    await asyncio.sleep(min(t0 + i / self.rate - now, 0.05))
            task = asyncio.create_task(one_call(call, port, self.hold_s, rng, self.tally))
            pending.add(task)
            task.add_done_callback(pending.discard)
            self.started_calls += 1
        while pending:  # the last calls' hangups; keep sampling on time meanwhile
            if time.perf_counter() >= t0 + next_sample * self.sample_s:
                await self.sample(t0, True)
                next_sample += 1
            await asyncio.wait(pending, timeout=0.2)
        await asyncio.sleep(1.0)  # refusals' batched records
        await self.sample(t0, False)


def report(result: dict[str, Any]) -> str:
    s = result["settings"]
    t = result["tally"]
    r = result["records"]
    out = [
        f"soak_agi: {s['rate']:g} calls/s for {s['minutes']:g} min, held {s['hold_seconds']:g} "
        f"s, {result['database']}, serve env {s['env'] or '{}'}: {result['verdict']}",
        *(f"  ! {w}" for w in result["why"]),
        f"  calls {t['calls']}: routed {t['routed']} (recorded {t['recorded']}), refused "
        f"{t['refused']}, safe answers {t['safe_answers']}, failures {t['failures']}; records "
        f"{r['in_db']}, missing {r['missing']}",
    ]
    flat = result["flatness"]
    for what in ("rss_mib", "fds", "threads"):
        f = flat[what]
        out.append(
            f"  serve {what}: baseline {f['baseline']} -> final {f['final']} (growth "
            f"{f.get('growth')}, allowed {f.get('allowed')}): {'flat' if f['ok'] else 'GROWS'}"
        )
    out.append(f"  {'min':>5} {'RSS MiB':>8} {'FDs':>4} {'thr':>3} {'calls':>7} {'active':>6}")
    for x in result["samples"]:
        out.append(
            f"  {x['t_s'] / 60:>5.1f} {x['server']['rss_mib']:>8.1f} {x['server']['fds']:>4.0f} "
            f"{x['server']['threads']:>3.0f} {x['calls']:>7} {x['active_calls']:>6}"
            f"{'' if x['during_load'] else '  (after the last call)'}"
        )
    return "\n".join(out)


def parse_env(pairs: Sequence[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--env wants NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=50, help="calls per second (50)")
    parser.add_argument("--minutes", type=float, default=10, help="minutes of calls (10)")
    parser.add_argument("--hold-seconds", type=float, default=2, help="routed call length (2)")
    parser.add_argument("--sample-seconds", type=float, default=30, help="sampling interval")
    parser.add_argument("--postgres", metavar="ADMIN_URL",
                        help="a fresh PostgreSQL database created and dropped through this URL "
                             "(default: a SQLite file)")  # fmt: skip
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE",
                        help="add to serve's environment (e.g. MALLOC_ARENA_MAX=2)")  # fmt: skip
    parser.add_argument("--max-sessions", type=int, default=256, help="serve's max_sessions")
    parser.add_argument("--quick", action="store_true", help="20 s at 20/s, sampled every 4 s")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, help="also write the JSON result here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (serve's log)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop serve, drop the database
    if args.quick:
        args.rate, args.minutes, args.hold_seconds, args.sample_seconds = 20, 1 / 3, 1, 4
    env = parse_env(args.env)
    pin = pinning_possible()
    if pin:
        os.sched_setaffinity(0, {CLIENT_CPU})
    info = machine()
    work = Path(tempfile.mkdtemp(prefix="callctl-soak-agi-"))
    pg = Postgres(args.postgres) if args.postgres else None
    db = pg.url if pg else f"sqlite:///{work / 'callctl.db'}"
    server = Server(db, work, args.max_sessions, None, pin, env=env)
    soak = SoakRun(server, args.rate, args.minutes, args.hold_seconds, args.sample_seconds)
    try:
        if pg:
            pg.create()
        import_lines(db)
        try:
            server.start()
            asyncio.run(soak.run())
        finally:
            server.stop()
        keys = asyncio.run(recorded_keys(db))
        problems = log_problems(server.log)
    finally:
        if pg:
            pg.drop()
        if args.keep:
            print(f"soak_agi: work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    tally = soak.tally
    duration_s = args.minutes * 60
    flat = flatness([(s.t_s, s.server) for s in soak.samples if s.during_load], duration_s)
    missing = len(tally.must_record - keys)
    why = []
    if tally.failures:
        why.append(f"{tally.failures} requests failed: {tally.errors[:3]}")
    if tally.safe_answers:
        why.append(f"{tally.safe_answers} requests got the safe answer (deadline or overload)")
    if missing:
        why.append(f"{missing} answered calls without their record")
    verdict = "FAIL" if why else "PASS" if args.quick or flat["flat"] else "NOT FLAT"
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "verdict": verdict,
        "why": why,
        "database": "PostgreSQL" if pg else "SQLite",
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            check=False,
        ).stdout.strip(),
        "machine": {**info, "loadavg_end": os.getloadavg()},
        "settings": {
            "rate": args.rate,
            "minutes": args.minutes,
            "hold_seconds": args.hold_seconds,
            "sample_seconds": args.sample_seconds,
            "env": env,
            "pinned": pin,
        },
        "tally": {
            **{k: v for k, v in asdict(tally).items() if k != "must_record"},
            "calls": soak.started_calls,
        },
        "records": {"in_db": len(keys), "expected": len(tally.must_record), "missing": missing},
        "flatness": flat,
        "serve_log": problems,
        "samples": [asdict(s) for s in soak.samples],
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1) if args.json else report(result))
    if why:
        return 1
    return 0 if verdict == "PASS" else 3


if __name__ == "__main__":
    sys.exit(main())
