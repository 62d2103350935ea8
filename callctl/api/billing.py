"""``/v1/lines/{number}/usage`` and ``/v1/lines/{number}/statement``: a line's counters (R6,
R7) and its statement (R8) for a billing period, by default the current one.

The statement is :func:`callctl.core.statement.build_statement` over the line's stored
records of routed calls in the period (refused attempts are not calls on a bill) and its
counters, with the line's current product and options: the same figures, in the same form
(:func:`~callctl.core.statement.summary_dict`), as the summary of ``callctl rate --json``.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.lines import LinePath, not_found
from callctl.api.routing import Route
from callctl.api.types import MoneyText, Period
from callctl.core.lines import Line
from callctl.core.policy import line_plan
from callctl.core.rating import Usage
from callctl.core.statement import Statement, build_statement, rated_of, summary_dict
from callctl.core.tariff import Plan, TariffError
from callctl.http.errors import ApiError
from callctl.http.keys import CONTROLLER
from callctl.service.controller import Controller
from callctl.store.search import RecordFilter, RecordSearch


class PeriodQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: Period | None = Field(None, description="billing month YYYY-MM; default: now")


class UsageOut(BaseModel):
    """A line's counters for one billing period."""

    line: str
    period: str
    bundle_seconds_size: int = Field(description="the zone bundle (R6); 0 without one")
    bundle_seconds_used: int
    bundle_seconds_left: int
    fair_use_seconds: int = Field(description="seconds given free by an allowance (R7)")
    fair_use_cap_seconds: int
    fair_use_seconds_left: int
    paused_by_fair_use: bool = Field(description="R7: new calls refused until the period ends")


class GroupOut(BaseModel):
    calls: int
    billed_seconds: int
    charged_seconds: int
    amount: MoneyText


class FeeOut(BaseModel):
    name: str
    amount: MoneyText


class StatementOut(BaseModel):
    """A line's statement for one period (R8): euros, VAT apart."""

    line: str
    period: str
    product: str
    options: list[str]
    tariff: str
    currency: str
    calls: int = Field(description="routed calls in the period (answered or not)")
    answered_calls: int
    groups: dict[str, GroupOut] = Field(description="by destination group (R2)")
    bundle_seconds_size: int
    bundle_seconds_used: int
    bundle_seconds_left: int
    fair_use_seconds: int
    fair_use_cap_seconds: int
    calls_total: MoneyText = Field(description="the calls' amounts, 4 decimals")
    monthly_fees: list[FeeOut]
    monthly_fees_total: MoneyText
    total_excl_vat: MoneyText = Field(description="calls and fees, to the cent")
    vat_rate: str = Field(examples=["0.21"])
    vat: MoneyText
    total_incl_vat: MoneyText


async def _line_and_plan(controller: Controller, number: str) -> tuple[Line, Plan]:
    line = await controller.store.get_line(number)
    if line is None:
        raise not_found(number)
    try:
        return line, line_plan(line, controller.tariff)
    except TariffError as exc:
        raise ApiError("tariff_mismatch", f"line {number}: {exc}") from None


def _period(controller: Controller, query: PeriodQuery) -> str:
    return query.period or controller.rater.period_of(controller.clock.now())


def _counters(controller: Controller, plan: Plan, usage: Usage) -> Statement:
    """The statement of no calls: it sizes the bundle and fair use for the plan."""
    return build_statement(usage.period, (), usage, plan, controller.tariff)


async def line_usage(request: web.Request, *, path: LinePath, query: PeriodQuery) -> UsageOut:
    controller = request.app[CONTROLLER]
    line, plan = await _line_and_plan(controller, path.number)
    usage = await controller.store.get_usage(line.number, _period(controller, query))
    s = _counters(controller, plan, usage)
    return UsageOut(
        line=line.number, period=s.period, bundle_seconds_size=s.bundle_size,
        bundle_seconds_used=s.bundle_used, bundle_seconds_left=s.bundle_left,
        fair_use_seconds=s.fair_use_seconds, fair_use_cap_seconds=s.fair_use_cap,
        fair_use_seconds_left=max(s.fair_use_cap - s.fair_use_seconds, 0),
        paused_by_fair_use=s.fair_use_seconds >= s.fair_use_cap,
    )  # fmt: skip


async def line_statement(
    request: web.Request, *, path: LinePath, query: PeriodQuery
) -> StatementOut:
    controller = request.app[CONTROLLER]
    line, plan = await _line_and_plan(controller, path.number)
    period = _period(controller, query)
    where = RecordFilter(line=line.number, period=period, action="route")
    rated = []
    async for batch in RecordSearch(controller.store.engine).stream(where):
        rated += [rated_of(r) for r in batch]
    usage = await controller.store.get_usage(line.number, period)
    statement = build_statement(period, rated, usage, plan, controller.tariff)
    summary = summary_dict(statement, controller.tariff.currency)
    return StatementOut.model_validate({"line": line.number, **summary})


ROUTES = (
    Route(
        "GET", "/v1/lines/{number}/usage", line_usage,
        "Bundle and fair-use seconds used and left in a period", "billing",
        errors=("line_not_found", "tariff_mismatch"),
    ),
    Route(
        "GET", "/v1/lines/{number}/statement", line_statement,
        "The line's statement for a period: calls by group, fees, VAT", "billing",
        errors=("line_not_found", "tariff_mismatch"),
    ),
)  # fmt: skip
