"""``/v1/quote``: what callctl would do with a call, and what it would cost.

The dialled string is classified (R1, R2), the call decided for the line with its current
counters (route or refuse, maximum duration: R5, R7, R9) and priced as if answered at ``at``
for ``seconds`` (R3–R8) against the counters of that period: the core's Classifier,
``decide`` and Rater, nothing of their logic here. Nothing is recorded or drawn.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.lines import not_found
from callctl.api.routing import Route
from callctl.api.types import InTime, LocalTime, Number, Rated
from callctl.core.policy import decide, line_plan
from callctl.core.rating import Call
from callctl.core.tariff import TariffError
from callctl.http.errors import ApiError
from callctl.http.keys import CONTROLLER

MAX_SECONDS = 86_400


class QuoteQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: Number = Field(description="the calling line (E.164)")
    number: str = Field(
        min_length=1, max_length=255, description="as dialled (R1)", examples=["0033142685300"]
    )
    at: InTime | None = Field(None, description="answer time (with offset); default now")
    seconds: int = Field(60, ge=0, le=MAX_SECONDS, description="billed seconds")


class ClassificationOut(BaseModel):
    """R1, R2: what the dialled string is."""

    group: str
    e164: str | None
    country: str | None
    valid: bool
    clir: bool = Field(description="#31#: caller ID withheld")
    premium: bool
    reason: str | None = Field(description="why the number cannot be dialled")


class DecisionOut(BaseModel):
    """What the controller would answer the PBX now."""

    action: str = Field(description="route or refuse")
    trunk: str | None
    sip_code: int | None
    reason: str | None
    limit_seconds: int | None = Field(description="maximum duration (R5, R7)")


class PriceOut(Rated):
    """R3-R8: the call rated against the line's counters of its period."""

    period: str
    refused: str | None = Field(description="the call would not be connected: why")
    cut_off: bool = Field(description="a premium call charged up to the cut-off (R5)")
    over_fair_use: bool


class QuoteOut(BaseModel):
    line: str
    dialled: str
    at: LocalTime
    seconds: int
    classification: ClassificationOut
    decision: DecisionOut
    price: PriceOut


async def quote(request: web.Request, *, query: QuoteQuery) -> QuoteOut:
    controller = request.app[CONTROLLER]
    line = await controller.store.get_line(query.line)
    if line is None:
        raise not_found(query.line)
    at = query.at or controller.clock.now()
    c = controller.classifier(query.number)
    try:
        plan = line_plan(line, controller.tariff)
        now = await controller.store.get_usage(
            line.number, controller.rater.period_of(controller.clock.now())
        )
        decision = decide(c, line, now, controller.tariff, controller.emergency)
        usage = await controller.store.get_usage(line.number, controller.rater.period_of(at))
        rated, _ = controller.rater.rate_call(Call(at, query.seconds, c), plan, usage)
    except (TariffError, ValueError) as exc:
        raise ApiError("tariff_mismatch", f"line {line.number}: {exc}") from None
    return QuoteOut(
        line=line.number, dialled=query.number, at=at, seconds=query.seconds,
        classification=ClassificationOut.model_validate(c.as_dict()),
        decision=DecisionOut(
            action=decision.action, trunk=decision.trunk, sip_code=decision.sip_code,
            reason=decision.reason, limit_seconds=decision.limit_seconds,
        ),
        price=PriceOut.model_validate(rated, from_attributes=True),
    )  # fmt: skip


ROUTES = (
    Route(
        "GET", "/v1/quote", quote, "Classify a number and price a call for a line", "quote",
        errors=("line_not_found", "tariff_mismatch"),
    ),
)  # fmt: skip
