"""Issue 7's fault runs at full size through the real test PBX (figures in docs/operations.md).

Run as root from the repository root, holding the lab's lock::

    flock /tmp/callctl-live.lock nice .venv/bin/python benchmarks/bench_faults.py
    flock /tmp/callctl-live.lock nice .venv/bin/python benchmarks/bench_faults.py --only kill --json

- ``kill``: callctl killed with SIGKILL during a steady 50 calls/s load of Belgian calls held
  5 s; 112 calls placed while it is down; restarted; ``callctl reconcile`` on the CDR rows.
- ``restart``: Asterisk stopped and started during a 50 calls/s load; the same callctl
  process then decides and records a second load.
- ``pair``: two callctl processes on one fresh PostgreSQL database, the dialplan asking both;
  200 concurrent zone calls of one line (ramped in at 40/s, held 10 s) on a 300-second bundle.

The drills are :mod:`callctl.pbx.faults`; ``tests/live/test_process_faults.py`` runs them
smaller in CI. The same outcomes are checked here and printed with the figures; the exit
status is 1 when one does not hold.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.databases

from callctl.data import default_tariff
from callctl.pbx.faults import asterisk_restart_drill, kill_drill, pair_drill, run_callctl
from callctl.pbx.lab import Lab
from callctl.pbx.serve_process import ServeProcess
from callctl.pbx.session import LAB_LINES, lab_lines
from callctl.pbx.sipp import FarEnd
from tests.databases import fresh_database

CLASSIC = "+3222000001"
CLASSIC_ANYTIME = "+3222000002"  # a zone bundle at peak and off-peak (R6)
PEAK = "2026-11-26T10:00:00+01:00"


def kill(lab: Lab, work: Path, rate: int) -> dict[str, Any]:
    db = f"sqlite:///{work / 'kill.db'}"
    run_callctl("lines", "import", str(LAB_LINES), "--db", db)
    d = kill_drill(
        lab, lab.credentials()[CLASSIC], db, work,
        rate=rate, seconds=20, hold_ms=5000, kill_after=8, down_for=4, emergency_calls=5,
    )  # fmt: skip
    keys = Counter(r.key.call_id for r in d.records if r.disposition == "ANSWERED")
    by_id = {r.key.call_id: r for r in d.records}
    unmatched = [
        {"id": i, "record": [by_id[i].disposition, by_id[i].source, by_id[i].billsec]
         if i in by_id else None,
         "cdr": [[c["disposition"], c["route"], c["billsec"]] for c in d.cdr if c["uniqueid"] == i]}
        for i in sorted(set(keys) ^ d.answered)[:5]
    ]  # fmt: skip
    return {
        "calls": d.calls, "rate": rate, "successful": d.load.successful,
        "failed": d.load.failed, "active_at_kill": d.active_at_kill,
        "outage_s": round(d.outage_s, 2),
        "emergency_ok": sum(r.returncode == 0 for r in d.emergency),
        "emergency_placed": len(d.emergency), "psap_invites": d.psap_invites,
        "answered": len(d.answered), "live_records": d.live_records,
        "reconciled": d.reconciled, "reconciled_again": d.reconciled_again,
        "unmatched": unmatched,
        "ok": d.load.failed == 0 and d.load.successful == d.calls
        and d.psap_invites == len(d.emergency) and set(keys) == d.answered
        and max(keys.values(), default=1) == 1 and d.reconciled_again == 0,
    }  # fmt: skip


def restart(lab: Lab, work: Path, rate: int) -> dict[str, Any]:
    db = f"sqlite:///{work / 'restart.db'}"
    run_callctl("lines", "import", str(LAB_LINES), "--db", db)
    server = ServeProcess(db, None, work).start()
    try:
        d = asterisk_restart_drill(
            lab, server, lab.credentials()[CLASSIC],
            rate=rate, seconds=10, hold_ms=3000, restart_after=4,
        )  # fmt: skip
    finally:
        server.stop()
    recorded = {r.key.call_id for r in d.after_records}
    return {
        "rate": rate, "during_successful": d.during.successful, "during_failed": d.during.failed,
        "restart_s": round(d.restart_s, 2), "callctl_alive": d.callctl_alive,
        "active_calls_after": d.health["active_calls"], "after_calls": d.after_calls,
        "after_successful": d.after.successful, "after_failed": d.after.failed,
        "after_recorded": len(recorded),
        "ok": d.callctl_alive and d.after.failed == 0 and recorded == d.after_answered
        and len(recorded) == d.after_calls and d.health["active_calls"] == 0,
    }  # fmt: skip


def pair(lab: Lab, work: Path, calls: int, rate: int) -> dict[str, Any]:
    bundle = 300
    with fresh_database() as db:
        run_callctl("lines", "import", str(LAB_LINES), "--db", db)
        d = pair_drill(
            lab, lab.credentials()[CLASSIC_ANYTIME], db, work,
            calls=calls, rate=rate, hold_ms=10_000, bundle_seconds=bundle, clock=PEAK,
        )  # fmt: skip
    drawn = sum(r.bundle_seconds for r in d.records)
    return {
        "calls": calls, "rate": rate, "successful": d.load.successful, "failed": d.load.failed,
        "active_per_process": d.active, "requests_per_process": d.sessions,
        "answered": len(d.answered), "records": len(d.records), "bundle": bundle,
        "drawn_by_records": drawn, "bundle_counter": d.usage_bundle_seconds,
        "charged_seconds": sum(r.charged_seconds for r in d.records),
        "amount": str(sum(r.amount for r in d.records)),
        "straddling_calls": sum(1 for r in d.records if 0 < r.bundle_seconds < r.billsec),
        "ok": d.load.failed == 0 and all(n > 0 for n in d.active)
        and sorted(r.key.call_id for r in d.records) == sorted(d.answered)
        and drawn == d.usage_bundle_seconds <= bundle,
    }  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=["kill", "restart", "pair"], action="append")
    parser.add_argument("--rate", type=int, default=50, help="calls/s of kill and restart")
    parser.add_argument("--pair-calls", type=int, default=200)
    parser.add_argument("--pair-rate", type=int, default=40)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    which = args.only or ["kill", "restart", "pair"]
    lab = Lab()
    was_running = lab.running()
    lab.up(lab_lines(default_tariff()))
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="callctl-faults-") as tmp, ExitStack() as stack:
            work = Path(tmp)
            stack.enter_context(FarEnd(lab.trunk_address("carrier")))
            if "kill" in which:
                results["kill"] = kill(lab, work, args.rate)
            if "restart" in which:
                results["restart"] = restart(lab, work, args.rate)
            if "pair" in which:
                results["pair"] = pair(lab, work, args.pair_calls, args.pair_rate)
    finally:
        if not was_running:
            lab.down()
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        for name, figures in results.items():
            print(f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return 0 if all(r["ok"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
