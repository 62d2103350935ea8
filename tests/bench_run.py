"""Run a benchmark script as the smoke tests do: ``--quick --json`` and its arguments, from
the repository root; its parsed JSON output (the test fails on a non-zero exit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_quick(script: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick", "--json", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=BENCHMARKS.parent,
    )
    assert proc.returncode == 0, proc.stderr + proc.stdout[-3000:]
    result: dict[str, Any] = json.loads(proc.stdout)
    assert result["mode"] == "quick"
    return result
