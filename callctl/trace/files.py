"""The file adapter of the trace readers: opens capture files and picks the reader.

A file starting with a pcap or pcapng magic number is read as packets (record by record,
never whole); anything else as a text capture (at most ``MAX_TEXT_BYTES``). A file that
cannot be opened is a problem like any other: the other files are still read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import tzinfo
from pathlib import Path

from callctl.trace.model import Captured, Item, Problem
from callctl.trace.packets import is_capture, read_packets
from callctl.trace.text import read_text

MAX_TEXT_BYTES = 64 << 20


def read_trace(path: str | Path, timezone: tzinfo) -> Iterator[Item]:
    """Every message and problem of one capture file; ``where`` names the file."""
    name = str(path)
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below, also when the reader stops early
    except OSError as exc:
        yield Problem(name, f"cannot be read: {exc.strerror}")
        return
    with handle:
        head = handle.read(4)
        handle.seek(0)
        if is_capture(head):
            items: Iterator[Item] = read_packets(handle)
        else:
            data = handle.read(MAX_TEXT_BYTES + 1)
            if len(data) > MAX_TEXT_BYTES:
                yield Problem(
                    name,
                    f"a text capture larger than {MAX_TEXT_BYTES} bytes: "
                    "give it as pcap, or split it",
                )
                return
            items = read_text(data, timezone)
        for item in items:
            where = f"{name}: {item.where}"
            if isinstance(item, Problem):
                yield Problem(where, item.what)
            else:
                yield Captured(item.at, item.data, where, item.transport, item.source,
                               item.destination)  # fmt: skip
