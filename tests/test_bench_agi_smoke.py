"""Smoke test of ``benchmarks/bench_agi.py``: it runs and reports figures (no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_agi.py"


def test_bench_agi_quick_json() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    result = json.loads(proc.stdout)
    assert result["mode"] == "quick"
    summary = result["summary"]
    figures = (
        "decisions_per_s_best",
        "decisions_per_s_median",
        "decision_p50_ms",
        "decision_p99_ms",
        "records_per_s_best",
        "hangup_p50_ms",
        "hangup_p99_ms",
    )
    for key in figures:
        assert summary[key] > 0, key
    assert summary["status"] in {"PASS", "BELOW"}
    phases = {p["name"]: p for p in result["phases"]}
    assert phases["run 1 route"]["answered"] > 0
    assert phases["run 1 hangup"]["answered"] > 0
    assert all(p["failures"] == 0 for p in phases.values())
    records = result["records"]
    assert records["in_db"] > 0
    assert records["hangups_missing"] == 0
    assert records["unexpected"] == 0
