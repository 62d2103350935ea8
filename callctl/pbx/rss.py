"""The resident memory and open files of a process (Linux ``/proc``), sampled while something
runs.

For the tests and benchmarks that check ``callctl serve`` keeps its memory and file
descriptors bounded (e.g. while it streams an export, or under a flood of connections):
:func:`sampled_rss` collects VmRSS, :func:`sampled` any such reading, every ``interval``
seconds from a thread while its block runs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def rss(pid: int) -> int:
    """The process's resident set size in bytes (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ProcessLookupError(f"no VmRSS for process {pid}")


def open_fds(pid: int) -> int:
    """How many file descriptors the process has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sampled_rss(pid: int, interval: float = 0.01) -> contextlib.AbstractContextManager[list[int]]:
    """A list that fills with the process's RSS (bytes) while the block runs."""
    return sampled(lambda: rss(pid), interval)


@contextmanager
def sampled(read: Callable[[], int], interval: float = 0.01) -> Iterator[list[int]]:
    """A list that fills with ``read()`` every ``interval`` seconds while the block runs."""
    samples: list[int] = [read()]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(interval):
            samples.append(read())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        done.set()
        thread.join()
        samples.append(read())
