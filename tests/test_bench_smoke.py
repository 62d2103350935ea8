"""Smoke test of ``benchmarks/bench_core.py``: it runs and reports rates (no timing checks)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_core.py"


def test_bench_core_quick_json() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == "quick"
    for name in ("repeated", "distinct", "rating"):
        figure = result["figures"][name]
        assert figure["items"] > 0, name
        assert figure["rate_best"] > 0, name
        assert figure["rate_median"] > 0, name
        assert figure["target"] > 0, name
        assert figure["status"] in {"PASS", "BELOW"}, name
    assert result["memory"]["tracemalloc_peak_bytes"] > 0
    assert result["memory"]["max_rss_end_bytes"] > 0
