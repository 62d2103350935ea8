"""Live replay: a trace's calls played through the test PBX, compared with the offline answer.

**Mapping.** The PBX authenticates its own lab lines (``dialplan/lab-lines.yaml``), so each
line of the trace is played by a lab line of the **same product**: the one with the same
options and pause state if there is one, else the first of that product; a Phone2Go licence
by the lab line's licence of the same rank. A call whose line has no lab line of its product
(or an unknown caller) is not played, and said so. The INVITE keeps its headers and body
(P-Asserted-Identity names the lab line; SIPp writes the dialog's own headers) and is sent
from the trace's source address when that is a loopback one (an off-site desktop call comes
from 127.0.9.1), else from 127.0.0.1.

**Timing.** Calls start at their trace times, the gaps divided by ``speed``; an answered call
is held for its recorded duration (up to the trace's end when its BYE is missing); a
cancelled one is cancelled after its recorded delay, the far ends then ringing a little
longer than the longest such delay before answering; a refused call expects the offline
answer's code. ``callctl serve`` runs with a test clock at the first call's trace time, so
peak and off-peak are those of the trace.

**Comparison.** The offline answer is computed for the mapped calls (same lab lines), and
each live record is compared with it field by field: decision, group, target, SIP code,
disposition, period, location, reason, billed seconds (within one second: the PBX measures
its own answer and hang-up times) and, when the billed seconds agree, every rated figure.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from ipaddress import ip_address
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from callctl.cli import render
from callctl.cli.rate_report import emit_json
from callctl.core.lines import Line
from callctl.core.records import CallRecord
from callctl.core.tariff import Tariff
from callctl.pbx.session import Placement, lab_lines, lab_session
from callctl.pbx.sipp import SippResult, UacCall
from callctl.replay.offline import OfflineReplay, ReplayedCall, duration
from callctl.sip.captured import CapturedDecider
from callctl.sip.message import SipRequest
from callctl.trace.dialogs import Dialog

EXIT_DIFFERENCES = 3
RING_MARGIN_MS = 1500
RECORD_WAIT_SECONDS = 10
COMPARED = ("action", "group", "target", "sip_code", "disposition", "period", "reason",
            "location_source", "location_trusted", "location_province")  # fmt: skip
RATED = ("peak_seconds", "offpeak_seconds", "bundle_seconds", "fair_use_seconds",
         "charged_seconds", "setup_fee", "per_call_fee", "amount")  # fmt: skip


def lab_call(request: SipRequest, number: str, **outcome: Any) -> UacCall:
    """The call a captured INVITE makes when a lab line places it (its P-Asserted-Identity,
    if it has one, names that line)."""
    call = UacCall.from_request(request, **outcome)
    headers = {
        name: f"<sip:{number}@127.0.0.1>" if name.lower() == "p-asserted-identity" else value
        for name, value in call.headers.items()
    }
    return replace(call, headers=headers)


def map_lines(trace_lines: Sequence[Line], lab: Sequence[Line]) -> dict[str, str]:
    """Each trace line's number, and its licences', to the lab number that plays it."""
    mapping: dict[str, str] = {}
    for line in trace_lines:
        same = [x for x in lab if x.product == line.product]
        if not same:
            continue
        best = next(
            (x for x in same if x.options == line.options and x.paused == line.paused),
            next((x for x in same if x.paused == line.paused), same[0]),
        )
        mapping[line.number] = best.number
        for rank, licence in enumerate(line.licences):
            if best.licences:
                mapping[licence] = best.licences[min(rank, len(best.licences) - 1)]
    return mapping


@dataclass(frozen=True, slots=True)
class Planned:
    """A trace call to play: where it stands in the offline answer, and how to place it."""

    replayed: ReplayedCall
    placement: Placement


def _local_ip(source: str | None) -> str:
    host = (source or "").rpartition(":")[0].strip("[]")
    try:
        return host if ip_address(host).is_loopback and ":" not in host else "127.0.0.1"
    except ValueError:
        return "127.0.0.1"


def _ms(seconds: Decimal) -> int:
    return int(seconds * 1000)


def plan_calls(
    answer: Sequence[ReplayedCall], first: Dialog, speed: float
) -> tuple[list[Planned], list[str]]:
    """How to place each call of the offline answer; notes for those that cannot be."""
    planned: list[Planned] = []
    notes: list[str] = []
    for r in answer:
        d = r.dialog
        offset = float(duration(first.invited_at, d.invited_at)) / speed
        number = r.call.caller
        if r.call.line is None or number is None:
            notes.append(f"{d.call_id}: caller {r.call.caller} has no lab line: not played")
            continue
        if not r.decision.routed:
            outcome: dict[str, Any] = {"expect": r.decision.sip_code}
        elif d.answered_at is not None:
            outcome = {"hold_ms": _ms(duration(d.answered_at, d.ended_at or d.answered_at))}
        elif d.cancelled_at is not None:
            since = d.ringing_at or d.invited_at
            outcome = {
                "cancel_after_ms": max(_ms(duration(since, d.cancelled_at)), 1),
                "ringing": d.ringing_at is not None,
            }
        else:
            notes.append(f"{d.call_id}: the far end's answer ({d.final_status}) cannot be "
                         "played by the lab's far ends: not played")  # fmt: skip
            continue
        call = lab_call(d.invite, number, **outcome)
        planned.append(Planned(r, Placement(offset, number, call, _local_ip(d.source))))
    return planned, notes


def _same(field: str, offline: object, live: object) -> bool:
    if field == "billsec":
        return abs(int(str(offline)) - int(str(live))) <= 1
    return offline == live


def differences(offline: CallRecord, live: CallRecord | None) -> list[dict[str, Any]]:
    """Fields where the live record differs from the offline one (none: no live record)."""
    if live is None:
        return [{"field": "record", "offline": "written", "live": None}]
    fields = [*COMPARED, "billsec"]
    if offline.billsec == live.billsec:
        fields += RATED
    out = []
    for name in fields:
        a, b = getattr(offline, name), getattr(live, name)
        if not _same(name, a, b):
            out.append({"field": name, "offline": _shown(a), "live": _shown(b)})
    return out


def _shown(value: object) -> object:
    return render.money4(value) if isinstance(value, Decimal) else value


def match_records(
    planned: Sequence[Planned], records: Sequence[CallRecord]
) -> list[CallRecord | None]:
    """The live record of each planned call: same line and dialled number, in call order."""
    pool: dict[tuple[str, str], list[CallRecord]] = {}
    for record in sorted(records, key=lambda r: r.decided_at):
        pool.setdefault((record.line, record.dialled), []).append(record)
    result: list[CallRecord | None] = [None] * len(planned)
    for index in sorted(range(len(planned)), key=lambda i: planned[i].placement.offset):
        r = planned[index].replayed.record
        found = pool.get((r.line, r.dialled))
        result[index] = found.pop(0) if found else None
    return result


def run_live(
    dialogs: Sequence[Dialog],
    lines: Sequence[Line],
    tariff: Tariff,
    *,
    speed: float,
    as_json: bool,
    out: TextIO,
) -> int:
    """Play the calls through the test PBX; 0 when every live record is the offline one,
    ``EXIT_DIFFERENCES`` when any differs (listed on ``out``)."""
    if not dialogs:
        out.write("no calls\n")
        return 0
    lab = lab_lines(tariff)
    mapping = map_lines(lines, lab)
    trace_decider = CapturedDecider(lines, tariff)

    def to_lab(caller: str | None) -> str | None:
        line = trace_decider.find(caller)
        if line is None or caller is None:
            return None
        wanted = "+" + caller.lstrip("+")
        return mapping.get(wanted if wanted in line.licences else line.number)

    answer = OfflineReplay(lab, tariff, caller_map=to_lab).run(dialogs)
    planned, notes = plan_calls(answer.calls, dialogs[0], speed)
    trunks = {p.replayed.record.target for p in planned if p.replayed.record.target}
    cancels = [p.placement.call.cancel_after_ms or 0 for p in planned]
    ring_ms = max(cancels) + RING_MARGIN_MS if any(cancels) else None
    clock = dialogs[0].invited_at.astimezone(ZoneInfo(tariff.timezone)).isoformat()
    with tempfile.TemporaryDirectory(prefix="callctl-replay-") as tmp:
        results, records = _play(
            tariff, Path(tmp), planned, clock=clock, trunks=trunks, ring_ms=ring_ms
        )
    live = match_records(planned, records)
    found = 0
    for p, result, record in zip(planned, results, live, strict=True):
        diffs = differences(p.replayed.record, record)
        if result.returncode != 0:
            sipp = f"SIPp exit {result.returncode}: {result.stderr.strip()[-200:]}"
            diffs.append({"field": "sip", "offline": "as expected", "live": sipp})
        found += bool(diffs)
        _write(out, p, diffs, as_json=as_json)
    for note in notes:
        if as_json:
            emit_json(out, {"note": note})
        else:
            out.write(f"{note}\n")
    summary = f"{len(planned)} calls replayed live, {found} with differences"
    if as_json:
        emit_json(out, {"summary": True, "played": len(planned), "differing": found,
                        "not_played": len(notes)})  # fmt: skip
    else:
        out.write(summary + "\n")
    return EXIT_DIFFERENCES if found else 0


def _play(
    tariff: Tariff,
    work: Path,
    planned: Sequence[Planned],
    *,
    clock: str,
    trunks: set[str],
    ring_ms: int | None,
) -> tuple[list[SippResult], list[CallRecord]]:
    """Place the calls in a lab session; the SIPp results and every record callctl wrote."""
    with lab_session(
        tariff, work, clock=clock, trunks=trunks or {"carrier"}, ring_ms=ring_ms
    ) as session:
        results = session.place([p.placement for p in planned])
        deadline = time.monotonic() + RECORD_WAIT_SECONDS
        records = session.records()
        while len(records) < len(planned) and time.monotonic() < deadline:
            time.sleep(0.2)  # refusal records are written in batches
            records = session.records()
    return results, records


def _write(out: TextIO, p: Planned, diffs: list[dict[str, Any]], *, as_json: bool) -> None:
    r = p.replayed.record
    if as_json:
        emit_json(out, {"call_id": p.replayed.dialog.call_id, "line": r.line,
                        "dialled": r.dialled, "differences": diffs})  # fmt: skip
        return
    status = "same" if not diffs else "DIFFERS"
    out.write(f"{p.replayed.dialog.call_id}  {r.line} -> {r.dialled}: {status}\n")
    for d in diffs:
        out.write(f"    {d['field']}: offline {d['offline']!r}, live {d['live']!r}\n")
