"""Give the C heap's free pages back to the system now and then: ``malloc_trim(0)``.

Why: under a steady call rate, callctl's resident memory kept rising for tens of minutes
while the memory its objects use stayed flat (docs/performance.md, "Soak (30 minutes)").
Each call allocates and frees thousands of short-lived objects (AGI lines, SQL rows, JSON,
records); the larger ones (over 512 bytes: dict tables, frames, strings) come from glibc's
``malloc``, whose heap only shrinks from its top. Memory freed below a block still in use
stays counted in the process's RSS: measured with ``mallinfo2`` in a soaked ``callctl
serve``, the bytes in use stayed at about 37 MiB while the free bytes held inside the heap
rose from 6 to 12 MiB in three minutes (21 MiB on SQLite, whose connections each run in a
thread with its own malloc arena). ``malloc_trim(0)`` hands every whole free page inside
the heap back (``madvise``), not only the top; it took 2.5-4 ms on a 160-180 MiB process
and gave back 7-10 MiB there.

Measured before deciding (``benchmarks/soak_agi.py``, 15 minutes at 50 calls/s on
PostgreSQL, two runs side by side): without the trim RSS rose 10.5 MiB from the first to
the last third of the run and was still rising; with it every 60 s, 1.0 MiB (flat). On
SQLite it levelled either way. So ``callctl serve`` calls it every
``malloc_trim_interval`` seconds (60 by default; 0 turns it off), on the event loop: a few
milliseconds a minute, far from the 1.5 s AGI deadline. ``MALLOC_ARENA_MAX`` is left
alone: nothing measured called for it. Where the C library has no ``malloc_trim`` (not
glibc), nothing is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable

log = logging.getLogger("callctl.heap")

DEFAULT_INTERVAL = 60.0  # seconds


def glibc_malloc_trim() -> Callable[[], int] | None:
    """``malloc_trim(0)`` of the C library, or None where it has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return lambda: int(function(0))


def resident_bytes() -> int:
    """This process's resident memory (``/proc/self/statm``), 0 where there is none."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class HeapTrimmer:
    """Calls ``trim`` every ``interval`` seconds in a task of its own, until :meth:`close`."""

    def __init__(
        self, interval: float = DEFAULT_INTERVAL, trim: Callable[[], int] | None = None
    ) -> None:
        if interval < 0:
            raise ValueError("malloc_trim_interval must be 0 (off) or positive")
        self.interval = interval
        self.trim = trim if trim is not None else glibc_malloc_trim()
        self.trims = 0
        self.released = 0  # bytes of resident memory given back, summed over the trims
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.interval > 0 and self.trim is not None

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="callctl-heap-trim")

    def trim_now(self) -> int:
        """One trim; the resident bytes it gave back (0 when off)."""
        if self.trim is None:
            return 0
        before = resident_bytes()
        self.trim()
        freed = max(before - resident_bytes(), 0)
        self.trims += 1
        self.released += freed
        return freed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                freed = self.trim_now()
            except Exception:  # never let the housekeeping take the controller down
                log.exception("malloc_trim failed; not trying again")
                return
            log.debug("malloc_trim gave back %.1f MiB", freed / 1048576)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
