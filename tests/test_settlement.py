"""Settlement (``callctl.core.settlement``): billed seconds (R4), dispositions, rating a
routed call when it ends (R4–R8, period of the answer R6) and records (R10).

Reference days (2026): Wednesday 4 March is a working day, 10:00 is peak (CET, +01:00);
Tuesday 31 March 23:59 is off-peak (CEST, +02:00: summer time began on 29 March).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from callctl.core.classify import Classifier
from callctl.core.lines import Address, Line
from callctl.core.policy import Decision, decide
from callctl.core.rating import Rater, Usage
from callctl.core.records import CallKey, CallRecord
from callctl.core.settlement import (
    DISPOSITIONS,
    CallEnd,
    Settlement,
    base_record,
    billed_seconds,
    refusal_record,
    settle_call,
)
from callctl.data import default_emergency_plan, default_tariff

BRU = ZoneInfo("Europe/Brussels")
TARIFF = default_tariff()
PLAN = default_emergency_plan()
RATER = Rater(TARIFF)
CLASSIFY = Classifier(TARIFF.numbering)
CLASSIC = Line("+3222000001", "classic", install_address=Address("Rue 1", "1000", "Bruxelles"))
P2G = Line("+3242000004", "phone2go", install_address=Address("Place 1", "4000", "Liège"))
KEY = CallKey("callctl-lab", "1772614800.42")
D = Decimal
ZERO = D("0.0000")


# ----------------------------------------------------------------------------- R4


@pytest.mark.parametrize(
    ("duration", "seconds"),
    [
        ("0", 0),
        ("-1", 0),
        ("-0.5", 0),
        # R4 "ceil of milliseconds": the duration is whole milliseconds first, truncated as
        # the PBX measures it (ANSWEREDTIME_MS). 0.4 ms is 0 ms, so 0 s: the same as a live
        # hangup reporting ANSWEREDTIME_MS=0 (reconcile sees microseconds, live does not).
        ("0.0004", 0),
        ("0.0009999", 0),
        ("0.001", 1),
        ("0.5", 1),
        ("0.999", 1),
        ("1", 1),
        ("1.000", 1),
        ("1.0004", 1),  # 1000 ms
        ("1.001", 2),  # a second second has started
        ("59.9999", 60),
        ("60", 60),
        ("60.001", 61),
        ("3600.5", 3601),
    ],
)
def test_r4_billed_seconds(duration: str, seconds: int) -> None:
    assert billed_seconds(D(duration)) == seconds


# ----------------------------------------------------------------------------- dispositions

T0 = datetime(2026, 3, 4, 10, 0, tzinfo=BRU)


@pytest.mark.parametrize(
    ("answered", "duration", "status", "disposition"),
    [
        (T0, "5", "ANSWER", "ANSWERED"),
        (T0, "0.001", "ANSWER", "ANSWERED"),
        (T0, "0", "ANSWER", "NO ANSWER"),  # answered for no time: nothing to bill
        (T0, "0.0004", "ANSWER", "NO ANSWER"),  # 0 ms (R4)
        (None, "0", "ANSWER", "NO ANSWER"),
        (None, "12", "ANSWER", "NO ANSWER"),  # a duration without an answer time
        (None, "0", "BUSY", "BUSY"),
        (None, "0", "NOANSWER", "NO ANSWER"),
        (None, "0", "CANCEL", "NO ANSWER"),
        (None, "0", "CONGESTION", "FAILED"),
        (None, "0", "CHANUNAVAIL", "FAILED"),
        (None, "0", "DONTCALL", "FAILED"),
        (None, "0", "TORTURE", "FAILED"),
        (None, "0", "INVALIDARGS", "FAILED"),
        (None, "0", "", "FAILED"),
        (None, "0", "SOMETHING-NEW", "FAILED"),
        (T0, "5", "BUSY", "ANSWERED"),  # an answered call is answered, whatever the status
    ],
)
def test_dispositions(
    answered: datetime | None, duration: str, status: str, disposition: str
) -> None:
    assert CallEnd(answered, D(duration), status, None).disposition == disposition


def test_every_dial_status_maps_to_a_record_disposition() -> None:
    assert set(DISPOSITIONS.values()) <= {"ANSWERED", "BUSY", "NO ANSWER", "FAILED"}


# ----------------------------------------------------------------------------- settle_call


def routed(
    dialled: str, line: Line = CLASSIC, decided_at: datetime = T0
) -> tuple[CallRecord, Decision]:
    decision = decide(CLASSIFY(dialled), line, Usage("x"), TARIFF, PLAN)
    assert decision.routed
    return base_record(KEY, line.number, dialled, decision, decided_at), decision


def settle(
    dialled: str, end: CallEnd, usage: Usage, decided_at: datetime = T0, line: Line = CLASSIC
) -> tuple[CallRecord, Usage]:
    record, decision = routed(dialled, line, decided_at)
    return settle_call(
        record,
        decision.classification,
        end,
        plan=TARIFF.plan(line.product, list(line.options)),
        rater=RATER,
        usage=usage,
    )


def test_r4_r5_r8_answered_peak_call() -> None:
    """Classic, be_fixed at peak, 61.2 s → 62 s × 0.17 / 60 = 0.175666… → 0.1757."""
    answered = T0 + timedelta(seconds=3)
    end = CallEnd(answered, D("61.2"), "ANSWER", 16)
    record, after = settle("02 123 45 67", end, Usage("2026-03", 5, 7))
    assert record.answered_at == answered
    assert record.ended_at == answered + timedelta(seconds=62)
    assert record.billsec == 62
    assert record.disposition == "ANSWERED"
    assert record.hangup_cause == 16
    assert record.period == "2026-03"
    assert (record.peak_seconds, record.offpeak_seconds) == (62, 0)
    assert (record.bundle_seconds, record.fair_use_seconds) == (0, 0)
    assert record.charged_seconds == 62
    assert record.setup_fee == ZERO
    assert record.per_call_fee == ZERO
    assert record.amount == D("0.1757")
    assert record.tariff_id == TARIFF.id
    assert (record.action, record.target, record.group) == ("route", "carrier", "be_fixed")
    assert record.e164 == "+3221234567"
    assert record.reason is None
    assert record.source == "live"
    assert after == Usage("2026-03", 5, 7)  # peak Belgian seconds draw nothing


def test_r7_answered_offpeak_belgian_call_draws_fair_use() -> None:
    answered = datetime(2026, 3, 4, 20, 0, tzinfo=BRU)
    end = CallEnd(answered, D("600"), "ANSWER", 16)
    record, after = settle("0470 12 34 56", end, Usage("2026-03", 0, 100), answered)
    assert (record.offpeak_seconds, record.fair_use_seconds, record.charged_seconds) == (
        600,
        600,
        0,
    )
    assert record.amount == ZERO
    assert after == Usage("2026-03", 0, 700)


def test_r5_zone_call_setup_fee_and_per_minute() -> None:
    """Classic zone at peak, no Anytime: 0.08 + 90 × 0.58 / 60 = 0.9500."""
    end = CallEnd(T0, D("89.5"), "ANSWER", 16)
    record, after = settle("+33 1 23 45 67 89", end, Usage("2026-03"))
    assert record.billsec == 90
    assert record.setup_fee == D("0.08")
    assert record.amount == D("0.9500")
    assert after == Usage("2026-03")


@pytest.mark.parametrize(
    ("status", "cause", "disposition"),
    [("NOANSWER", 19, "NO ANSWER"), ("BUSY", 17, "BUSY"), ("CONGESTION", 34, "FAILED")],
)
def test_r4_unanswered_call_costs_nothing(status: str, cause: int, disposition: str) -> None:
    decided = datetime(2026, 3, 4, 10, 0, 0, 250000, tzinfo=BRU)
    usage = Usage("2026-03", 10, 20)
    record, after = settle("+33 1 23 45 67 89", CallEnd(None, D(0), status, cause), usage, decided)
    assert record.answered_at is None
    assert record.ended_at is None
    assert record.billsec == 0
    assert record.disposition == disposition
    assert record.hangup_cause == cause
    assert record.period == "2026-03"  # the decision's month
    assert record.charged_seconds == 0
    assert record.setup_fee == ZERO
    assert record.amount == ZERO
    assert after == usage


def test_r4_answered_for_under_a_millisecond_is_unanswered() -> None:
    end = CallEnd(T0, D("0.0004"), "ANSWER", 16)
    record, after = settle("+33 1 23 45 67 89", end, Usage("2026-03"))
    assert (record.answered_at, record.billsec, record.disposition) == (None, 0, "NO ANSWER")
    assert record.amount == ZERO
    assert after == Usage("2026-03")


def test_r6_call_across_midnight_of_the_month_belongs_to_the_answer_month() -> None:
    """Answered 31 March 23:59:30 (CEST), 120 s: ends 1 April 00:01:30, period 2026-03.

    Classic zone off-peak: the 120 s come from March's bundle.
    """
    decided = datetime(2026, 3, 31, 23, 59, 25, tzinfo=BRU)
    answered = datetime(2026, 3, 31, 23, 59, 30, tzinfo=BRU)
    end = CallEnd(answered, D("119.8"), "ANSWER", 16)
    record, after = settle("+33 1 23 45 67 89", end, Usage("2026-03", 1000, 0), decided)
    assert record.ended_at == datetime(2026, 4, 1, 0, 1, 30, tzinfo=BRU)
    assert record.period == "2026-03"
    assert (record.offpeak_seconds, record.bundle_seconds, record.charged_seconds) == (
        120,
        120,
        0,
    )
    assert record.amount == ZERO
    assert after == Usage("2026-03", 1120, 0)
    with pytest.raises(ValueError, match="usage is for 2026-04"):
        settle("+33 1 23 45 67 89", end, Usage("2026-04"), decided)


def test_r6_period_of_the_answer_not_of_the_decision() -> None:
    """Decided 31 March 23:59:50, answered 1 April 00:00:05 (Brussels): April."""
    record, decision = routed(
        "+33 1 23 45 67 89", decided_at=datetime(2026, 3, 31, 23, 59, 50, tzinfo=BRU)
    )
    end = CallEnd(datetime(2026, 4, 1, 0, 0, 5, tzinfo=BRU), D("30"), "ANSWER", 16)
    plan = TARIFF.plan("classic")
    settlement = Settlement(record, decision.classification, end, plan, RATER)
    assert settlement.period == "2026-04"
    rated, after = settlement(Usage("2026-04"))
    assert rated.period == "2026-04"
    assert after.period == "2026-04"
    unanswered = Settlement(
        record, decision.classification, CallEnd(None, D(0), "BUSY", 17), plan, RATER
    )
    assert unanswered.period == "2026-03"  # no answer: the decision's month


def test_r6_period_is_the_brussels_month_not_utcs() -> None:
    """31 March 22:30 UTC is 1 April 00:30 in Brussels."""
    answered = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)
    record, _ = settle(
        "+33 1 23 45 67 89", CallEnd(answered, D("10"), "ANSWER", 16), Usage("2026-04"), answered
    )
    assert record.period == "2026-04"


def test_r5_premium_is_charged_up_to_the_cut_off() -> None:
    """0903 at 1.50/min, 900 s answered: charged 600 s → 15.0000 (R5)."""
    end = CallEnd(T0, D("900"), "ANSWER", 16)
    record, _ = settle("0903 12 345", end, Usage("2026-03"))
    assert (record.billsec, record.charged_seconds, record.amount) == (900, 600, D("15.0000"))


def test_r10_emergency_record_carries_its_location() -> None:
    record, decision = routed("112")
    assert record.target == "psap-112-brussels"
    assert record.location_source == "declared_address"
    assert record.location_trusted is True
    assert record.location_reasons == ("province brussels from the installation address",)
    settled, _ = settle_call(
        record,
        decision.classification,
        CallEnd(T0, D("42"), "ANSWER", 16),
        plan=TARIFF.plan("classic"),
        rater=RATER,
        usage=Usage("2026-03"),
    )
    assert (settled.billsec, settled.amount, settled.location_trusted) == (42, ZERO, True)


def test_r10_non_emergency_record_has_no_location() -> None:
    record, _ = routed("02 123 45 67")
    assert (record.location_source, record.location_trusted, record.location_reasons) == (
        None,
        None,
        (),
    )


# ----------------------------------------------------------------------------- refusals


def test_r10_refusal_record() -> None:
    """Phone2Go may not call premium numbers (R9): recorded with its reason, no charge."""
    decided = datetime(2026, 3, 4, 10, 0, 1, tzinfo=BRU)
    decision = decide(CLASSIFY("#31#0903 12 345"), P2G, Usage("2026-03"), TARIFF, PLAN)
    record = refusal_record(KEY, P2G.number, "#31#0903 12 345", decision, decided, period="2026-03")
    assert record == CallRecord(
        key=KEY,
        line="+3242000004",
        dialled="#31#0903 12 345",
        e164="+3290312345",
        group="premium",
        country="BE",
        clir=True,
        action="refuse",
        target=None,
        sip_code=403,
        reason="premium numbers cannot be called with phone2go",
        decided_at=decided,
        disposition="REFUSED",
        period="2026-03",
    )
    assert record.billsec == 0
    assert record.amount == ZERO
    assert record.answered_at is None


def test_r10_refusal_record_of_an_invalid_number() -> None:
    decision = decide(CLASSIFY("0800-FLOWERS"), CLASSIC, Usage("2026-03"), TARIFF, PLAN)
    record = refusal_record(KEY, CLASSIC.number, "0800-FLOWERS", decision, T0, period="2026-03")
    assert (record.group, record.e164, record.country) == ("invalid", None, None)
    assert (record.action, record.sip_code, record.disposition) == ("refuse", 484, "REFUSED")
    assert record.reason == "letters are not digits ('F' in '0800-FLOWERS')"
    assert record.target is None
