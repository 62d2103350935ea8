"""Smoke test of ``benchmarks/bench_agi.py``: it runs and reports figures (no timing checks)."""

from __future__ import annotations

from tests.bench_support import run_quick


def test_bench_agi_quick_json() -> None:
    result = run_quick("bench_agi.py")
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
