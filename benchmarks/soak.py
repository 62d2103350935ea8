"""Soak: calls at a steady rate through the real test PBX for a long time, with callctl's
memory, file descriptors and threads sampled every minute, judged flat or not, and plotted.

Run as root from the repository root, holding the lab's lock::

    flock /tmp/callctl-live.lock nice -n -5 .venv/bin/python benchmarks/soak.py  # 30 minutes
    .venv/bin/python benchmarks/soak.py --minutes 2                              # a trial
    .venv/bin/python benchmarks/soak.py --db sqlite --out-dir /tmp/soak
    .venv/bin/python benchmarks/soak.py --quick --json --out-dir /tmp/soak       # smoke, ~1 min

Set-up (the machinery of ``bench_pbx.py``): ``callctl serve`` on the FastAGI port the
dialplan calls, on a fresh PostgreSQL database (``--db sqlite``: a fresh SQLite file) of the
lab lines, with the real clock; a SIPp UAS as the carrier and one as the Brussels 112 centre;
one SIPp caller per *stream* below, each a lab line dialling one number, together placing
``--rate`` calls per second for ``--minutes``, answered calls held ``--hold-seconds``:

========================  =====  ==========================================  ============
stream                    share  line, dialled                               expected
========================  =====  ==========================================  ============
be_fixed                  40 %   Classic +3222000001, 022345678              routed, 200
be_mobile                 25 %   Classic anytime +3222000002, 0470123456     routed, 200
klik_fixed                15 %   Klik +3292000003, 092345678                 routed, 200
zone                       5 %   Classic +3222000001, 0033142685300 (FR)     routed, 200
paused                     8 %   the paused line +3265000005, 022345679      refused, 403
satellite                  5 %   Classic +3222000001, 00881612345678         barred, 403
emergency                  2 %   Classic +3222000001, 112                    routed, 200 (R9)
========================  =====  ==========================================  ============

Every ``--sample-seconds`` (60) it samples callctl's resident memory (VmRSS), open file
descriptors (``/proc/<pid>/fd``) and threads, the same of Asterisk, the calls placed,
answered (or refused as expected) and failed (SIPp's counters), the records in the database,
callctl's calls in progress and requests cut at its deadline (``/healthz``).

Verdict: zero failed calls; every call has exactly one record, with the expected action
(one per (line, dialled) stream; the unique key (host, call id) forbids a second one); no
request cut at the deadline or turned away; Asterisk not restarted; and **flat**: the mean of
the last third of the samples (minutes 20-30 of 30) against the mean of minutes 5-10 (the
sixth to the third of the run), RSS within max(5 MiB, 5 %), file descriptors within
max(10, 10 %), threads within 2. Writes ``soak.json`` and ``soak.png`` into ``--out-dir``
(``docs/`` by default). Exit 0 when everything holds, 1 on failed calls or records, 3 when
only flatness fails (``--quick`` ignores flatness: a minute is too short to judge).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_pbx import (
    PG_ADMIN,
    Bench,
    Carrier,
    Serve,
    SippCounts,
    Uac,
    _sql,
    create_database,
    drop_database,
    lab_up,
    process_cpu,
    wait_until_free,
)
from matplotlib.figure import Figure

from callctl.pbx.lab import Lab

ROOT = Path(__file__).resolve().parents[1]
EMERGENCY_CENTRE = "psap-112-brussels"  # the Classic line's (Rue de la Loi, 1000) centre
MIB = 1024 * 1024


@dataclass(frozen=True)
class Stream:
    name: str
    share: float  # of the total rate
    line: str
    dialled: str
    expect: int  # SIP final response the caller expects
    action: str  # the record's action


STREAMS = (
    Stream("be_fixed", 0.40, "+3222000001", "022345678", 200, "route"),
    Stream("be_mobile", 0.25, "+3222000002", "0470123456", 200, "route"),
    Stream("klik_fixed", 0.15, "+3292000003", "092345678", 200, "route"),
    Stream("zone", 0.05, "+3222000001", "0033142685300", 200, "route"),
    Stream("paused", 0.08, "+3265000005", "022345679", 403, "refuse"),
    Stream("satellite", 0.05, "+3222000001", "00881612345678", 403, "refuse"),
    Stream("emergency", 0.02, "+3222000001", "112", 200, "route"),
)


# ----------------------------------------------------------------------------- sampling


def proc_status(pid: int) -> dict[str, float]:
    """Resident memory (MiB), open file descriptors, threads and CPU seconds of a process."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mib": int(fields["VmRSS"].split()[0]) * 1024 / MIB,
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": int(fields["Threads"]),
        "cpu_s": round(process_cpu(pid), 2),
    }


@dataclass
class Sample:
    t_s: float  # seconds since the first call
    at: str  # UTC time
    callctl: dict[str, float]
    asterisk: dict[str, float]
    asterisk_pid: int
    placed: int
    completed: int  # answered and held, or refused as expected
    failed: int
    records: int
    active_calls: int
    deadline_hits: int
    loadavg: float
    during_load: bool = True


def records_by_stream(db: str) -> dict[tuple[str, str, str], int]:
    """(line, dialled, action) → records."""
    rows = _run_sql(
        db,
        "SELECT line, dialled, action, count(*) FROM call_records GROUP BY line, dialled, action",
    )
    return {(r[0], r[1], r[2]): int(r[3]) for r in rows}


def _run_sql(db: str, sql: str) -> list[Any]:
    return asyncio.run(_sql(db, sql))


# ----------------------------------------------------------------------------- verdict


def window_mean(points: Sequence[tuple[float, dict[str, float]]], what: str, lo: float,
                hi: float) -> float | None:  # fmt: skip
    values = [v[what] for t, v in points if lo <= t <= hi]
    return sum(values) / len(values) if values else None


def flatness(points: Sequence[tuple[float, dict[str, float]]], duration_s: float) -> dict[str, Any]:
    """A process's RSS, FDs and threads, sampled under load as (seconds, ``proc_status``):
    the last third's mean against the sixth-to-third's (also ``soak_agi.py``'s verdict)."""
    base = (duration_s / 6, duration_s / 3)
    final = (duration_s * 2 / 3, duration_s)
    limits = {"rss_mib": (5.0, 0.05), "fds": (10.0, 0.10), "threads": (2.0, 0.0)}
    out: dict[str, Any] = {"baseline_window_s": base, "final_window_s": final}
    flat = True
    for what, (absolute, relative) in limits.items():
        b = window_mean(points, what, *base)
        f = window_mean(points, what, *final)
        if b is None or f is None:
            out[what] = {"baseline": b, "final": f, "ok": False, "why": "no samples"}
            flat = False
            continue
        allowed = max(absolute, relative * b)
        ok = f - b <= allowed
        flat &= ok
        out[what] = {
            "baseline": round(b, 2),
            "final": round(f, 2),
            "growth": round(f - b, 2),
            "allowed": round(allowed, 2),
            "ok": ok,
        }
    out["flat"] = flat
    return out


# ----------------------------------------------------------------------------- plot


def plot(result: dict[str, Any], path: Path) -> None:
    samples = [s for s in result["samples"] if s["during_load"]]
    minutes = [s["t_s"] / 60 for s in samples]
    fig = Figure(figsize=(9, 9))
    ax1, ax2, ax3 = fig.subplots(3, 1, sharex=True)
    ax1.plot(minutes, [s["callctl"]["rss_mib"] for s in samples], "o-", label="callctl RSS")
    ax1.plot(minutes, [s["asterisk"]["rss_mib"] for s in samples], "s-", label="Asterisk RSS")
    ax1.set_ylabel("MiB")
    ax1.set_ylim(bottom=0)
    ax2.plot(minutes, [s["callctl"]["fds"] for s in samples], "o-", label="callctl open FDs")
    ax2.plot(minutes, [s["asterisk"]["fds"] for s in samples], "s-", label="Asterisk open FDs")
    ax2.plot(minutes, [s["callctl"]["threads"] for s in samples], "^-", label="callctl threads")
    ax2.set_ylabel("count")
    ax2.set_ylim(bottom=0)
    per_min: list[float] = []
    recs: list[float] = []
    prev_t, prev_c, prev_r = 0.0, 0, 0
    for s in samples:
        dt = max(s["t_s"] - prev_t, 1e-9) / 60
        per_min.append((s["completed"] - prev_c) / dt)
        recs.append((s["records"] - prev_r) / dt)
        prev_t, prev_c, prev_r = s["t_s"], s["completed"], s["records"]
    ax3.plot(minutes, per_min, "o-", label="calls completed per minute")
    ax3.plot(minutes, recs, "x--", label="records written per minute")
    ax3.plot(minutes, [s["failed"] for s in samples], "r^-", label="failed calls (total)")
    ax3.plot(minutes, [s["active_calls"] for s in samples], "d-", label="callctl calls in progress")
    load = ax3.twinx()
    load.plot(minutes, [s["loadavg"] for s in samples], ":", color="grey", label="load average")
    load.set_ylabel("machine load average (1 min), dotted", color="grey")
    load.set_ylim(bottom=0)
    ax3.set_ylabel("calls")
    ax3.set_xlabel("minutes since the first call")
    ax3.set_ylim(bottom=0)
    flat = result["flatness"]
    for ax in (ax1, ax2, ax3):
        for lo, hi, colour in (
            (*flat["baseline_window_s"], "tab:green"),
            (*flat["final_window_s"], "tab:orange"),
        ):
            ax.axvspan(lo / 60, hi / 60, color=colour, alpha=0.08)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    s = result["settings"]
    fig.suptitle(
        f"callctl soak: {s['rate']} calls/s for {s['minutes']:g} min, {s['db']}, calls held "
        f"{s['hold_seconds']:g} s — {result['verdict']}\n(green: baseline window, orange: "
        "final window of the flatness check)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90)


# ----------------------------------------------------------------------------- run


@dataclass
class Soak:
    lab: Lab
    bench: Bench
    work: Path
    db_kind: str
    pg_admin: str
    rate: float
    minutes: float
    hold_s: float
    sample_s: float
    samples: list[Sample] = field(default_factory=list)

    def run(self) -> dict[str, Any]:
        asterisk_pid = self.bench.ensure_pbx()
        self.bench.bypass(False)
        wait_until_free(self.bench.carrier, 600)
        creds = self.lab.credentials()
        pg_name = f"callctl_soak_{os.getpid()}"
        db = create_database(self.db_kind, self.work, self.pg_admin, pg_name)
        serve = Serve(db, self.work)
        far_ends = []
        for trunk in ("carrier", EMERGENCY_CENTRE):
            (self.work / trunk).mkdir()
            far_ends.append(Carrier(self.lab.trunk_address(trunk), self.work / trunk))
        duration_s = self.minutes * 60
        uacs: dict[str, Uac] = {}
        try:
            serve.start()
            for far in far_ends:
                far.start()
            for st in STREAMS:
                per_minute = max(1, round(self.rate * st.share * 60))
                calls = max(1, round(per_minute * self.minutes))
                folder = self.work / st.name
                folder.mkdir()
                uacs[st.name] = Uac(
                    creds[st.line],
                    calls,
                    per_minute,
                    int(self.hold_s * 1000),
                    folder,
                    dialled=st.dialled,
                    expect=st.expect,
                    rate_period_ms=60_000,
                )
            started = time.monotonic()
            for uac in uacs.values():
                uac.start()
            print(
                f"soak: {len(uacs)} callers started, {self.minutes:g} min at {self.rate:g} calls/s",
                file=sys.stderr,
            )
            n = 1
            while any([u.running() for u in uacs.values()]):  # noqa: C419 (each notes its CPU)
                due = started + n * self.sample_s
                if time.monotonic() >= due:
                    self._sample(serve, db, uacs, started, True)
                    n += 1
                time.sleep(0.2)
            deadline = time.monotonic() + 60  # the last calls' hangups
            while time.monotonic() < deadline and serve.health()["active_calls"]:
                time.sleep(0.5)
            time.sleep(1)  # refusals' batched records
            self._sample(serve, db, uacs, started, False)
            outcomes = {name: asdict(u.outcome()) for name, u in uacs.items()}
            by_stream = records_by_stream(db)
            problems = serve.problems()
        finally:
            for uac in uacs.values():
                uac.stop()
            for far in far_ends:
                far.stop()
            serve.stop()
            if self.db_kind == "postgresql":
                drop_database(self.pg_admin, pg_name)
        return self._result(
            duration_s, asterisk_pid, uacs, outcomes, by_stream=by_stream, problems=problems
        )

    def _sample(
        self, serve: Serve, db: str, uacs: dict[str, Uac], started: float, during_load: bool
    ) -> None:
        counts = [u.counts() or SippCounts() for u in uacs.values()]
        health = serve.health()
        pid = self.bench.asterisk_pid()
        sample = Sample(
            t_s=round(time.monotonic() - started, 1),
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            callctl=proc_status(serve.pid),
            asterisk=proc_status(pid),
            asterisk_pid=pid,
            placed=sum(c.created for c in counts),
            completed=sum(c.successful for c in counts),
            failed=sum(c.failed for c in counts),
            records=int(_run_sql(db, "SELECT count(*) FROM call_records")[0][0]),
            active_calls=int(health["active_calls"]),
            deadline_hits=int(health["agi"]["deadline_hits"]),
            loadavg=os.getloadavg()[0],
            during_load=during_load,
        )
        self.samples.append(sample)
        c = sample.callctl
        print(
            f"soak: {sample.t_s / 60:5.1f} min  callctl RSS {c['rss_mib']:.1f} MiB, "
            f"{c['fds']:.0f} FDs, {c['threads']:.0f} threads; placed {sample.placed}, "
            f"completed {sample.completed}, failed {sample.failed}, records {sample.records}, "
            f"in progress {sample.active_calls}, load {sample.loadavg:.2f}",
            file=sys.stderr,
        )

    def _result(
        self,
        duration_s: float,
        asterisk_pid: int,
        uacs: dict[str, Uac],
        outcomes: dict[str, Any],
        *,
        by_stream: dict[tuple[str, str, str], int],
        problems: list[str],
    ) -> dict[str, Any]:
        why: list[str] = []
        streams = []
        for st in STREAMS:
            out = outcomes[st.name]
            placed = (uacs[st.name].counts() or SippCounts()).created
            recorded = by_stream.get((st.line, st.dialled, st.action), 0)
            other = sum(
                v
                for (line, dialled, action), v in by_stream.items()
                if (line, dialled) == (st.line, st.dialled) and action != st.action
            )
            streams.append(
                {
                    "name": st.name,
                    "line": st.line,
                    "dialled": st.dialled,
                    "expect": st.expect,
                    "placed": placed,
                    "completed": out["successful"],
                    "failed": out["failed"],
                    "records": recorded,
                    "records_other_action": other,
                    "sipp_returncode": out["returncode"],
                    "sipp_errors": out["errors"][-500:],
                }
            )
            if out["failed"] or out["returncode"] != 0 or out["successful"] != placed:
                why.append(
                    f"{st.name}: {out['failed']} failed calls, {out['successful']} of "
                    f"{placed} completed (SIPp exit {out['returncode']})"
                )
            if recorded != out["successful"] or other:
                why.append(
                    f"{st.name}: {recorded} records ({st.action}) for "
                    f"{out['successful']} calls, {other} with another action"
                )
        last = self.samples[-1]
        if last.deadline_hits:
            why.append(f"callctl: {last.deadline_hits} requests cut at the deadline")
        overloads = sum("FastAGI overload" in line for line in problems)
        if overloads:
            why.append(f"callctl: turned requests away (max_sessions) {overloads} times")
        if any(s.asterisk_pid != asterisk_pid for s in self.samples):
            why.append("Asterisk restarted during the soak (another user of the lab?)")
        flat = flatness([(s.t_s, s.callctl) for s in self.samples if s.during_load], duration_s)
        verdict = "PASS" if not why and flat["flat"] else "FAIL" if why else "NOT FLAT"
        return {
            "verdict": verdict,
            "why": why,
            "flatness": flat,
            "streams": streams,
            "totals": {
                k: sum(s[k] for s in streams) for k in ("placed", "completed", "failed", "records")
            },
            "serve_problems": problems[:20],
            "samples": [asdict(s) for s in self.samples],
        }


def report(result: dict[str, Any]) -> str:
    out = [
        f"soak: {result['settings']['rate']:g} calls/s for {result['settings']['minutes']:g} "
        f"min on {result['settings']['db']}: {result['verdict']}"
    ]
    out += [f"  ! {w}" for w in result["why"]]
    t = result["totals"]
    out.append(
        f"  calls placed {t['placed']}, completed {t['completed']}, failed {t['failed']}, "
        f"records {t['records']}"
    )
    flat = result["flatness"]
    for what in ("rss_mib", "fds", "threads"):
        f = flat[what]
        if f.get("why"):
            out.append(f"  {what}: {f['why']}")
            continue
        out.append(
            f"  callctl {what}: baseline {f['baseline']} → final {f['final']} "
            f"(growth {f['growth']}, allowed {f['allowed']}): "
            f"{'flat' if f['ok'] else 'GROWS'}"
        )
    out.append(
        f"  {'min':>5} {'RSS':>6} {'FDs':>4} {'thr':>3}  {'ast RSS':>7} {'FDs':>4} "
        f"{'placed':>6} {'done':>6} {'fail':>4} {'records':>7} {'active':>6} {'load':>5}"
    )
    for s in result["samples"]:
        out.append(
            f"  {s['t_s'] / 60:>5.1f} {s['callctl']['rss_mib']:>6.1f} "
            f"{s['callctl']['fds']:>4.0f} {s['callctl']['threads']:>3.0f}  "
            f"{s['asterisk']['rss_mib']:>7.1f} {s['asterisk']['fds']:>4.0f} "
            f"{s['placed']:>6} {s['completed']:>6} {s['failed']:>4} {s['records']:>7} "
            f"{s['active_calls']:>6} {s['loadavg']:>5.2f}"
            f"{'' if s['during_load'] else '  (after the last call)'}"
        )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--minutes", type=float, default=30, help="minutes of calls")
    parser.add_argument("--rate", type=float, default=10, help="calls per second, all streams")
    parser.add_argument("--hold-seconds", type=float, default=4, help="answered call length")
    parser.add_argument("--sample-seconds", type=float, default=60, help="sampling interval")
    parser.add_argument("--db", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument(
        "--pg-admin",
        default=os.environ.get("CALLCTL_TEST_PG", PG_ADMIN),
        help="PostgreSQL URL to create the database with",
    )
    parser.add_argument(
        "--out-dir", type=Path, default=ROOT / "docs", help="where soak.json and soak.png go"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="45 s at 5 calls/s, held 2 s, sampled every 5 s; flatness not judged (the smoke test)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--plot-only",
        type=Path,
        metavar="JSON",
        help="only draw the plot of an earlier run's soak.json into --out-dir",
    )
    args = parser.parse_args(argv)
    if args.plot_only:
        plot(json.loads(args.plot_only.read_text()), args.out_dir / "soak.png")
        return 0
    if args.quick:
        args.minutes, args.rate, args.hold_seconds, args.sample_seconds = 0.75, 5, 2, 5
    if os.geteuid() != 0:
        print("soak: run as root (the test PBX runs in a chroot)", file=sys.stderr)
        return 2
    if shutil.which("sipp") is None:
        print("soak: sipp is not installed", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="callctl-soak-"))
    try:
        with lab_up("soak") as lab:
            bench = Bench(lab, lab.credentials()["+3222000001"], work, args.pg_admin, 600)
            info = {
                "mode": "quick" if args.quick else "full",
                "started": datetime.now(UTC).isoformat(timespec="seconds"),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "asterisk": str(lab.status()["version"]),
                "commit": subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                    check=False,
                ).stdout.strip(),
                "loadavg_start": os.getloadavg(),
                "settings": {
                    "rate": args.rate,
                    "minutes": args.minutes,
                    "hold_seconds": args.hold_seconds,
                    "sample_seconds": args.sample_seconds,
                    "db": args.db,
                    "streams": [asdict(s) for s in STREAMS],
                },
            }
            soak = Soak(
                lab,
                bench,
                work,
                args.db,
                args.pg_admin,
                args.rate,
                args.minutes,
                args.hold_seconds,
                args.sample_seconds,
            )
            result = {
                **info,
                **soak.run(),
                "loadavg_end": os.getloadavg(),
                "ended": datetime.now(UTC).isoformat(timespec="seconds"),
            }
    finally:
        if args.keep:
            print(f"soak: work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "soak.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(result, args.out_dir / "soak.png")
    print(json.dumps(result, indent=1) if args.json else report(result))
    if result["why"]:
        return 1
    return 0 if args.quick or result["flatness"]["flat"] else 3


if __name__ == "__main__":
    sys.exit(main())
