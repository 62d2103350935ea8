"""Offline replay benchmark: ``callctl replay --offline`` on a generated capture of many calls.

Run from the repository root, pinned to one core::

    taskset -c 0 .venv/bin/python benchmarks/bench_replay.py            # 100 000 calls
    taskset -c 0 .venv/bin/python benchmarks/bench_replay.py --quick    # 300 calls, a smoke run
    .venv/bin/python benchmarks/bench_replay.py --calls 20000 --json    # machine-readable

The generator writes a pcap of UDP SIP dialogs between the lab lines and the PBX
(``dialplan/lab-lines.yaml``): per call an INVITE with an SDP offer, 100 Trying, 200 OK, ACK,
BYE and its 200 — six packets — one call starting every two seconds (so a few dozen are in
progress at once and the calls cross peak and off-peak), each lasting 1–300 s, dialling
every destination group in turn (``random.Random(seed)``: the same capture every time).

Timed (``time.perf_counter``, garbage collector on): reading the capture with dpkt,
rebuilding the dialogs, deciding and rating every call with the live code, and the
statements per line and period — what ``callctl replay --offline --json`` does, less the
JSON printing. Memory: the process's max RSS (``resource.getrusage``) after the replay, and
that before it (the interpreter and the loaded modules).
"""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import platform
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callctl.data import default_tariff
from callctl.pbx.session import lab_lines
from callctl.replay.offline import OfflineReplay
from callctl.trace.dialogs import DialogBuilder
from callctl.trace.files import read_trace
from callctl.trace.model import Problem
from callctl.trace.synth import Flow, Frame, udp_frame, write_capture

START = datetime.fromisoformat("2026-11-02T07:00:00+01:00")  # a Monday morning
CALLERS = ("3222000001", "3222000002", "3292000003", "3242000014", "3242000024")
DIALLED = ("022345678", "0470123456", "+33142685300", "+212612345678", "+81312345678",
           "080012345", "1813", "070123456", "090312345", "112")  # fmt: skip
SDP = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
TARGET_CALLS_PER_SECOND = 1_000


def _message(start: str, call: int, caller: str, dialled: str, cseq: str, **opt: str) -> bytes:
    to_tag = f";tag={opt['to_tag']}" if "to_tag" in opt else ""
    body = opt.get("body", "")
    branch = f"z9hG4bK-{call}-{cseq.partition(' ')[0]}"
    head = (
        f"{start}\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch={branch}\r\n"
        f"From: <sip:{caller}@127.0.0.1>;tag=f{call}\r\nTo: <sip:{dialled}@127.0.0.1>{to_tag}\r\n"
        f"Call-ID: bench-{call}@127.0.0.1\r\nCSeq: {cseq}\r\n"
        f"Contact: <sip:{caller}@127.0.0.1:5070>\r\n"
    )
    if body:
        head += "Content-Type: application/sdp\r\n"
    return (head + f"Content-Length: {len(body)}\r\n\r\n{body}").encode()


def call_frames(index: int, rng: random.Random) -> Iterator[Frame]:
    """The six packets of one generated call, in time order."""
    caller = CALLERS[index % len(CALLERS)]
    dialled = DIALLED[(index // len(CALLERS)) % len(DIALLED)]
    t0 = (START + timedelta(seconds=2 * index)).timestamp() + rng.random()
    held = rng.uniform(1, 300)
    up = Flow("127.0.0.1", 5070, "127.0.0.1", 5060)
    down = Flow("127.0.0.1", 5060, "127.0.0.1", 5070)
    invite = f"INVITE sip:{dialled}@127.0.0.1:5060 SIP/2.0"
    bye = f"BYE sip:{dialled}@127.0.0.1:5060 SIP/2.0"
    ack = f"ACK sip:{dialled}@127.0.0.1:5060 SIP/2.0"
    steps = [
        (0.0, up, _message(invite, index, caller, dialled, "1 INVITE", body=SDP)),
        (0.01, down, _message("SIP/2.0 100 Trying", index, caller, dialled, "1 INVITE")),
        (0.5, down, _message("SIP/2.0 200 OK", index, caller, dialled, "1 INVITE", to_tag="t",
                             body=SDP)),
        (0.51, up, _message(ack, index, caller, dialled, "1 ACK", to_tag="t")),
        (0.5 + held, up, _message(bye, index, caller, dialled, "2 BYE", to_tag="t")),
        (0.51 + held, down, _message("SIP/2.0 200 OK", index, caller, dialled, "2 BYE",
                                     to_tag="t")),
    ]  # fmt: skip
    for offset, flow, payload in steps:
        yield t0 + offset, udp_frame(flow, payload)


def generated_frames(calls: int, seed: int) -> Iterator[Frame]:
    """Every packet of the capture in time order, holding only the calls in progress."""
    rng = random.Random(seed)
    pending: list[Frame] = []
    for index in range(calls):
        for frame in call_frames(index, rng):
            heapq.heappush(pending, frame)
        starts = (START + timedelta(seconds=2 * index)).timestamp()  # later calls start after
        while pending and pending[0][0] < starts:
            yield heapq.heappop(pending)
    while pending:
        yield heapq.heappop(pending)


def generate_capture(path: Path, calls: int, seed: int) -> int:
    """Write the capture of ``calls`` calls; how many packets (in time order)."""
    with path.open("wb") as handle:
        return write_capture(handle, generated_frames(calls, seed))


def max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def replay(path: Path) -> dict[str, Any]:
    """The offline replay of the capture, timed by stage."""
    tariff = default_tariff()
    tz = ZoneInfo(tariff.timezone)
    started = time.perf_counter()
    builder = DialogBuilder()
    problems = 0
    for item in read_trace(path, tz):
        if isinstance(item, Problem) or builder.feed(item) is not None:
            problems += 1
    dialogs = builder.finish()
    read_done = time.perf_counter()
    engine = OfflineReplay(lab_lines(tariff), tariff)
    result = engine.run(dialogs)
    statements = engine.statements(result)
    done = time.perf_counter()
    return {
        "calls": len(result.calls),
        "messages": builder.messages,
        "problems": problems + len(result.problems),
        "statements": len(statements),
        "seconds_read": read_done - started,
        "seconds_replay": done - read_done,
        "seconds_total": done - started,
        "calls_per_second": len(result.calls) / (done - started),
        "amount_total": str(sum(c.record.amount for c in result.calls)),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="300 calls, a smoke run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--calls", type=int, help="calls in the capture (default 100 000)")
    parser.add_argument("--seed", type=int, default=20261102, help="generator seed")
    args = parser.parse_args(argv)
    calls = args.calls or (300 if args.quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="callctl-bench-replay-") as tmp:
        path = Path(tmp) / "calls.pcap"
        t0 = time.perf_counter()
        packets = generate_capture(path, calls, args.seed)
        generated = time.perf_counter() - t0
        size = path.stat().st_size
        gc.collect()
        rss_before = max_rss_bytes()
        figures = replay(path)
        rss_after = max_rss_bytes()
    rate = figures["calls_per_second"]
    status = "PASS" if rate >= TARGET_CALLS_PER_SECOND else "BELOW"
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "python": platform.python_version(),
        "capture": {
            "calls": calls,
            "packets": packets,
            "bytes": size,
            "seconds_to_generate": generated,
        },
        "figures": {
            **figures,
            "target": TARGET_CALLS_PER_SECOND,
            "status": status,
        },
        "memory": {"max_rss_before_bytes": rss_before, "max_rss_end_bytes": rss_after},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    mib = 1 << 20
    print(f"capture: {calls:,} calls, {packets:,} packets, {size / mib:.1f} MiB "
          f"(generated in {generated:.1f} s)")  # fmt: skip
    print(f"offline replay: {figures['seconds_total']:.1f} s (read and dialogs "
          f"{figures['seconds_read']:.1f} s, decide and rate {figures['seconds_replay']:.1f} s)"
          f" = {rate:,.0f} calls/s (target {TARGET_CALLS_PER_SECOND:,}: {status})")  # fmt: skip
    print(f"max RSS: {rss_before / mib:.0f} MiB before, {rss_after / mib:.0f} MiB after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
