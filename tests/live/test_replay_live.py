"""``callctl replay --live`` (issue 6): every fixture of tests/traces/ played through the test
PBX gives the records the offline replay gives (tests/test_replay.py).

Each trace is played as a separate ``callctl replay --live`` process: it starts its own
``callctl serve`` (a test clock at the trace's first call) and far ends, places the calls
with SIPp at their trace times, and compares every live record with the offline answer; no
difference means exit 0. The session's ``lab`` fixture keeps the PBX up between them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callctl.pbx.lab import Lab
from tests.live.conftest import LAB_LINES, run_cli
from tests.test_replay import EMERGENCY, EXPECTED

ROOT = Path(__file__).resolve().parents[2]
TRACES = ROOT / "tests" / "traces"
COUNTS: dict[str, int] = {name: len(rows) for name, rows in EXPECTED.items()}
COUNTS["emergency.pcapng"] = len(EMERGENCY)


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_live_replay_matches_the_offline_records(name: str, lab: Lab) -> None:
    del lab
    proc = run_cli("replay", "--live", "--json", "--lines", str(LAB_LINES), str(TRACES / name),
                   check=False)  # fmt: skip
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    differing = [o for o in objects if o.get("differences")]
    assert proc.returncode == 0, (differing, proc.stderr[-2000:])
    summary = objects[-1]
    assert summary == {"summary": True, "played": COUNTS[name], "differing": 0, "not_played": 0}
    assert all(o["differences"] == [] for o in objects[:-1])


def test_a_tariff_change_shows_as_differences(lab: Lab, tmp_path: Path) -> None:
    """Offline with a new tariff (Belgian calls at 0.20/min), live with the shipped one: the
    answered Classic call of cancel.pcap is listed with its amounts, and the exit code says so."""
    del lab
    shipped = (ROOT / "callctl" / "data" / "tariff.toml").read_text()
    changed = shipped.replace('be_fixed = "0.17", be_mobile = "0.17"',
                              'be_fixed = "0.20", be_mobile = "0.20"')  # fmt: skip
    assert changed != shipped
    tariff = tmp_path / "tariff.toml"
    tariff.write_text(changed)
    proc = run_cli("--tariff", str(tariff), "replay", "--live", "--json", "--lines",
                   str(LAB_LINES), str(TRACES / "cancel.pcap"), check=False)  # fmt: skip
    objects = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert objects[-1]["differing"] == 1
    (answered,) = [o for o in objects if o.get("differences")]
    assert answered["dialled"] == "0470123457"
    assert {"field": "amount", "offline": "0.0067", "live": "0.0057"} in answered["differences"]
