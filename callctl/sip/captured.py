"""The decision for a captured INVITE, as the live controller would take it (R1, R2, R5, R7, R9).

Shared by ``callctl route`` (one INVITE file) and ``callctl replay`` (every call of a trace):
the calling line is the P-Asserted-Identity user (else From), the dialled number the
Request-URI user, percent-decoded; emergency calls get the R9 location verdict from the
request's headers and body. The decision itself is the core's (:func:`callctl.core.policy.decide`),
with the usage counters and the single-device state the caller passes in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from callctl.core.classify import Classification, Classifier
from callctl.core.emergency import EmergencyPlan
from callctl.core.fraud import LineActivity
from callctl.core.geo import ProvinceMap
from callctl.core.lines import Line
from callctl.core.location import assess_location
from callctl.core.policy import Decision, decide
from callctl.core.rating import Usage
from callctl.core.tariff import Tariff
from callctl.data import default_emergency_plan
from callctl.data.geo import default_provinces
from callctl.sip.context import device_context
from callctl.sip.message import SipParseError, SipRequest, device_id, line_user, request_uri_user


@dataclass(frozen=True, slots=True)
class CapturedCall:
    """Who calls what, read from a captured INVITE."""

    dialled: str  # the Request-URI user, percent-decoded ('' when it has none)
    caller: str | None  # P-Asserted-Identity user, else From user
    line: Line | None  # the line (or Phone2Go line of the licence) the caller presents
    classification: Classification
    device: str | None  # Contact's +sip.instance, else X-Device-Id (R9)


def find_line(lines: Iterable[Line], user: str | None, classifier: Classifier) -> Line | None:
    """The line (or the Phone2Go line of a licence) whose number the caller presents."""
    if not user:
        return None
    wanted = {user, "+" + user.lstrip("+")}
    e164 = classifier(user).e164
    if e164:
        wanted.add(e164)
    for line in lines:
        if line.number in wanted or wanted & set(line.licences):
            return line
    return None


class CapturedDecider:
    """Reads captured INVITEs and decides them with the core, for a set of lines."""

    def __init__(
        self,
        lines: Iterable[Line],
        tariff: Tariff,
        emergency: EmergencyPlan | None = None,
        provinces: ProvinceMap | None = None,
    ) -> None:
        self.lines = list(lines)
        self.tariff = tariff
        self.classifier = Classifier(tariff.numbering)
        self.emergency = emergency or default_emergency_plan()
        self.provinces = provinces or default_provinces()

    def read(self, request: SipRequest) -> CapturedCall:
        """Raises ``SipParseError`` when the Request-URI, P-Asserted-Identity or From is bad."""
        dialled = request_uri_user(request) or ""
        user = line_user(request)
        try:
            device = device_id(request)
        except SipParseError:
            device = None
        return CapturedCall(dialled, user, self.find(user), self.classifier(dialled), device)

    def find(self, user: str | None) -> Line | None:
        """The line a caller presents (see ``find_line``)."""
        return find_line(self.lines, user, self.classifier)

    def decide(
        self,
        call: CapturedCall,
        request: SipRequest,
        usage: Usage | None = None,
        *,
        device_busy: bool = False,
        abroad: LineActivity | None = None,
    ) -> Decision:
        """The core's decision; ``usage`` are the line's counters (none: empty, no pause);
        ``abroad`` what the line is doing abroad (the fraud guard's velocity limits)."""
        location = None
        if call.classification.group == "emergency":
            ctx = device_context(request)
            location = assess_location(call.line, ctx, self.emergency, self.provinces.province_at)
        return decide(
            call.classification, call.line, usage or Usage(""), self.tariff, self.emergency,
            location=location, device_busy=device_busy, abroad=abroad,
        )  # fmt: skip
