"""``callctl replay --offline`` on the fixtures of tests/traces/ (issue 6): the decision and
the rated record of every call, in time order, and the statements per line and period.

The pcaps were captured on the test PBX (``scripts/make-traces``) at a Thursday 10:00
(peak). Prices in the expectations are the rules' own (R5), written here by hand, as in
tests/live/test_calls.py; every call there was held 1.5 s, so 2 billed seconds (R4).
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from callctl.cli.main import main
from callctl.data import default_tariff
from callctl.pbx.session import lab_lines
from callctl.replay.live import map_lines
from callctl.replay.offline import OfflineReplay, override_product
from callctl.store.lines_yaml import parse_lines_yaml
from callctl.trace.dialogs import rebuild
from callctl.trace.files import read_trace

ROOT = Path(__file__).resolve().parents[1]
TRACES = ROOT / "tests" / "traces"
LINES = ROOT / "dialplan" / "lab-lines.yaml"
CLASSIC, ANYTIME, KLIK, P2G, PAUSED = (
    "+3222000001", "+3222000002", "+3292000003", "+3242000004", "+3265000005",
)  # fmt: skip
FREE = Decimal("0.0000")


def amount(per_minute: str, seconds: int = 2, setup: str = "0", per_call: str = "0") -> Decimal:
    raw = Decimal(setup) + Decimal(per_call) + Decimal(per_minute) * seconds / 60
    return raw.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def replay(*args: str) -> tuple[int, list[dict[str, Any]], str]:
    """``callctl replay --offline --json`` in this process: exit code, objects, stderr."""
    argv = ["replay", "--offline", "--json", "--lines", str(LINES), *args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv, out=out)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def calls(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if not o.get("summary")]


def row(o: dict[str, Any]) -> tuple[object, ...]:
    decision = o["target"] if o["action"] == "route" else o["sip_code"]
    return (o["line"], o["dialled"], o["group"], decision, o["billsec"], Decimal(o["amount"]))


# (line, dialled, group, target or SIP code, billed seconds, amount)
GROUPS = [
    (CLASSIC, "022345678", "be_fixed", "carrier", 2, amount("0.17")),
    (CLASSIC, "0470123456", "be_mobile", "carrier", 2, amount("0.17")),
    (CLASSIC, "+33142685300", "zone", "carrier", 2, amount("0.58", setup="0.08")),
    (CLASSIC, "+212612345678", "ma_tr", "carrier", 2, amount("1.16", setup="0.08")),
    (CLASSIC, "+81312345678", "international", "carrier", 2, amount("1.16", setup="0.08")),
    (CLASSIC, "080012345", "freephone", "carrier", 2, FREE),
    (CLASSIC, "1813", "helpline", "carrier", 2, FREE),
    (CLASSIC, "070123456", "special", "carrier", 2, amount("0.30")),
    (CLASSIC, "090312345", "premium", "carrier", 2, amount("1.50")),
    (CLASSIC, "090512345", "premium", "carrier", 2, amount("0", per_call="2.00")),
    (CLASSIC, "112", "emergency", "psap-112-brussels", 2, FREE),
    (ANYTIME, "+33142685300", "zone", "carrier", 2, FREE),  # R5 anytime: the zone bundle
    (KLIK, "+212612345678", "ma_tr", "carrier", 2, amount("0.83", setup="0.08")),
    (KLIK, "0470123456", "be_mobile", "carrier", 2, FREE),  # KLIK: Belgian calls at peak
]
REFUSALS = [
    (CLASSIC, "0800FLOWERS", "invalid", 484, 0, FREE),  # R1
    (PAUSED, "022345678", "be_fixed", 403, 0, FREE),  # paused by the operator
    (P2G, "+33142685300", "zone", 403, 0, FREE),  # R9: Phone2Go may not call the zone
    (CLASSIC, "077123456", "special", 403, 0, FREE),  # R5: 077 is not a voice service
    (P2G, "0470123456", "be_mobile", "carrier", 5, FREE),  # device A, 4.5 s
    (P2G, "0470987654", "be_mobile", 486, 0, FREE),  # R9: device B while A is in a call
]
CANCEL = [
    (CLASSIC, "022345679", "be_fixed", "carrier", 0, FREE),
    (CLASSIC, "0470123457", "be_mobile", "carrier", 2, amount("0.17")),
]
TEXT = {
    "retransmissions.log": [(CLASSIC, "022345678", "be_fixed", "carrier", 3, amount("0.17", 3))],
    "forked-18x.txt": [(CLASSIC, "0470123456", "be_mobile", "carrier", 3, amount("0.17", 3))],
    "reinvite.txt": [
        (CLASSIC, "+33142685300", "zone", "carrier", 3, amount("0.58", 3, setup="0.08"))
    ],
    "cancel-487.txt": [(CLASSIC, "022345679", "be_fixed", "carrier", 0, FREE)],
    "missing-bye.txt": [
        (CLASSIC, "022345678", "be_fixed", "carrier", 4, amount("0.17", 4)),  # to 10:00:04.6
        (CLASSIC, "0470123456", "be_mobile", "carrier", 3, amount("0.17", 3)),
    ],
    "auth-challenge.txt": [
        (CLASSIC, "+81312345678", "international", "carrier", 3, amount("1.16", 3, "0.08"))
    ],
}
EXPECTED: dict[str, Sequence[tuple[object, ...]]] = {
    "groups.pcap": GROUPS,
    "refusals.pcapng": REFUSALS,
    "cancel.pcap": CANCEL,
    **TEXT,
}
# (target, trusted, source, province) of each emergency call, in order
EMERGENCY = [
    ("psap-112-brussels", True, "device", "brussels"),  # mobile, Grand-Place
    ("psap-112-vlaams-brabant", True, "device", "vlaams-brabant"),  # mobile, Zaventem
    ("psap-112-liege", False, "declared_address", "liege"),  # mobile on Wi-Fi
    ("cic-101-brabant-wallon", True, "device", "brabant-wallon"),  # mobile, Wavre, 101
    ("psap-112-liege", True, "site", "liege"),  # desktop on site (127.0.0.1)
    ("psap-112-liege", False, "declared_address", "liege"),  # desktop off site (127.0.9.1)
    ("psap-112-brussels", True, "declared_address", "brussels"),  # Voice Pro line
]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_offline_replay_of_each_fixture(name: str) -> None:
    code, objects, err = replay(str(TRACES / name))
    assert (code, err) == (0, "")
    assert [row(o) for o in calls(objects)] == EXPECTED[name]


def test_emergency_calls_with_their_location() -> None:
    code, objects, _ = replay(str(TRACES / "emergency.pcapng"))
    assert code == 0
    got = [(o["target"], o["location_trusted"], o["location_source"], o["province"])
           for o in calls(objects)]  # fmt: skip
    assert got == EMERGENCY
    assert {(o["group"], o["amount"], o["billsec"]) for o in calls(objects)} == {
        ("emergency", "0.0000", 2)
    }
    assert all(o["record"]["location_reasons"] for o in calls(objects))


def test_calls_come_in_time_order_with_times_and_records() -> None:
    _, objects, _ = replay(str(TRACES / "cancel.pcap"))
    cancelled, answered = calls(objects)
    assert cancelled["started_at"] == "2026-11-26T10:00:00+01:00"  # Europe/Brussels
    assert (cancelled["answered_at"], cancelled["ended_by"], cancelled["trace_status"]) == (
        None, "final response", 487,
    )  # fmt: skip
    assert (cancelled["disposition"], cancelled["flags"]) == ("NO ANSWER", ["cancelled"])
    assert answered["started_at"] > cancelled["started_at"]
    record = answered["record"]
    assert (record["call"], record["source"]) == (f"trace/{answered['call_id']}", "replay")
    assert (record["peak_seconds"], record["charged_seconds"], record["period"]) == (
        2,
        2,
        "2026-11",
    )


def test_missing_bye_is_billed_to_the_trace_end_and_flagged() -> None:
    _, objects, _ = replay(str(TRACES / "missing-bye.txt"))
    first = calls(objects)[0]
    assert (first["ended_at"], first["ended_by"]) == ("2026-11-26T10:00:04.600000+01:00",
                                                      "end of trace")  # fmt: skip
    assert first["flags"] == ["missing_bye"]


def test_summary_per_line_and_period_is_the_rate_statement() -> None:
    _, objects, _ = replay(str(TRACES / "groups.pcap"))
    summaries = {o["line"]: o for o in objects if o.get("summary")}
    assert set(summaries) == {CLASSIC, ANYTIME, KLIK}
    classic = summaries[CLASSIC]
    assert (classic["period"], classic["calls"], classic["product"]) == ("2026-11", 11, "classic")
    total = sum((r[5] for r in GROUPS if r[0] == CLASSIC), Decimal(0))
    assert Decimal(classic["calls_total"]) == total
    assert classic["total_excl_vat"] == str((total + Decimal("22.29")).quantize(Decimal("0.01")))
    assert summaries[ANYTIME]["bundle_seconds_used"] == 2  # R6: drawn by the zone call


def test_product_override_checks_a_tariff_change() -> None:
    code, objects, _ = replay("--product", "klik", str(TRACES / "groups.pcap"))
    assert code == 0
    by_dialled = {(o["line"], o["dialled"]): Decimal(o["amount"]) for o in calls(objects)}
    assert by_dialled[CLASSIC, "022345678"] == FREE  # KLIK: Belgian calls free at peak
    assert by_dialled[CLASSIC, "+212612345678"] == amount("0.83", setup="0.08")
    assert {o["product"] for o in objects if o.get("summary")} == {"klik"}
    code, _, err = replay("--product", "nonsense", str(TRACES / "groups.pcap"))
    assert code == 2
    assert "nonsense" in err


def test_usage_accumulates_across_the_calls_like_live() -> None:
    """R7 with a 3-second cap: once two KLIK calls have used 4 free seconds, the next calls
    are refused (403), emergency and helpline calls excepted — decided in trace time."""
    tariff = replace(default_tariff(), fair_use_seconds=3)
    lines = override_product(lab_lines(tariff), "klik")
    dialogs, problems = rebuild(read_trace(TRACES / "groups.pcap", ZoneInfo(tariff.timezone)))
    result = OfflineReplay(lines, tariff).run(dialogs)
    assert problems == result.problems == []
    outcome = [(c.record.dialled, c.decision.refusal) for c in result.calls]
    assert outcome[:2] == [("022345678", None), ("0470123456", None)]
    later = dict(outcome[4:])
    assert later["1813"] is None  # helpline: never paused (R7)
    assert later["112"] is None
    assert later["+81312345678"] == later["080012345"] == "fair_use_cap"
    assert result.usage[CLASSIC, "2026-11"].fair_use_seconds == 4


def test_velocity_limits_apply_in_trace_time_like_live() -> None:
    """Fraud guard: two calls abroad at once, 125 s an hour, grants of 61 s at least. The
    Classic line's calls abroad start a second apart and last 1.5 s: the first is granted half
    of 125 s (62), the second, during it, the 63 s left; the third, once the first has ended
    (2 s used) and during the second, would get 125 - 2 - 63 = 60 s: refused for the minutes.
    A call within Belgium is not counted."""
    tariff = default_tariff()
    velocity = replace(
        tariff.fraud.velocity, max_simultaneous=2, max_seconds=125, min_grant_seconds=61
    )
    tariff = replace(tariff, fraud=replace(tariff.fraud, velocity=velocity))
    dialogs, _ = rebuild(read_trace(TRACES / "groups.pcap", ZoneInfo(tariff.timezone)))
    result = OfflineReplay(lab_lines(tariff), tariff).run(dialogs)
    abroad = [
        (c.record.dialled, c.decision.refusal, c.decision.limit_seconds)
        for c in result.calls
        if c.record.line == CLASSIC and c.record.group in velocity.groups
    ]
    assert abroad[0] == ("+33142685300", None, 62)
    assert abroad[1] == ("+212612345678", None, 63)
    assert abroad[2][:2] == ("+81312345678", "velocity_minutes")
    be_mobile = next(c for c in result.calls if c.record.dialled == "0470123456")
    assert be_mobile.decision.refusal is None


def test_bad_input_is_reported_and_the_good_calls_replayed(tmp_path: Path) -> None:
    cut = tmp_path / "cut.pcap"
    raw = (TRACES / "groups.pcap").read_bytes()
    cut.write_bytes(raw[: len(raw) - 100])
    code, objects, err = replay(str(TRACES / "cancel.pcap"), str(cut), str(tmp_path / "none"))
    assert code == 1
    assert "truncated" in err
    assert "cannot be read" in err
    assert len(calls(objects)) == 2 + 14  # the last call of the cut file is still there


def test_pbx_address_keeps_the_access_side_only() -> None:
    _, objects, _ = replay("--pbx", "127.0.0.1:5060", str(TRACES / "cancel.pcap"))
    assert len(calls(objects)) == 2
    _, objects, _ = replay("--pbx", "192.0.2.1", str(TRACES / "cancel.pcap"))
    assert calls(objects) == []


def test_text_output_and_no_progress_bar_without_a_terminal() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", "replay", "--offline", "--lines", str(LINES),
         str(TRACES / "refusals.pcapng")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0
    assert proc.stderr == ""  # stderr is a pipe: no progress bar
    assert "refused 486" in proc.stdout
    assert "Line +3242000004" in proc.stdout
    assert "Statement 2026-11 - phone2go" in proc.stdout


def test_live_mapping_keeps_the_product() -> None:
    """docs/replay.md: each trace line is played by a lab line of the same product."""
    tariff = default_tariff()
    examples = parse_lines_yaml((ROOT / "docs" / "examples" / "lines.yaml").read_text(), tariff)
    assert map_lines(examples, lab_lines(tariff)) == {
        "+3222345601": ANYTIME,  # Classic with anytime
        "+3292345602": KLIK,
        "+3242345603": P2G,
        "+3242345611": "+3242000014",  # licences by rank
        "+3242345612": "+3242000024",
    }
