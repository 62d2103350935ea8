"""``callctl replay``: captured SIP traffic turned into what callctl decides and charges.

``--offline`` prints, for every call of the traces, the decision and the rated record (in the
order the calls started), then an R8 statement per line and period; ``--live`` plays the
calls through the test PBX and lists where what callctl recorded differs from the offline
answer. Bad packets are reported on stderr and skipped; the good calls are still replayed
(exit 1 tells that some input was skipped). See docs/replay.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Console
from rich.progress import Progress

from callctl.cli import render
from callctl.cli.lines_cmd import EXIT_DATA
from callctl.cli.rate_report import add_option_argument, emit_json
from callctl.cli.route_cmd import decision_json
from callctl.core.lines import Line
from callctl.core.tariff import Tariff
from callctl.data import default_tariff, read_tariff
from callctl.replay.live import run_live
from callctl.replay.offline import OfflineReplay, ReplayedCall, ReplayResult, override_product
from callctl.service.jsonview import record_json
from callctl.store.lines_yaml import LinesFileError, parse_lines_yaml
from callctl.trace.dialogs import Dialog, DialogBuilder
from callctl.trace.files import read_trace
from callctl.trace.model import Problem

EXIT_USAGE = 2
MAX_PROBLEMS_SHOWN = 50


def add_replay_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "replay", help="what callctl decides and charges for captured SIP traffic (pcap, text)"
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--offline", action="store_true", help="decide and rate the calls here")
    mode.add_argument("--live", action="store_true", help="play them through the test PBX")
    p.add_argument("traces", nargs="+", metavar="TRACE", help="pcap, pcapng or text capture")
    p.add_argument("--lines", required=True, metavar="LINES.yaml", help="the traces' lines")
    p.add_argument("--product", help="use this product for every line (a tariff check)")
    add_option_argument(p, "with --product: an option of it (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per call, then summaries")
    p.add_argument(
        "--pbx",
        metavar="IP[:PORT]",
        help="only INVITEs sent to this address are calls (the access side)",
    )
    p.add_argument(
        "--text-timezone",
        default=None,
        metavar="ZONE",
        help="zone of text captures' times without offset (default: tariff's)",
    )
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="--live: play the gaps between calls this many times faster",
    )
    p.set_defaults(func=cmd_replay)


class _Progress:
    """A rich progress bar on stderr, or nothing (``--json``, or stderr not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    @contextmanager
    def task(self, what: str, total: int | None) -> Iterator[Callable[[int], None]]:
        if not self.enabled:
            yield lambda step: None
            return
        with Progress(console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(what, total=total)
            yield lambda step: bar.advance(task, step)


def _matches(d: Dialog, pbx: str | None) -> bool:
    if pbx is None or d.destination is None:
        return True
    host = d.destination.rpartition(":")[0]
    return pbx in (d.destination, host, host.strip("[]"))


def load_dialogs(
    traces: Sequence[str], timezone: ZoneInfo, pbx: str | None, progress: _Progress
) -> tuple[list[Dialog], list[Problem], int]:
    """The calls of every trace (one dialog builder: a call may span rotated files), the
    problems met, and how many INVITEs stopped at a digest challenge."""
    builder = DialogBuilder()
    problems: list[Problem] = []
    with progress.task("reading", None) as advance:
        for trace in traces:
            for item in read_trace(trace, timezone):
                problem = item if isinstance(item, Problem) else builder.feed(item)
                if problem is not None:
                    problems.append(problem)
                advance(1)
    dialogs = [d for d in builder.finish() if _matches(d, pbx)]
    return dialogs, problems, builder.unauthenticated


def report_problems(problems: Sequence[Problem], err: TextIO) -> None:
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        err.write(f"callctl: {problem}\n")
    if len(problems) > MAX_PROBLEMS_SHOWN:
        err.write(f"callctl: … and {len(problems) - MAX_PROBLEMS_SHOWN} more problems\n")


def call_json(replayed: ReplayedCall, tz: ZoneInfo) -> dict[str, Any]:
    """One replayed call: the decision (as ``callctl route``), the times and the record."""
    d, call, r = replayed.dialog, replayed.call, replayed.record

    def local(value: datetime | None) -> str | None:
        return None if value is None else value.astimezone(tz).isoformat()

    return {
        "call_id": d.call_id,
        **decision_json(replayed.decision, call.dialled, call.caller, call.line),
        "line": r.line,
        "started_at": local(d.started_at),
        "answered_at": local(d.answered_at),
        "ended_at": local(d.ended_at),
        "ended_by": d.ended_by,
        "trace_status": d.final_status,
        "billsec": r.billsec,
        "disposition": r.disposition,
        "amount": render.money4(r.amount),
        "flags": list(replayed.flags),
        "record": record_json(r),
    }


def calls_table(calls: Sequence[ReplayedCall], tz: ZoneInfo) -> str:
    header = ("started", "line", "dialled", "group", "decision", "location", "sec", "amount",
              "flags")  # fmt: skip
    rows = []
    for c in calls:
        r = c.record
        decision = r.target if r.action == "route" else f"refused {r.sip_code}"
        where = "-"
        if r.location_province:
            trust = "trusted" if r.location_trusted else "untrusted"
            where = f"{r.location_province} ({trust})"
        rows.append([
            c.dialog.started_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), r.line or "?",
            r.dialled, r.group, decision or "-", where, str(r.billsec), render.money4(r.amount),
            ",".join(c.flags),
        ])  # fmt: skip
    return render.table(rows, header)


def write_offline(
    replay: OfflineReplay, result: ReplayResult, tz: ZoneInfo, *, as_json: bool, out: TextIO
) -> None:
    statements = replay.statements(result)
    currency = replay.tariff.currency
    if as_json:
        for call in result.calls:
            emit_json(out, call_json(call, tz))
        for number, s in statements:
            emit_json(out, {"line": number, **render.statement_json(s, currency)})
        return
    if not result.calls:
        out.write("no calls\n")
        return
    out.write(calls_table(result.calls, tz) + "\n\n")
    out.write("\n\n".join(f"Line {n}\n" + render.statement_text(s, currency)
                          for n, s in statements))  # fmt: skip
    out.write("\n")


def load_lines(path: str, tariff: Tariff, product: str | None, options: list[str]) -> list[Line]:
    """The lines file, with ``--product`` applied (its plan is checked: a bad one is a usage
    error, raised as TariffError)."""
    lines = parse_lines_yaml(Path(path).read_text("utf-8"), tariff)
    if product is not None:
        tariff.plan(product, options)
    return override_product(lines, product, options)


def cmd_replay(args: argparse.Namespace, out: TextIO) -> int:
    tariff = default_tariff() if args.tariff is None else read_tariff(args.tariff)
    try:
        tz = ZoneInfo(args.text_timezone or tariff.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        print(f"callctl: --text-timezone: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:  # a --product the tariff does not have is a TariffError: a usage error (exit 2)
        lines = load_lines(args.lines, tariff, args.product, args.option)
    except (OSError, LinesFileError) as exc:
        print(f"callctl: {args.lines}: {exc}", file=sys.stderr)
        return EXIT_DATA
    progress = _Progress(enabled=not args.json and sys.stderr.isatty())
    dialogs, problems, _ = load_dialogs(args.traces, tz, args.pbx, progress)
    if args.live:
        code = run_live(dialogs, lines, tariff, speed=args.speed, as_json=args.json, out=out)
        report_problems(problems, sys.stderr)
        return code or (EXIT_DATA if problems else 0)
    replay = OfflineReplay(lines, tariff)
    with progress.task("replaying", len(dialogs)) as advance:
        result = replay.run(dialogs, advance)
    problems += result.problems
    write_offline(replay, result, ZoneInfo(tariff.timezone), as_json=args.json, out=out)
    report_problems(problems, sys.stderr)
    return EXIT_DATA if problems else 0
