"""Smoke test of ``benchmarks/bench_core.py``: it runs and reports rates (no timing checks)."""

from __future__ import annotations

from tests.bench_support import run_quick


def test_bench_core_quick_json() -> None:
    result = run_quick("bench_core.py")
    for name in ("repeated", "distinct", "rating"):
        figure = result["figures"][name]
        assert figure["items"] > 0, name
        assert figure["rate_best"] > 0, name
        assert figure["rate_median"] > 0, name
        assert figure["target"] > 0, name
        assert figure["status"] in {"PASS", "BELOW"}, name
    assert result["memory"]["tracemalloc_peak_bytes"] > 0
    assert result["memory"]["max_rss_end_bytes"] > 0
