"""``/v1/calls/active``: the calls in progress, as this process decided them.

Read from the controller's own state (:attr:`Controller.active`): a routed call is there
from its decision until its hangup is rated. Another callctl process's calls are not.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callctl.api.routing import Route
from callctl.api.types import LocalTime, Number
from callctl.http.keys import CONTROLLER
from callctl.service.controller import ActiveCall


class ActiveCallOut(BaseModel):
    """A routed call that has not ended yet."""

    host: str = Field(description="the PBX (R10: the call is host + call_id)")
    call_id: str
    line: str
    endpoint: str = Field(description="the SIP account that called")
    device: str | None
    dialled: str
    group: str = Field(description="destination group (R2)")
    e164: str | None
    country: str | None
    clir: bool
    trunk: str | None = Field(description="where the call was sent: carrier, psap-…, cic-…")
    number: str | None = Field(description="what was sent to the trunk")
    limit_seconds: int | None = Field(description="maximum duration (R5, R7), if any")
    decided_at: LocalTime
    emergency_province: str | None = Field(description="emergency calls: the centres' province")
    location_trusted: bool | None = Field(description="emergency calls: R9 location trust")


class ActiveCalls(BaseModel):
    calls: list[ActiveCallOut]


class ActiveQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    line: Number | None = Field(None, description="only this line's calls")


def call_out(call: ActiveCall) -> ActiveCallOut:
    d = call.decision
    c = d.classification
    return ActiveCallOut(
        host=call.key.host, call_id=call.key.call_id, line=call.line, endpoint=call.endpoint,
        device=call.device, dialled=call.dialled, group=c.group, e164=c.e164,
        country=c.country, clir=c.clir, trunk=d.trunk, number=d.number,
        limit_seconds=d.limit_seconds, decided_at=call.decided_at,
        emergency_province=d.centres.province if d.centres else None,
        location_trusted=d.location.trusted if d.location else None,
    )  # fmt: skip


async def active_calls(request: web.Request, *, query: ActiveQuery) -> ActiveCalls:
    calls = sorted(request.app[CONTROLLER].active.values(), key=lambda a: a.decided_at)
    chosen = [a for a in calls if query.line is None or a.line == query.line]
    return ActiveCalls(calls=[call_out(a) for a in chosen])


ROUTES = (
    Route("GET", "/v1/calls/active", active_calls, "Calls in progress, oldest first", "calls"),
)
