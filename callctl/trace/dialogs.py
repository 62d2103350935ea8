"""Captured SIP messages to calls: dialogs rebuilt by Call-ID and tags, times from the trace.

A call is the INVITE transaction that starts a dialog (an INVITE without a To tag) and
what follows it under the same Call-ID:

- **decided on**: the last initial INVITE (after a 401/407 digest challenge the caller sends
  it again with a higher CSeq: that one reaches callctl); the call starts at the first;
- **answered at** the first 2xx to that INVITE (its To tag fixes the dialog: a 2xx of another
  fork is flagged and ignored, as is every provisional response's early dialog);
- **ended at** the BYE of that dialog (from either side), or its 200 when the BYE itself is
  not in the capture; an unanswered call ends with its final response (a CANCEL makes it 487);
- **retransmissions** (same CSeq again) and **re-INVITEs** (INVITE with a To tag) change no
  time; they are counted and flagged;
- at the **end of the trace**, an answered call without BYE is ended there (billed up to the
  trace's last packet) and flagged ``missing_bye``; an INVITE without a final response is
  flagged ``no_final_response``; an INVITE whose last answer was a 401/407 never reached
  callctl (no authenticated attempt) and is not a call.

Pure: :class:`DialogBuilder` takes :class:`~callctl.trace.model.Captured` messages in
capture order and returns problems for the ones it cannot read; ``finish`` gives the calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from callctl.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    cseq,
    parse_message,
    parse_request,
    tag_of,
)
from callctl.trace.model import Captured, Problem

FLAGS = {
    "missing_bye": "answered, but no BYE in the trace: billed up to the trace's end",
    "no_final_response": "no final response to the INVITE in the trace",
    "retransmissions": "retransmitted messages in the trace (the first copy counts)",
    "forked": "provisional responses from several branches (forked)",
    "extra_answer": "a 2xx from another branch was ignored (the first 2xx made the call)",
    "reinvite": "re-INVITE within the call (no effect on its times)",
    "cancelled": "the caller cancelled the call",
    "stray_bye": "a BYE that matches no dialog of the call was ignored",
}
"""Flags a call can carry, with what each says (``docs/replay.md``)."""

CHALLENGES = frozenset({401, 407})


@dataclass(slots=True)
class Dialog:
    """One call as the trace shows it. Times are aware (UTC, as captured)."""

    call_id: str
    started_at: datetime  # the first INVITE
    invite_data: bytes  # the INVITE callctl decides on (the last initial one)
    invite_cseq: int
    invited_at: datetime  # when that INVITE was captured
    from_tag: str | None
    source: str | None = None  # where the INVITE came from ("ip:port"), if the capture says
    destination: str | None = None
    transport: str = "UDP"
    ringing_at: datetime | None = None  # the first provisional response other than 100
    final_status: int | None = None
    final_at: datetime | None = None
    answered_at: datetime | None = None
    to_tag: str | None = None
    cancelled_at: datetime | None = None
    ended_at: datetime | None = None
    ended_by: str | None = None  # BYE | 200 to BYE | final response | end of trace
    early_tags: set[str] = field(default_factory=set)
    flags: list[str] = field(default_factory=list)

    @property
    def invite(self) -> SipRequest:
        """The INVITE callctl decides on, parsed (it parsed when it was captured)."""
        return parse_request(self.invite_data)

    @property
    def answered(self) -> bool:
        return self.answered_at is not None

    @property
    def authenticated(self) -> bool:
        """False when the last answer to the INVITE was a digest challenge (401/407)."""
        return self.final_status not in CHALLENGES

    @property
    def dial_status(self) -> str:
        """The outcome in Asterisk's DIALSTATUS words (what the live hangup reports)."""
        status = self.final_status
        if self.answered:
            return "ANSWER"
        if self.cancelled_at is not None or status == 487:
            return "CANCEL"
        if status in (486, 600):
            return "BUSY"
        if status is None or status in (408, 480):
            return "NOANSWER"
        return "CONGESTION"

    def flag(self, name: str) -> None:
        if name not in self.flags:
            self.flags.append(name)


def _tag(value: str | None) -> str | None:
    return None if value is None else tag_of(value)


class DialogBuilder:
    """Feeds on captured messages (in capture order) and rebuilds the calls."""

    def __init__(self) -> None:
        self.dialogs: dict[str, Dialog] = {}
        self.last_at: datetime | None = None
        self.messages = 0

    def feed(self, captured: Captured) -> Problem | None:
        """Take one message; a :class:`Problem` when it is not a readable SIP message."""
        try:
            message = parse_message(captured.data)
            call_id = (message.header("Call-ID") or "").strip()
            number, method = cseq(message)
            from_tag = _tag(message.header("From"))
            to_tag = _tag(message.header("To"))
        except SipParseError as exc:
            return Problem(captured.where, f"not a SIP message: {exc}")
        self.messages += 1
        if self.last_at is None or captured.at > self.last_at:
            self.last_at = captured.at
        if isinstance(message, SipRequest):
            self._request(captured, message, call_id, number, from_tag=from_tag, to_tag=to_tag)
        else:
            self._response(
                captured, message, call_id, number, method=method, tags=(from_tag, to_tag)
            )
        return None

    def _request(
        self,
        captured: Captured,
        request: SipRequest,
        call_id: str,
        number: int,
        *,
        from_tag: str | None,
        to_tag: str | None,
    ) -> None:
        d = self.dialogs.get(call_id)
        at = captured.at
        if request.method == "INVITE" and to_tag is None:
            if d is None:
                self.dialogs[call_id] = Dialog(
                    call_id, at, captured.data, number, at, from_tag, captured.source,
                    captured.destination, captured.transport,
                )  # fmt: skip
            elif number > d.invite_cseq and not d.answered:  # a new attempt (after a challenge)
                d.invite_data, d.invite_cseq, d.invited_at = captured.data, number, at
                d.final_status = d.final_at = d.ended_at = d.ended_by = d.ringing_at = None
            else:
                d.flag("retransmissions")
            return
        if d is None:
            return  # in-dialog request of a call whose INVITE is not in the trace
        if request.method == "INVITE":
            d.flag("reinvite")
        elif request.method == "CANCEL" and not d.answered:
            if d.cancelled_at is None:
                d.cancelled_at = at
                d.flag("cancelled")
            else:
                d.flag("retransmissions")
        elif request.method == "BYE":
            if not d.answered or {from_tag, to_tag} != {d.from_tag, d.to_tag}:
                d.flag("stray_bye")
            elif d.ended_at is None:
                d.ended_at, d.ended_by = at, "BYE"
            elif d.ended_by == "BYE":
                d.flag("retransmissions")

    def _response(
        self,
        captured: Captured,
        response: SipResponse,
        call_id: str,
        number: int,
        *,
        method: str,
        tags: tuple[str | None, str | None],
    ) -> None:
        d = self.dialogs.get(call_id)
        to_tag = tags[1]
        if d is None:
            return  # a response to something else (REGISTER, OPTIONS …) or not in the trace
        at = captured.at
        status = response.status
        if method == "BYE" and 200 <= status < 300:
            if d.answered and d.ended_at is None and set(tags) == {d.from_tag, d.to_tag}:
                d.ended_at, d.ended_by = at, "200 to BYE"
            return
        if method != "INVITE" or number != d.invite_cseq:
            return  # a re-INVITE's, an older attempt's, a CANCEL's
        if status < 200:
            if status > 100 and d.ringing_at is None:
                d.ringing_at = at
            if status > 100 and to_tag:
                d.early_tags.add(to_tag)
                if len(d.early_tags) > 1:
                    d.flag("forked")
            return
        if status < 300:
            if not d.answered:
                d.answered_at, d.to_tag = at, to_tag
                d.final_status, d.final_at = status, at
                d.ended_at = d.ended_by = None
            elif to_tag != d.to_tag:
                d.flag("extra_answer")
            else:
                d.flag("retransmissions")
            return
        if d.answered:
            return
        if d.final_status is not None and d.final_status not in CHALLENGES:
            d.flag("retransmissions")
            return
        d.final_status, d.final_at = status, at
        if status not in CHALLENGES:
            d.ended_at, d.ended_by = at, "final response"

    def finish(self, trace_end: datetime | None = None) -> list[Dialog]:
        """Every call, in the order they started; unfinished ones closed at the trace's end.

        INVITEs whose last answer was a digest challenge are left out (never decided).
        """
        end = trace_end or self.last_at
        calls: list[Dialog] = []
        for d in self.dialogs.values():
            if not d.authenticated:
                continue
            if d.ended_at is None and end is not None:
                d.ended_at, d.ended_by = max(end, d.invited_at), "end of trace"
                d.flag("missing_bye" if d.answered else "no_final_response")
            calls.append(d)
        calls.sort(key=lambda d: d.started_at)
        return calls

    @property
    def unauthenticated(self) -> int:
        """INVITEs left at a digest challenge: they never reached callctl."""
        return sum(1 for d in self.dialogs.values() if not d.authenticated)


def rebuild(items: Iterable[Captured | Problem]) -> tuple[list[Dialog], list[Problem]]:
    """The calls of a capture's messages, and the problems met (readers' and parsing)."""
    builder = DialogBuilder()
    problems: list[Problem] = []
    for item in items:
        problem = item if isinstance(item, Problem) else builder.feed(item)
        if problem is not None:
            problems.append(problem)
    return builder.finish(), problems
