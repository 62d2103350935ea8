"""The resident memory of a process (Linux ``/proc``), sampled while something runs.

For the tests and benchmarks that check ``callctl serve`` keeps its memory bounded (e.g.
while it streams an export): :func:`sampled_rss` collects VmRSS every ``interval`` seconds
from a thread while its block runs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def rss(pid: int) -> int:
    """The process's resident set size in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcessLookupError(f"no VmRSS for process {pid}")


@contextmanager
def sampled_rss(pid: int, interval: float = 0.01) -> Iterator[list[int]]:
    """A list that fills with the process's RSS (bytes) while the block runs."""
    samples: list[int] = [rss(pid)]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            samples.append(rss(pid))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()
        samples.append(rss(pid))
