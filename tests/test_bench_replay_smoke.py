"""Smoke test of ``benchmarks/bench_replay.py``: it generates a capture, replays it offline
and reports a rate and memory (no timing checks)."""

from __future__ import annotations

from tests.bench_support import run_quick


def test_bench_replay_quick_json() -> None:
    result = run_quick("bench_replay.py")
    capture, figures = result["capture"], result["figures"]
    assert capture["calls"] == 300
    assert capture["packets"] == 6 * 300
    assert figures["calls"] == 300  # every generated call replayed
    assert figures["messages"] == 6 * 300
    assert figures["problems"] == 0
    assert figures["statements"] == 4  # the four lab lines called from
    assert figures["calls_per_second"] > 0
    assert figures["status"] in {"PASS", "BELOW"}
    assert result["memory"]["max_rss_end_bytes"] >= result["memory"]["max_rss_before_bytes"] > 0
