"""Smoke test of ``benchmarks/bench_stream.py``: it runs, loses nothing, and reports figures
(no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_stream.py"


def test_bench_stream_quick_json() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--clients", "3", "--rate", "10"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    out = json.loads(proc.stdout)
    assert out["mode"] == "quick"
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
