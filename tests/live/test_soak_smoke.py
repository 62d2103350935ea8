"""Smoke test of ``benchmarks/soak.py``: a short soak through the real PBX works end to end.

Under a minute of calls at 5 calls/s (``--quick``): every stream's calls complete as expected
(routed, refused, emergency), each has exactly one record, callctl's samples are taken, and
the JSON and the PNG plot are written. Flatness is not judged on so short a run, and no
timing is asserted.
"""

from __future__ import annotations

from pathlib import Path

from callctl.pbx.lab import Lab
from tests.bench_support import run_quick


def test_soak_quick_places_and_records_every_call(lab: Lab, tmp_path: Path) -> None:
    del lab  # the PBX up with this tree's dialplan
    result = run_quick("soak.py", "--out-dir", str(tmp_path))
    assert result["why"] == []
    totals = result["totals"]
    assert totals["placed"] > 150
    assert totals["failed"] == 0
    assert totals["completed"] == totals["placed"]
    assert totals["records"] == totals["placed"]  # R10: one record per call, refusals too
    streams = {s["name"]: s for s in result["streams"]}
    assert streams["emergency"]["completed"] >= 1  # R9: emergency calls connect
    assert streams["paused"]["records"] == streams["paused"]["placed"] > 0  # refused, recorded
    assert streams["satellite"]["records"] == streams["satellite"]["placed"] > 0
    samples = result["samples"]
    assert len(samples) >= 6
    assert all(s["callctl"]["rss_mib"] > 0 and s["callctl"]["fds"] > 0 for s in samples)
    assert samples[-1]["records"] == totals["placed"]
    assert (tmp_path / "soak.json").stat().st_size > 0
    assert (tmp_path / "soak.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
