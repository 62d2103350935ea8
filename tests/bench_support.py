"""Running a benchmark script of ``benchmarks/`` as the smoke tests do: its JSON result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_benchmark(script: str, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` with ``args`` from the repository root; its JSON output."""
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=BENCHMARKS.parent,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def run_quick(script: str, *args: str) -> dict[str, Any]:
    """``--quick --json`` and ``args``: the smoke run every benchmark script offers."""
    result = run_benchmark(script, "--quick", "--json", *args)
    assert result["mode"] == "quick"
    return result
