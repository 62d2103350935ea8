"""The fraud guard's pure rules (``callctl.core.fraud``, docs/security.md): barring of
international premium-rate, shared-cost and satellite numbers, velocity limits per line,
and the failed-authentication detector; never touching emergency calls or helplines (R9).
"""

from __future__ import annotations

import copy
import tomllib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import pytest

from callctl.core.classify import Classifier
from callctl.core.fraud import (
    AUTH_BLOCK,
    AUTH_TRUSTED,
    AUTH_UNBLOCK,
    AuthGuard,
    LineActivity,
    SecurityEvent,
    parse_security_line,
    seconds_in_window,
    velocity_verdict,
)
from callctl.core.lines import Line
from callctl.core.policy import BARRED, REFUSALS, decide
from callctl.core.rating import Usage
from callctl.core.tariff import TariffError, parse_tariff
from callctl.data import default_emergency_plan, default_tariff

TARIFF = default_tariff()
RULES = TARIFF.fraud
PLAN = default_emergency_plan()
CLASSIFY = Classifier(TARIFF.numbering)
USAGE = Usage("2026-11")
CLASSIC = Line("+3222000001", "classic")
KLIK = Line("+3292000003", "klik")
UNBARRED = Line("+3222000009", "classic", options=("high_cost_international",))
IDLE = LineActivity()
FULL = LineActivity(finished_seconds=10**6, reserved_seconds=10**6, in_progress=99)

BARRED_NUMBERS = {
    "+49 900 1234567": "premium-rate",  # library type PREMIUM_RATE
    "+33 8 36 12 34 56": "premium-rate",
    "+1 900 555 1234": "premium-rate",  # outside the zone's fixed/mobile types
    "+33 810 12 34 56": "shared-cost",  # library type SHARED_COST
    "+808 1234 5678": "shared-cost",  # ITU International Shared Cost Service
    "+870 776 123456": "satellite",  # Inmarsat
    "+881 6 12345678": "satellite",  # Iridium
    "+882 16 123456": "satellite",  # Thuraya
}
NOT_BARRED = (
    "+800 1234 5678",  # UIFN: international freephone, free for the caller
    "+81 3 1234 5678",  # Japanese fixed: international, not high-cost
    "+33 1 42 68 53 00",  # zone
    "+212 612 345678",  # ma_tr
    "0900 12 345",  # Belgian premium: priced by R5, not this rule
    "02 234 56 78",
)


@pytest.mark.parametrize(("number", "kind"), BARRED_NUMBERS.items())
def test_high_cost_numbers_are_barred_by_default_on_every_product(number: str, kind: str) -> None:
    c = CLASSIFY(number)
    assert RULES.barring.kind(c) == kind
    for line in (CLASSIC, KLIK):
        d = decide(c, line, USAGE, TARIFF, PLAN, abroad=IDLE)
        assert (d.action, d.sip_code, d.refusal) == ("refuse", BARRED, "high_cost_barred")
        assert d.reason is not None
        assert kind in d.reason
        assert "high_cost_international" in d.reason
        assert d.alert == "high_cost_barred"


@pytest.mark.parametrize("number", BARRED_NUMBERS)
def test_the_line_option_allows_them(number: str) -> None:
    d = decide(CLASSIFY(number), UNBARRED, USAGE, TARIFF, PLAN, abroad=IDLE)
    assert d.routed
    assert d.alert is None


@pytest.mark.parametrize("number", NOT_BARRED)
def test_other_numbers_are_not_barred(number: str) -> None:
    c = CLASSIFY(number)
    assert RULES.barring.kind(c) is None
    assert decide(c, CLASSIC, USAGE, TARIFF, PLAN, abroad=IDLE).refusal != "high_cost_barred"


def test_the_option_is_a_free_tariff_option_of_classic_and_klik() -> None:
    for product in ("classic", "klik"):
        plan = TARIFF.plan(product, ["high_cost_international"])
        assert [f.amount for f in plan.fees[1:]] == [0]
    assert set(REFUSALS) >= {"high_cost_barred", "velocity_calls", "velocity_minutes"}


@pytest.mark.parametrize("dialled", ["112", "+32 112", "#31#101", "1813", "070 245 245"])
@pytest.mark.parametrize("activity", [IDLE, FULL])
def test_r9_emergency_and_helplines_ignore_every_fraud_rule(
    dialled: str, activity: LineActivity
) -> None:
    """Even on a line over every velocity limit, without the option."""
    d = decide(CLASSIFY(dialled), CLASSIC, USAGE, TARIFF, PLAN, abroad=activity)
    assert d.routed
    assert d.limit_seconds in (None, TARIFF.fair_use_seconds)


# ----------------------------------------------------------------------------- velocity

V = RULES.velocity


def test_the_shipped_velocity_limits() -> None:
    assert V.groups == {"zone", "ma_tr", "international"}
    assert (V.max_simultaneous, V.window_seconds, V.max_seconds) == (4, 3600, 14400)


def test_an_idle_line_is_granted_its_share_of_the_window() -> None:
    assert velocity_verdict(V, IDLE).grant_seconds == 14400 // 4
    d = decide(CLASSIFY("+81 3 1234 5678"), CLASSIC, USAGE, TARIFF, PLAN, abroad=IDLE)
    assert d.limit_seconds == 3600


def test_too_many_simultaneous_calls_abroad_are_refused_with_a_clear_reason() -> None:
    busy = LineActivity(reserved_seconds=3 * 3600, in_progress=4)
    d = decide(CLASSIFY("+33 1 42 68 53 00"), CLASSIC, USAGE, TARIFF, PLAN, abroad=busy)
    assert (d.action, d.sip_code, d.refusal, d.alert) == (
        "refuse", 403, "velocity_calls", "velocity_calls",
    )  # fmt: skip
    assert d.reason == "fraud guard: at most 4 international calls at once on this line"


def test_seconds_used_in_the_window_are_refused_with_a_clear_reason() -> None:
    used = LineActivity(finished_seconds=14400 - 100)
    d = decide(CLASSIFY("+212 612 345678"), KLIK, USAGE, TARIFF, PLAN, abroad=used)
    assert (d.refusal, d.sip_code) == ("velocity_minutes", 403)
    assert d.reason == (
        "fraud guard: this line used its 240 international minutes of the last 60 minutes"
    )


def test_grants_of_concurrent_calls_never_exceed_the_cap() -> None:
    """Each call takes its share of what is left, so reservations sum to the cap at most."""
    activity = LineActivity(finished_seconds=1000)
    grants = []
    while True:
        verdict = velocity_verdict(V, activity)
        if verdict.grant_seconds is None:
            assert verdict.refusal == "velocity_calls"
            break
        grants.append(verdict.grant_seconds)
        activity = replace(
            activity,
            reserved_seconds=activity.reserved_seconds + verdict.grant_seconds,
            in_progress=activity.in_progress + 1,
        )
    assert len(grants) == 4
    assert sum(grants) <= 14400 - 1000
    assert min(grants) >= (14400 - 1000) // 4


def test_a_smaller_limit_wins_over_the_grant() -> None:
    """R5's 10-minute premium cut-off still applies below a larger grant (not abroad here)."""
    d = decide(CLASSIFY("0903 12 345"), CLASSIC, USAGE, TARIFF, PLAN, abroad=IDLE)
    assert d.limit_seconds == TARIFF.premium_cutoff_seconds


T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_seconds_in_the_window_are_clipped_to_it() -> None:
    now = at(3600)
    calls = [
        (at(-600), at(300)),  # 300 s inside
        (at(1000), at(1060.2)),  # 60.2 s → 61 (a started second counts)
        (at(-2000), at(-1)),  # before the window
    ]
    assert seconds_in_window(calls, now, 3600) == 361
    assert seconds_in_window([], now, 3600) == 0


# ----------------------------------------------------------------------------- tariff


def shipped() -> dict[str, Any]:
    text = resources.files("callctl.data").joinpath("tariff.toml").read_text("utf-8")
    return tomllib.loads(text)


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("velocity", "groups"), ["international", "helpline"], "R9"),
        (("barring", "groups"), ["emergency"], "R9"),
        (("velocity", "groups"), ["abroad"], "unknown groups"),
        (("velocity", "max_simultaneous"), 0, "at least 1"),
        (("barring", "prefixes"), {"+870": "satellite"}, "E.164 digits"),
        (("auth", "never_block"), ["not-a-network"], "never_block"),
    ],
)
def test_bad_fraud_data_fails_at_start_with_its_key(
    path: tuple[str, str], value: object, words: str
) -> None:
    data = copy.deepcopy(shipped())
    data["fraud"][path[0]][path[1]] = value
    with pytest.raises(TariffError, match=words):
        parse_tariff(data)


# ----------------------------------------------------------------------------- auth

FAILED = (
    "[2026-11-26 06:57:17.125] SECURITY[27747] res_security_log.c: "
    'SecurityEvent="ChallengeResponseFailed",EventTV="2026-11-26T06:57:17.125+0000",'
    'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="3222000001",'
    'SessionID="1-28346@127.0.0.1",LocalAddress="IPV4/UDP/127.0.0.1/5060",'
    'RemoteAddress="IPV4/UDP/127.0.0.50/5061",Challenge="1795676237/2f72",'
    'Response="98b8",ExpectedResponse=""'
)


def test_security_log_lines_are_read() -> None:
    event = parse_security_line(FAILED)
    assert event == SecurityEvent(
        "ChallengeResponseFailed", "127.0.0.50", "3222000001",
        datetime(2026, 11, 26, 6, 57, 17, 125000, tzinfo=UTC),
    )  # fmt: skip
    v6 = FAILED.replace("IPV4/UDP/127.0.0.50/5061", "IPV6/UDP/2001:db8::1/5061")
    assert parse_security_line(v6) == replace(event, address="2001:db8::1")


@pytest.mark.parametrize(
    "line",
    [
        "",
        "[2026-11-26 06:57:17.125] NOTICE[1] chan_pjsip.c: something else",
        FAILED.replace('RemoteAddress="IPV4/UDP/127.0.0.50/5061"', 'RemoteAddress="junk"'),
        FAILED.replace('EventTV="2026-11-26T06:57:17.125+0000"', 'EventTV="yesterday"'),
        FAILED.replace("+0000", ""),  # a time without its zone
        FAILED.replace("127.0.0.50", "999.0.0.1"),
        'SecurityEvent="',
    ],
)
def test_other_lines_are_ignored_never_raise(line: str) -> None:
    assert parse_security_line(line) is None


def ev(kind: str, address: str, seconds: float, account: str = "3222000001") -> SecurityEvent:
    return SecurityEvent(kind, address, account, at(seconds))


def fail(guard: AuthGuard, address: str, times: list[float]) -> list[str]:
    return [a.kind for t in times for a in guard.observe(ev("InvalidPassword", address, t))]


AUTH = RULES.auth


def test_five_failures_within_a_minute_block_the_address_for_its_period() -> None:
    guard = AuthGuard(AUTH)
    assert fail(guard, "192.0.2.7", [0, 10, 20, 30]) == []
    alerts = guard.observe(ev("ChallengeResponseFailed", "192.0.2.7", 40, "3292000003"))
    assert [a.kind for a in alerts] == [AUTH_BLOCK]
    block = alerts[0]
    assert (block.failures, block.accounts) == (5, ("3222000001", "3292000003"))
    assert block.until == at(40 + AUTH.block_seconds)
    assert guard.blocked == {"192.0.2.7": at(940)}
    assert fail(guard, "192.0.2.7", [41, 42, 43, 44, 45]) == []  # already blocked
    assert guard.expire(at(939)) == []
    assert [a.kind for a in guard.expire(at(940))] == [AUTH_UNBLOCK]
    assert guard.blocked == {}


def test_failures_spread_wider_than_the_window_do_not_block() -> None:
    guard = AuthGuard(AUTH)
    assert fail(guard, "192.0.2.8", [0, 20, 40, 60, 80, 100, 120]) == []
    assert fail(guard, "192.0.2.9", [0, 1, 2, 3]) == []  # another address counts alone
    assert guard.blocked == {}


def test_challenges_and_other_events_are_not_failures() -> None:
    guard = AuthGuard(AUTH)
    for t in range(10):
        assert guard.observe(ev("ChallengeSent", "192.0.2.10", t)) == []
    assert guard.blocked == {}


def test_an_address_that_authenticated_is_never_blocked_so_its_emergency_calls_go_through() -> None:
    """A site with one badly configured phone: one alert per window, no block."""
    guard = AuthGuard(AUTH)
    guard.observe(ev("SuccessfulAuth", "198.51.100.4", 0))
    assert fail(guard, "198.51.100.4", [10, 11, 12, 13, 14]) == [AUTH_TRUSTED]
    assert fail(guard, "198.51.100.4", [15, 16, 17, 18, 19]) == []  # once per window
    assert fail(guard, "198.51.100.4", [80, 81, 82, 83, 84]) == [AUTH_TRUSTED]
    assert guard.blocked == {}
    # Trust lasts trust_seconds after the last success.
    late = AUTH.trust_seconds + 100
    assert fail(guard, "198.51.100.4", [late + i for i in range(5)]) == [AUTH_BLOCK]


def test_never_block_networks_are_never_blocked() -> None:
    data = copy.deepcopy(shipped())
    data["fraud"]["auth"]["never_block"] = ["203.0.113.0/24"]
    guard = AuthGuard(parse_tariff(data).fraud.auth)
    assert fail(guard, "203.0.113.9", [0, 1, 2, 3, 4]) == [AUTH_TRUSTED]
    assert guard.blocked == {}


def test_idle_addresses_are_forgotten() -> None:
    guard = AuthGuard(AUTH)
    fail(guard, "192.0.2.11", [0, 1])
    guard.observe(ev("SuccessfulAuth", "192.0.2.12", 0))
    guard.expire(at(AUTH.trust_seconds + 2))
    assert guard._addresses == {}
