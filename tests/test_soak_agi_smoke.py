"""Smoke test of ``benchmarks/soak_agi.py``: a short controller-alone soak runs end to end
(every call answered and recorded, memory sampled); flatness is not judged (too short)."""

from __future__ import annotations

from tests.bench_support import run_quick


def test_soak_agi_quick_answers_and_records_every_call_and_samples_memory() -> None:
    result = run_quick("soak_agi.py")
    assert result["verdict"] == "PASS", result["why"]
    tally = result["tally"]
    assert tally["calls"] == 400  # 20 calls/s for 20 s
    assert tally["routed"] + tally["refused"] == tally["calls"]
    assert (tally["failures"], tally["safe_answers"]) == (0, 0)
    assert tally["recorded"] == tally["routed"]
    assert result["records"]["missing"] == 0
    assert result["records"]["in_db"] == tally["calls"]
    samples = result["samples"]
    assert len(samples) >= 4
    assert all(s["server"]["rss_mib"] > 0 and s["server"]["fds"] > 0 for s in samples)
    assert samples[-1]["during_load"] is False
    assert samples[-1]["active_calls"] == 0  # every routed call hung up
