"""Smoke test of ``benchmarks/bench_stream.py``: it runs, loses nothing, and reports figures
(no timing checks)."""

from __future__ import annotations

from tests.bench_support import run_quick


def test_bench_stream_quick_json() -> None:
    out = run_quick("bench_stream.py", "--clients", "3", "--rate", "10")
    r = out["result"]
    assert r["clients"] == 3
    assert r["calls"] == 20
    assert r["records_per_client"] == 20  # one record per call, to every client
    assert r["events_per_client"] >= 2 * r["calls"]
    assert r["deliveries"] == 3 * r["events_per_client"]
    assert (r["lost"], r["repeated_or_disordered"], r["clients_dropped_or_reset"]) == (0, 0, 0)
    assert r["request_failures"] == 0
    for key in ("latency_p50_ms", "latency_p99_ms", "route_p50_ms", "server_cpu_s"):
        assert r[key] > 0, key
