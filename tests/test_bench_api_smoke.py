"""Smoke test of ``benchmarks/bench_api.py``: it runs on PostgreSQL and reports figures
(no timing checks), with every record found by the pages and the export."""

from __future__ import annotations

from tests.bench_support import run_benchmark
from tests.databases import ensure_server


def test_bench_api_quick_json() -> None:
    ensure_server()
    result = run_benchmark("bench_api.py", "--quick", "--json", "--page-size", "300")
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
