"""Smoke test of ``benchmarks/bench_api.py``: it runs on PostgreSQL and reports figures
(no timing checks), with every record found by the pages and the export."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.databases import ensure_server

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_api.py"


def test_bench_api_quick_json() -> None:
    ensure_server()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--page-size", "300"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=SCRIPT.parents[1],
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    result = json.loads(proc.stdout)
    assert result["mode"] == "quick"
    assert result["ok"] is True
    assert result["search_all"]["records"] == result["count"] == 2000
    assert result["search_all"]["pages"] == 7  # 2 000 in pages of 300
    assert result["export"]["records"] == 2000
    for key in ("search_all", "search_line"):
        assert result[key]["records_per_s"] > 0
        assert result[key]["pages_per_s"] > 0
    assert result["export"]["records_per_s"] > 0
    assert result["load_records_per_s"] > 0
