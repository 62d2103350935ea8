"""Offline replay: the calls of a trace through the same core code as the live controller.

Events run in trace time, as they would have live: each call is **decided** when its INVITE
was captured (the line's counters of that moment: a fair-use pause applies; the single-device
rule sees the licence's calls in progress) and **settled** when it ended (R6: the bundle is
drawn in the order calls end; ties: the end first, then the decision). Counters are kept per
line and period in memory, as the store keeps them live, and carry across every file of the
replay. The fraud guard's velocity limits see what the controller sees: the answered seconds
abroad of the line's calls that ended inside the window, and the limits granted to its
calls in progress. Decisions use :class:`callctl.sip.captured.CapturedDecider` (as
``callctl route``); records come from :mod:`callctl.core.settlement` (as the controller's hangup).

Pure apart from the shipped data the decider loads: dialogs in, records out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from callctl.core.fraud import LineActivity, seconds_in_window
from callctl.core.lines import Line
from callctl.core.policy import Decision, line_plan
from callctl.core.rating import Rater, Usage
from callctl.core.records import CallKey, CallRecord
from callctl.core.settlement import CallEnd, Settlement, base_record, refusal_record
from callctl.core.statement import Statement, build_statements, rated_of
from callctl.core.tariff import Plan, Tariff, TariffError
from callctl.sip.captured import CapturedCall, CapturedDecider
from callctl.sip.message import SipParseError
from callctl.trace.dialogs import Dialog
from callctl.trace.model import Problem

TRACE_HOST = "trace"
"""The host part of a replayed call's key (R10): its Call-ID is the call id."""

REPLAY_FLAGS = {
    "refused_now": "answered or routed in the trace, refused by callctl now",
    "routed_now": "refused in the trace (403, 484, 486 or 503), routed by callctl now",
}
"""Flags the replay adds to the trace's own (``callctl.trace.dialogs.FLAGS``)."""

REFUSAL_CODES = frozenset({403, 484, 486, 503})


@dataclass(frozen=True, slots=True)
class ReplayedCall:
    """One call of the trace: what callctl decides, and the record it writes."""

    dialog: Dialog
    call: CapturedCall
    decision: Decision
    record: CallRecord
    flags: tuple[str, ...]


@dataclass
class ReplayResult:
    calls: list[ReplayedCall] = field(default_factory=list)  # in the order they started
    usage: dict[tuple[str, str], Usage] = field(default_factory=dict)  # (line, period)
    problems: list[Problem] = field(default_factory=list)


def duration(start: datetime, end: datetime) -> Decimal:
    """Seconds from ``start`` to ``end``, exactly (microseconds), never negative."""
    delta = end - start
    seconds = Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 10**6
    return max(seconds, Decimal(0))


def override_product(
    lines: Iterable[Line], product: str | None, options: Sequence[str] = ()
) -> list[Line]:
    """The lines with another product (and these options instead of theirs), to check a
    tariff change; unchanged when ``product`` is None."""
    if product is None:
        return list(lines)
    return [replace(line, product=product, options=tuple(options)) for line in lines]


class OfflineReplay:
    """Decides and rates a trace's calls for a set of lines and a tariff."""

    def __init__(
        self,
        lines: Iterable[Line],
        tariff: Tariff,
        *,
        caller_map: Callable[[str | None], str | None] | None = None,
    ) -> None:
        self.tariff = tariff
        self.decider = CapturedDecider(lines, tariff)
        self.rater = Rater(tariff)
        self.caller_map = caller_map
        self._default_plan = tariff.plan(next(iter(tariff.products)))
        self._usage: dict[tuple[str, str], Usage] = {}
        self._abroad_calls: dict[str, list[tuple[datetime, datetime]]] = {}

    def run(
        self, dialogs: Sequence[Dialog], progress: Callable[[int], None] | None = None
    ) -> ReplayResult:
        """Every call of ``dialogs`` decided and settled in trace time."""
        result = ReplayResult()
        self._usage = result.usage
        self._abroad_calls = {}
        events: list[tuple[datetime, int, int]] = []  # (time, 0 end / 1 decide, index)
        for index, d in enumerate(dialogs):
            events.append((d.invited_at, 1, index))
            events.append((d.ended_at or d.invited_at, 0, index))
        events.sort()
        decided: dict[int, tuple[CapturedCall, Decision]] = {}
        records: dict[int, ReplayedCall] = {}
        active: dict[int, CapturedCall] = {}
        for at, kind, index in events:
            d = dialogs[index]
            if kind == 1:
                outcome = self._decide(d, at, active, decided)
                if isinstance(outcome, Problem):
                    result.problems.append(outcome)
                    continue
                call, decision = outcome
                if decision.routed:
                    decided[index] = outcome
                    active[index] = call
                else:
                    record = self._refused(d, call, decision, at)
                    records[index] = self._replayed(d, call, decision, record)
            elif index in decided:
                call, decision = decided.pop(index)
                active.pop(index, None)
                record = self._settle(d, call, decision)
                records[index] = self._replayed(d, call, decision, record)
            if progress is not None and kind == 0:
                progress(1)
        result.calls = [records[i] for i in sorted(records)]
        return result

    def _decide(
        self,
        d: Dialog,
        at: datetime,
        active: dict[int, CapturedCall],
        decided: dict[int, tuple[CapturedCall, Decision]],
    ) -> tuple[CapturedCall, Decision] | Problem:
        try:
            request = d.invite
            call = self.decider.read(request)
        except SipParseError as exc:
            return Problem(f"call {d.call_id}", f"the INVITE cannot be read: {exc}")
        if self.caller_map is not None:
            caller = self.caller_map(call.caller)
            line = self.decider.find(caller)
            call = replace(call, caller=caller, line=line)
        usage = Usage(self.rater.period_of(at))
        if call.line is not None:
            usage = self._usage.get((call.line.number, usage.period), usage)
        busy = call.device is not None and any(
            other.caller == call.caller and other.device not in (None, call.device)
            for other in active.values()
        )
        abroad = self._abroad(call, at, decided.values())
        return call, self.decider.decide(call, request, usage, device_busy=busy, abroad=abroad)

    def _abroad(
        self, call: CapturedCall, at: datetime, decided: Iterable[tuple[CapturedCall, Decision]]
    ) -> LineActivity | None:
        """What the line is doing abroad at ``at`` (as ``Controller._abroad`` reads it live)."""
        rules = self.tariff.fraud.velocity
        if call.line is None or call.classification.group not in rules.groups:
            return None
        number = call.line.number
        granted = [
            decision.limit_seconds
            for other, decision in decided
            if other.line is not None and other.line.number == number
            and decision.classification.group in rules.groups
            and decision.limit_seconds is not None
        ]  # fmt: skip
        finished = self._abroad_calls.get(number, [])
        return LineActivity(
            finished_seconds=seconds_in_window(finished, at, rules.window_seconds),
            reserved_seconds=sum(granted),
            in_progress=len(granted),
        )

    def _line_number(self, call: CapturedCall) -> str:
        return call.line.number if call.line is not None else (call.caller or "")

    def _refused(
        self, d: Dialog, call: CapturedCall, decision: Decision, at: datetime
    ) -> CallRecord:
        key = CallKey(TRACE_HOST, d.call_id)
        line = self._line_number(call)
        return refusal_record(
            key, line, call.dialled, decision, at, period=self.rater.period_of(at)
        )

    def _settle(self, d: Dialog, call: CapturedCall, decision: Decision) -> CallRecord:
        key = CallKey(TRACE_HOST, d.call_id)
        line = self._line_number(call)
        answered = d.answered_at
        end = CallEnd(
            answered_at=answered,
            duration=duration(answered, d.ended_at or answered) if answered else Decimal(0),
            dial_status=d.dial_status,
            hangup_cause=None,
        )
        record = base_record(key, line, call.dialled, decision, d.invited_at)
        settlement = Settlement(record, decision.classification, end, self._plan(call), self.rater)
        period = settlement.period
        book = self._usage
        record, book[(line, period)] = settlement(book.get((line, period), Usage(period)))
        if (
            record.answered_at is not None and record.ended_at is not None
            and record.group in self.tariff.fraud.velocity.groups
        ):  # fmt: skip
            self._abroad_calls.setdefault(line, []).append((record.answered_at, record.ended_at))
        return record

    def _plan(self, call: CapturedCall) -> Plan:
        """The line's plan; a call without a usable line is free anyway (emergency, helpline)."""
        if call.line is None:
            return self._default_plan
        try:
            return line_plan(call.line, self.tariff)
        except TariffError:
            return self._default_plan

    def _replayed(
        self, d: Dialog, call: CapturedCall, decision: Decision, record: CallRecord
    ) -> ReplayedCall:
        flags = list(d.flags)
        refused_then = not d.answered and d.final_status in REFUSAL_CODES
        if decision.routed == refused_then:
            flags.append("routed_now" if decision.routed else "refused_now")
        return ReplayedCall(d, call, decision, replace(record, source="replay"), tuple(flags))

    def statements(self, result: ReplayResult) -> list[tuple[str, Statement]]:
        """R8 statements per line and period (lines callctl knows), from the records."""
        by_line: dict[str, list[CallRecord]] = {}
        lines: dict[str, Line] = {}
        for replayed in result.calls:
            if replayed.call.line is None:
                continue
            by_line.setdefault(replayed.record.line, []).append(replayed.record)
            lines[replayed.record.line] = replayed.call.line
        out: list[tuple[str, Statement]] = []
        for number in sorted(by_line):
            try:
                plan = line_plan(lines[number], self.tariff)
            except TariffError:
                continue
            usage = {p: u for (n, p), u in result.usage.items() if n == number}
            rated = [rated_of(r) for r in by_line[number]]
            out.extend((number, s) for s in build_statements(rated, usage, plan, self.tariff))
        return out
