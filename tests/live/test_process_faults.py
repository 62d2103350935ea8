"""Live faults under SIPp load (issue 7): callctl killed with SIGKILL, Asterisk restarted,
and two callctl processes on one PostgreSQL database behind one Asterisk.

The drills are :mod:`callctl.pbx.faults`; here they run small enough for CI (each test well
under 90 s). ``benchmarks/bench_faults.py`` runs them at issue 7's sizes (50 calls/s, 200
concurrent calls); docs/operations.md has the figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from callctl.pbx.faults import asterisk_restart_drill, kill_drill, pair_drill
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.sipp import FarEnd
from tests.databases import fresh_database
from tests.live.conftest import CLASSIC, CLASSIC_ANYTIME, LAB_LINES, PEAK, Callctl, run_cli
from tests.live.test_calls import amount

BUNDLE = 300  # seconds in the pair drill's zone bundle: far fewer than its calls need


def test_sigkill_under_load_then_reconcile(
    lines_db: str,
    lab: Lab,
    creds: dict[str, Credential],
    far_ends: Callable[..., FarEnd],
    tmp_path: Path,
) -> None:
    far_ends("carrier")
    drill = kill_drill(
        lab, creds[CLASSIC], lines_db, tmp_path,
        rate=20, seconds=8, hold_ms=3000, kill_after=4, down_for=2, emergency_calls=2,
    )  # fmt: skip
    # Calls in progress when callctl died were not cut, and calls placed while it was down
    # connected through the dialplan's fallback: SIPp saw every call end as it expects.
    assert drill.active_at_kill > 0
    assert (drill.load.successful, drill.load.failed) == (drill.calls, 0), drill.load.errors
    # R9: emergency calls during the outage reached the line's 112 centre.
    assert [r.returncode for r in drill.emergency] == [0, 0], drill.emergency[0].stderr[-500:]
    assert drill.psap_invites == 2
    # R10: every answered call has exactly one record; reconcile wrote the ones callctl
    # missed (those it decided before dying included), and a second run adds nothing.
    assert len(drill.answered) == drill.calls + 2
    keys = Counter(r.key.call_id for r in drill.records if r.disposition == "ANSWERED")
    assert set(keys) == drill.answered
    assert max(keys.values()) == 1
    assert drill.reconciled > 0
    assert drill.reconciled_again == 0
    assert drill.live_records + drill.reconciled == len(drill.records)
    sources = Counter(r.source for r in drill.records)
    assert sources["live"] > 0
    assert sources["reconcile"] > 0
    by_target = Counter(r.target for r in drill.records)
    assert by_target["psap-112-brussels"] == 2


def test_asterisk_restart_under_load(
    lines_db: str,
    lab: Lab,
    creds: dict[str, Credential],
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
) -> None:
    far_ends("carrier")
    server = start_callctl(lines_db)
    drill = asterisk_restart_drill(
        lab, server, creds[CLASSIC], rate=10, seconds=4, hold_ms=2000, restart_after=2.0
    )
    assert drill.during.failed > 0  # the restart cut calls: the drill did hit the load
    # The same callctl process kept running and decided and recorded the calls after.
    assert drill.callctl_alive
    assert drill.health["status"] == "ok"
    assert drill.health["active_calls"] == 0  # nothing held for calls Asterisk dropped
    assert (drill.after.successful, drill.after.failed) == (drill.after_calls, 0)
    assert len(drill.after_answered) == drill.after_calls
    recs = drill.after_records
    assert {r.key.call_id for r in recs} == drill.after_answered
    assert all((r.source, r.group, r.target) == ("live", "be_fixed", "carrier") for r in recs)


def test_two_processes_share_one_bundle(
    lab: Lab,
    creds: dict[str, Credential],
    far_ends: Callable[..., FarEnd],
    tmp_path: Path,
) -> None:
    far_ends("carrier")
    with fresh_database() as db:
        run_cli("lines", "import", str(LAB_LINES), "--db", db)
        drill = pair_drill(
            lab, creds[CLASSIC_ANYTIME], db, tmp_path,
            calls=200, rate=40, hold_ms=7000, bundle_seconds=BUNDLE, clock=PEAK,
        )  # fmt: skip
    assert (drill.load.successful, drill.load.failed) == (200, 0), drill.load.errors
    # Both processes decided calls, and held all 200 at once between them.
    assert all(n > 0 for n in drill.active), drill.active
    assert sum(drill.active) == 200
    assert all(n > 0 for n in drill.sessions)
    # R10: one record per answered call.
    assert len(drill.answered) == 200
    assert sorted(r.key.call_id for r in drill.records) == sorted(drill.answered)
    # R6: the bundle is drawn to its size, never beyond, and the counter is the records' sum.
    recs = drill.records
    drawn = sum(r.bundle_seconds for r in recs)
    assert drawn == BUNDLE
    assert drill.usage_bundle_seconds == BUNDLE
    # The draws were serialised: at most one call straddles the bundle's end.
    assert sum(1 for r in recs if 0 < r.bundle_seconds < r.billsec) <= 1
    # R5/R6: seconds past the bundle are charged at the zone price, with the setup fee.
    for r in recs:
        assert r.group == "zone"
        assert r.tariff_id.endswith("-drill")
        assert r.bundle_seconds + r.charged_seconds == r.billsec
        setup = "0.08" if r.charged_seconds else "0"
        assert r.amount == amount("0.58", r.charged_seconds, setup=setup), r
    assert sum(r.amount for r in recs) > Decimal(0)
