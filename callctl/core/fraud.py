"""The fraud guard's rules (docs/security.md): barring, velocity limits, failed authentications.

Pure: the tariff file's ``[fraud]`` data (parsed in :mod:`callctl.core.tariff`), a call's
classification and what the line is doing come in as arguments; no clock, no I/O. None of
it ever applies to emergency calls or helplines (R9): the tariff refuses to list their
groups, and :func:`callctl.core.policy.decide` routes them before any of these checks.

- **Barring**: international premium-rate, shared-cost and satellite numbers, by the
  library's number type or by E.164 prefix, unless the line has the tariff's option.
- **Velocity**: per line, calls abroad at once and their seconds in a rolling window.
  Seconds are counted as answered seconds of finished calls inside the window plus the
  limits granted to calls in progress, so concurrent calls can never together exceed the
  cap: each new call is granted at most its share of what is left.
- **Failed authentications**: :class:`AuthGuard` counts failures per source address in a
  sliding window and says when to block and unblock an address.
"""

from __future__ import annotations

import ipaddress
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # classify needs the tariff, which holds these rules
    from callctl.core.classify import Classification

# Refusal codes of the fraud guard (members of callctl.core.policy.REFUSALS); each refusal
# with one of these codes is also an operator alert.
BARRED_HIGH_COST = "high_cost_barred"
TOO_MANY_CALLS = "velocity_calls"
TOO_MANY_SECONDS = "velocity_minutes"
CALL_ALERTS = (BARRED_HIGH_COST, TOO_MANY_CALLS, TOO_MANY_SECONDS)
# Alert kinds of the address guard.
AUTH_BLOCK = "auth_block"
AUTH_UNBLOCK = "auth_unblock"
AUTH_TRUSTED = "auth_failures_trusted"  # failures from an address that is never blocked
ALERT_KINDS = (*CALL_ALERTS, AUTH_BLOCK, AUTH_UNBLOCK, AUTH_TRUSTED)


@dataclass(frozen=True, slots=True)
class Barring:
    """International numbers barred unless the line has ``option``."""

    option: str
    groups: frozenset[str]
    number_types: Mapping[str, str]  # library type name → kind ("premium-rate", …)
    prefixes: Mapping[str, str]  # E.164 digits prefix → kind

    def kind(self, c: Classification) -> str | None:
        """The barred kind of a number ("satellite", …), or None when it is not barred."""
        if c.group not in self.groups or c.e164 is None:
            return None
        digits = c.e164.lstrip("+")
        best = ""
        for prefix in self.prefixes:
            if len(prefix) > len(best) and digits.startswith(prefix):
                best = prefix
        if best:
            return self.prefixes[best]
        return self.number_types.get(c.number_type or "")

    def refusal(self, c: Classification, options: Iterable[str]) -> str | None:
        """Why the call is barred (words), or None when it may go ahead."""
        kind = self.kind(c)
        if kind is None or self.option in options:
            return None
        return (
            f"international {kind} numbers are barred on this line "
            f"(the option {self.option} allows them)"
        )


@dataclass(frozen=True, slots=True)
class Velocity:
    """Per-line limits on calls of ``groups`` (calls abroad)."""

    groups: frozenset[str]
    max_simultaneous: int
    window_seconds: int
    max_seconds: int
    min_grant_seconds: int


@dataclass(frozen=True, slots=True)
class AuthRules:
    """When repeated failed authentications from one address block it."""

    failure_events: frozenset[str]
    success_events: frozenset[str]
    max_failures: int
    window_seconds: int
    block_seconds: int
    trust_seconds: int
    never_block: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]


@dataclass(frozen=True, slots=True)
class FraudRules:
    """The tariff's ``[fraud]`` tables."""

    barring: Barring
    velocity: Velocity
    auth: AuthRules


# ----------------------------------------------------------------------------- velocity


@dataclass(frozen=True, slots=True)
class LineActivity:
    """What a line is doing abroad when a new call is decided.

    ``finished_seconds``: answered seconds of its finished calls inside the window;
    ``reserved_seconds``: the limits granted to its calls in progress (and to calls that
    ended but whose record is not written yet); ``in_progress``: its calls abroad now.
    """

    finished_seconds: int = 0
    reserved_seconds: int = 0
    in_progress: int = 0


def seconds_in_window(
    calls: Iterable[tuple[datetime, datetime]], now: datetime, window_seconds: int
) -> int:
    """Answered seconds of finished calls (answer, end) inside ``(now - window, now]``."""
    start = now - timedelta(seconds=window_seconds)
    total = 0.0
    for answered, ended in calls:
        overlap = (min(ended, now) - max(answered, start)).total_seconds()
        if overlap > 0:
            total += overlap
    return int(total + 0.999999)  # a started second counts (R4)


@dataclass(frozen=True, slots=True)
class VelocityVerdict:
    """Either a refusal (code and words) or the seconds the call may last."""

    refusal: str | None = None
    reason: str | None = None
    grant_seconds: int | None = None


def velocity_verdict(rules: Velocity, activity: LineActivity) -> VelocityVerdict:
    """Refuse a call abroad over a limit, else grant it its share of the seconds left."""
    if activity.in_progress >= rules.max_simultaneous:
        return VelocityVerdict(
            TOO_MANY_CALLS,
            f"fraud guard: at most {rules.max_simultaneous} international calls at once "
            "on this line",
        )
    left = rules.max_seconds - activity.finished_seconds - activity.reserved_seconds
    share = max(left, 0) // (rules.max_simultaneous - activity.in_progress)
    if share < rules.min_grant_seconds:
        minutes = rules.max_seconds // 60
        window = rules.window_seconds // 60
        return VelocityVerdict(
            TOO_MANY_SECONDS,
            f"fraud guard: this line used its {minutes} international minutes "
            f"of the last {window} minutes",
        )
    return VelocityVerdict(grant_seconds=share)


# ----------------------------------------------------------------------------- auth

# One line of Asterisk's security log (res_security_log): key="value" pairs.
_PAIR = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """An Asterisk security event: what happened, from which address, to which account."""

    kind: str  # SecurityEvent, e.g. ChallengeResponseFailed, SuccessfulAuth
    address: str  # the remote IP address
    account: str
    at: datetime


def parse_security_line(line: str) -> SecurityEvent | None:
    """A security log line's event, or None for anything else (never raises).

    ``RemoteAddress="IPV4/UDP/127.0.0.50/5061"`` gives the address; ``EventTV`` the time.
    """
    if "SecurityEvent=" not in line:
        return None
    pairs = dict(_PAIR.findall(line))
    kind = pairs.get("SecurityEvent")
    parts = pairs.get("RemoteAddress", "").split("/")
    if not kind or len(parts) < 4:
        return None
    try:
        address = str(ipaddress.ip_address(parts[2]))
        at = datetime.fromisoformat(pairs.get("EventTV", ""))
    except ValueError:
        return None
    if at.tzinfo is None:
        return None
    return SecurityEvent(kind, address, pairs.get("AccountID", ""), at)


@dataclass(frozen=True, slots=True)
class AuthAlert:
    """Something the guard did or noticed about one address."""

    kind: str  # AUTH_BLOCK | AUTH_UNBLOCK | AUTH_TRUSTED
    address: str
    at: datetime
    failures: int = 0
    accounts: tuple[str, ...] = ()
    until: datetime | None = None
    reason: str = ""


@dataclass
class _Address:
    failures: deque[tuple[datetime, str]] = field(default_factory=deque)
    last_success: datetime | None = None
    blocked_until: datetime | None = None
    trusted_alert: datetime | None = None


class AuthGuard:
    """Failed authentications per address in a sliding window; when to block and unblock.

    Feed it security events in time order (:meth:`observe`) and call :meth:`expire` now and
    then; both return the alerts to act on. An address is never blocked while it had a
    successful authentication within ``trust_seconds`` or is in ``never_block``: its
    failures raise one alert per window instead, so a customer's site with one badly
    configured phone keeps its service (and its emergency calls).
    """

    def __init__(self, rules: AuthRules) -> None:
        self.rules = rules
        self._addresses: dict[str, _Address] = {}

    @property
    def blocked(self) -> dict[str, datetime]:
        """The blocked addresses and until when."""
        return {
            a: s.blocked_until for a, s in self._addresses.items() if s.blocked_until is not None
        }

    def observe(self, event: SecurityEvent) -> list[AuthAlert]:
        r = self.rules
        state = self._addresses.setdefault(event.address, _Address())
        if event.kind in r.success_events:
            state.last_success = event.at
            state.failures.clear()
            return []
        if event.kind not in r.failure_events or state.blocked_until is not None:
            return []
        window = timedelta(seconds=r.window_seconds)
        state.failures.append((event.at, event.account))
        while state.failures and state.failures[0][0] <= event.at - window:
            state.failures.popleft()
        if len(state.failures) < r.max_failures:
            return []
        count = len(state.failures)
        accounts = tuple(sorted({a for _, a in state.failures if a}))
        state.failures.clear()
        why = self._never_block(event.address, state, event.at)
        if why:
            if state.trusted_alert is not None and event.at - state.trusted_alert < window:
                return []
            state.trusted_alert = event.at
            why = f"{count} failed authentications; not blocked: {why}"
            return [AuthAlert(AUTH_TRUSTED, event.address, event.at, count, accounts, reason=why)]
        state.blocked_until = event.at + timedelta(seconds=r.block_seconds)
        return [
            AuthAlert(
                AUTH_BLOCK, event.address, event.at, count, accounts, state.blocked_until,
                f"{count} failed authentications within {r.window_seconds} s",
            )
        ]  # fmt: skip

    def expire(self, now: datetime) -> list[AuthAlert]:
        """Unblock the addresses whose block ended; forget idle addresses."""
        alerts = []
        keep = timedelta(seconds=max(self.rules.trust_seconds, self.rules.window_seconds))
        for address, state in list(self._addresses.items()):
            if state.blocked_until is not None and state.blocked_until <= now:
                state.blocked_until = None
                alerts.append(AuthAlert(AUTH_UNBLOCK, address, now, reason="block ended"))
            recent = [t for t in (state.last_success, *(t for t, _ in state.failures)) if t]
            if state.blocked_until is None and all(now - t > keep for t in recent):
                del self._addresses[address]
        return alerts

    def _never_block(self, address: str, state: _Address, now: datetime) -> str:
        ip = ipaddress.ip_address(address)
        if any(ip in net for net in self.rules.never_block):
            return "the address is in never_block"
        trust = timedelta(seconds=self.rules.trust_seconds)
        if state.last_success is not None and now - state.last_success <= trust:
            return "the address authenticated successfully recently"
        return ""
