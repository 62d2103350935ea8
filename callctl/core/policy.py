"""The route decision for one outgoing call: route (where, for how long) or refuse (why).

Pure: the line, its usage counters and the time come in as arguments. Emergency calls are
never refused (R2, R9): whatever else is wrong (unknown line, paused line, barred product)
they are routed to the emergency centre of the line's installation address.
"""

from __future__ import annotations

from dataclasses import dataclass

from callctl.core.classify import Classification
from callctl.core.emergency import Centres, EmergencyPlan
from callctl.core.fraud import CALL_ALERTS, LineActivity, velocity_verdict
from callctl.core.lines import Line
from callctl.core.location import LocationVerdict
from callctl.core.rating import Usage
from callctl.core.tariff import Plan, Tariff, TariffError

CARRIER = "carrier"

# SIP codes of the rules: 484 invalid (R1), 403 barred or paused (R5, R7, R9), 486 busy
# licence (R9), 503 unavailable.
INVALID = 484
BARRED = 403
BUSY = 486
UNAVAILABLE = 503

# Why a call is refused, as a short code from a fixed set (for counters and filters; the
# decision's ``reason`` says it in words, with details).
REFUSALS = (
    "invalid_number", "unknown_line", "product_unusable", "group_not_allowed",
    "licence_busy", "number_barred", "line_paused", "fair_use_cap", "database_unavailable",
    *CALL_ALERTS,  # the fraud guard's: high_cost_barred, velocity_calls, velocity_minutes
)  # fmt: skip

# Debian's stock prompts, played before the refusal where the dialplan allows it.
ANNOUNCEMENTS = {
    INVALID: "cannot-complete-as-dialed",
    BARRED: "ss-noservice",
    UNAVAILABLE: "all-circuits-busy-now",
}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the dialplan does with the call (one AGI answer)."""

    action: str  # route | refuse
    classification: Classification
    trunk: str | None = None
    number: str | None = None  # what to send to the trunk
    limit_seconds: int | None = None  # maximum duration, None when unlimited
    sip_code: int | None = None
    reason: str | None = None
    refusal: str | None = None  # a refusal's code: one of REFUSALS (reason is the free text)
    announcement: str | None = None
    centres: Centres | None = None  # emergency calls: the centres chosen
    location: LocationVerdict | None = None  # emergency calls: where, and trusted or not

    @property
    def alert(self) -> str | None:
        """The fraud guard's alert kind when this refusal is one (docs/security.md)."""
        return self.refusal if self.refusal in CALL_ALERTS else None

    @property
    def routed(self) -> bool:
        return self.action == "route"

    @property
    def withhold_caller_id(self) -> bool:
        return self.classification.clir and self.classification.group != "emergency"

    def agi_value(self) -> str:
        """CALLCTL = action,trunk,number,limit_ms,sip_code,announcement,withhold.

        See dialplan/extensions.conf. ``withhold`` is 1 when the caller dialled #31# and
        the call is not an emergency call (R9: emergency calls always present the number).
        """
        limit_ms = 0 if self.limit_seconds is None else max(self.limit_seconds, 1) * 1000
        fields = (
            self.action,
            self.trunk or "",
            self.number or "",
            str(limit_ms),
            str(self.sip_code or ""),
            self.announcement or "",
            "1" if self.withhold_caller_id else "0",
        )
        return ",".join(fields)


def refuse(c: Classification, code: int, refusal: str, reason: str) -> Decision:
    """Refuse with SIP ``code``; ``refusal`` is one of REFUSALS, ``reason`` the words."""
    if refusal not in REFUSALS:
        raise ValueError(f"unknown refusal code {refusal!r}")
    return Decision(
        "refuse", c, sip_code=code, reason=reason, refusal=refusal,
        announcement=ANNOUNCEMENTS.get(code),
    )  # fmt: skip


def emergency_route(
    c: Classification,
    line: Line | None,
    plan: EmergencyPlan,
    location: LocationVerdict | None = None,
) -> Decision:
    """R9: the centres of the trusted location's province, else of the installation address.

    Without a location verdict (a fixed line), the installation address is the location.
    """
    if location is not None:
        centres = plan.centres(location.province)
    else:
        centres = plan.centres_for_address(line.install_address if line else None)
    number = c.dial or ""
    return Decision(
        "route", c, trunk=plan.trunk_for(number, centres), number=number, centres=centres,
        location=location,
    )  # fmt: skip


def line_plan(line: Line, tariff: Tariff) -> Plan:
    return tariff.plan(line.product, list(line.options))


def max_duration(c: Classification, plan: Plan, usage: Usage, tariff: Tariff) -> int | None:
    """R5 premium cut-off and R7 fair-use cap, in seconds; None when neither applies.

    A call of a group with an unlimited allowance in any band is limited to the fair-use
    seconds left, since any of its seconds may be free ones (a slight over-limit for
    calls that cross from a charged band into a free one, never an under-limit).
    """
    limits: list[int] = []
    if c.group == "premium":
        price = tariff.third_party.get(c.price_key or "")
        if price is not None and price.per_minute > 0:
            limits.append(tariff.premium_cutoff_seconds)
    if plan.unlimited.get(c.group):
        limits.append(max(tariff.fair_use_seconds - usage.fair_use_seconds, 0))
    return min(limits) if limits else None


def decide(
    c: Classification,
    line: Line | None,
    usage: Usage,
    tariff: Tariff,
    emergency: EmergencyPlan,
    *,
    location: LocationVerdict | None = None,
    device_busy: bool = False,
    abroad: LineActivity | None = None,
) -> Decision:
    """Route or refuse one call (R1, R2, R5, R7, R9) for a line with its current usage.

    ``location`` is the R9 verdict for an emergency call; ``device_busy`` says the licence
    is in a call on another device (R9: one device at a time). ``abroad`` is what the line
    is doing abroad, for the fraud guard's velocity limits (None: not checked, offline).
    """
    if c.group == "emergency":
        return emergency_route(c, line, emergency, location)
    if c.group == "invalid":
        return refuse(c, INVALID, "invalid_number", c.reason or "the number cannot be dialled")
    if line is None:
        if c.group in tariff.pause_exempt_groups:  # helplines stay reachable
            return Decision("route", c, trunk=CARRIER, number=c.dial)
        return refuse(c, BARRED, "unknown_line", "this line is not known to callctl")
    try:
        plan = line_plan(line, tariff)
    except TariffError as exc:
        return refuse(
            c, UNAVAILABLE, "product_unusable", f"the line's product cannot be used: {exc}"
        )
    if not plan.allows(c.group):
        return refuse(
            c,
            BARRED,
            "group_not_allowed",
            f"{c.group} numbers cannot be called with {line.product}",
        )
    if device_busy and c.group not in tariff.pause_exempt_groups:
        return refuse(c, BUSY, "licence_busy", "the licence is in a call on another device")
    price = tariff.third_party.get(c.price_key or "")
    if price is not None and price.refused is not None:
        return refuse(c, BARRED, "number_barred", price.refused)
    barred = tariff.fraud.barring.refusal(c, line.options)
    if barred is not None:
        return refuse(c, BARRED, "high_cost_barred", barred)
    if c.group not in tariff.pause_exempt_groups:
        if line.paused:
            return refuse(c, BARRED, "line_paused", "the line is paused by the operator")
        if usage.fair_use_seconds >= tariff.fair_use_seconds:
            return refuse(
                c,
                BARRED,
                "fair_use_cap",
                "fair-use cap reached: the line is paused until month end",
            )
    limit = max_duration(c, plan, usage, tariff)
    if abroad is not None and c.group in tariff.fraud.velocity.groups:
        verdict = velocity_verdict(tariff.fraud.velocity, abroad)
        if verdict.refusal is not None:
            return refuse(c, BARRED, verdict.refusal, verdict.reason or verdict.refusal)
        if verdict.grant_seconds is not None:
            limit = verdict.grant_seconds if limit is None else min(limit, verdict.grant_seconds)
    return Decision("route", c, trunk=CARRIER, number=c.dial, limit_seconds=limit)
