"""The periodic ``malloc_trim(0)`` of ``callctl serve`` (callctl/service/heap.py): it gives
free pages inside the C heap back to the system, runs on its interval as a task that
closes cleanly, and is off at interval 0. Real glibc, real memory: no stand-in."""

from __future__ import annotations

import asyncio
import gc

import pytest

from callctl.service.config import load_settings
from callctl.service.heap import HeapTrimmer, glibc_malloc_trim, resident_bytes

MIB = 1024 * 1024


def test_a_trim_gives_back_the_free_pages_a_fragmented_heap_holds() -> None:
    """Blocks freed below one still in use stay resident (glibc only shrinks its heap from
    the top) until ``malloc_trim(0)``: the soak's growth in small."""
    trimmer = HeapTrimmer(interval=0)  # off as a task; trim_now still trims
    assert trimmer.trim is not None, "this machine's C library is glibc"
    trimmer.trim_now()  # start from a trimmed heap
    blocks = [bytes(1500) for _ in range(40_000)]  # ~60 MiB of malloc'd (not pymalloc) blocks
    kept = blocks[15::16]  # one in sixteen stays alive, the last at the heap's top
    grown = resident_bytes()
    del blocks
    gc.collect()
    assert resident_bytes() > grown - 8 * MIB  # freed, yet still resident: fragmented
    freed = trimmer.trim_now()
    assert freed > 30 * MIB, f"malloc_trim gave back only {freed / MIB:.1f} MiB"
    assert trimmer.trims == 2
    assert trimmer.released >= freed
    assert len(kept) == 2_500


def test_the_trimmer_runs_on_its_interval_and_stops_when_closed() -> None:
    async def main() -> None:
        trimmer = HeapTrimmer(interval=0.02)
        trimmer.start()
        await asyncio.sleep(0.3)
        await trimmer.close()
        done = trimmer.trims
        assert done >= 3
        await asyncio.sleep(0.1)
        assert trimmer.trims == done  # closed: no task left behind
        assert [t for t in asyncio.all_tasks() if t.get_name() == "callctl-heap-trim"] == []

    asyncio.run(main())


def test_interval_zero_turns_it_off_and_a_negative_one_is_refused() -> None:
    settings = load_settings(env={"CALLCTL_MALLOC_TRIM_INTERVAL": "0"})
    assert settings.malloc_trim_interval == 0
    assert load_settings(env={}).malloc_trim_interval == 60.0

    async def main() -> None:
        off = HeapTrimmer(settings.malloc_trim_interval)
        off.start()
        await asyncio.sleep(0.05)
        assert (off.enabled, off.trims) == (False, 0)
        await off.close()

    asyncio.run(main())
    with pytest.raises(ValueError, match="malloc_trim_interval"):
        HeapTrimmer(-1)


def test_a_trim_that_raises_is_logged_and_the_task_ends_without_harm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def broken() -> int:
        calls.append(1)
        raise OSError("no heap")

    async def main() -> None:
        trimmer = HeapTrimmer(interval=0.01, trim=broken)
        trimmer.start()
        await asyncio.sleep(0.1)
        await trimmer.close()

    asyncio.run(main())
    assert calls == [1]  # tried once, then gave up
    assert "malloc_trim failed" in caplog.text


def test_glibc_malloc_trim_is_found_and_callable() -> None:
    trim = glibc_malloc_trim()
    assert trim is not None
    assert trim() in {0, 1}
