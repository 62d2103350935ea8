"""A real API to test: ``make_app`` on a real store (SQLite or PostgreSQL), through aiohttp's
test server and client, with tokens of both roles and a month of calls settled by the core.

The controller is built without the PBX (its FastAGI server is never started). Every
harness checks on exit that no request ended in an unexpected exception (a JSON 500).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callctl.agi.server import FastAgiServer
from callctl.core.policy import decide, line_plan
from callctl.core.rating import Usage
from callctl.core.records import CallKey
from callctl.core.settlement import CallEnd, Settlement, base_record, refusal_record
from callctl.data import default_emergency_plan, default_tariff
from callctl.http.app import FEATURES, Feature, make_app
from callctl.http.errors import SERVER_ERRORS
from callctl.service.clock import Clock
from callctl.service.controller import Controller
from callctl.store import make_engine
from callctl.store.lines_yaml import parse_lines_yaml
from callctl.store.repository import Store
from callctl.store.tokens import TokenStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LINES = ROOT / "docs" / "examples" / "lines.yaml"
BRUSSELS = ZoneInfo("Europe/Brussels")
NOW = datetime(2026, 3, 20, 10, 0, tzinfo=BRUSSELS)  # the controller's clock: period 2026-03
CLASSIC = "+3222345601"  # classic + anytime (docs/examples/lines.yaml)
KLIK = "+3292345602"
HOST = "pbx-test"

# A month of one Classic line's calls: (answered at, billed seconds, dialled) as in the calls
# CSV of `callctl rate`. Peak and off-peak, bundle, unlimited, premium, Morocco, the world.
CLASSIC_CALLS = (
    ("2026-03-02T10:00:00+01:00", 600, "0033 1 42 68 53 00"),
    ("2026-03-03T20:00:00+01:00", 120, "02 234 56 78"),
    ("2026-03-04T09:00:00+01:00", 300, "0475 12 34 56"),
    ("2026-03-05T11:00:00+01:00", 90, "0903/12.34.5"),
    ("2026-03-06T14:00:00+01:00", 200, "+212 612345678"),
    ("2026-03-09T10:00:00+01:00", 45, "+81 3 1234 5678"),
    ("2026-03-12T12:30:00+01:00", 1, "070 245 245"),
)
REFUSED = ("2026-03-10T09:15:00+01:00", "0800-FLOWERS")  # invalid: refused 484, recorded
APRIL = ("2026-04-01T09:00:00+02:00", 60, "0475 12 34 56")
KLIK_CALLS = (("2026-03-02T11:00:00+01:00", 30, "02 234 56 78"),)


@dataclass
class Harness:
    client: TestClient[web.Request, web.Application]
    app: web.Application
    controller: Controller
    tokens: TokenStore
    read: str
    admin: str

    def auth(self, token: str | None) -> dict[str, str]:
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = "read",
        params: dict[str, str] | None = None,
        json: object = None,
        data: str | bytes | None = None,
    ) -> tuple[int, Any]:
        """Status and parsed JSON body (None when there is none)."""
        secret = {"read": self.read, "admin": self.admin}.get(token or "", token)
        response = await self.client.request(
            method, path, headers=self.auth(secret), params=params, json=json, data=data
        )
        async with response:
            body = await response.read()
            if not body:
                return response.status, None
            assert response.content_type == "application/json", (response.status, body[:200])
            return response.status, await response.json()

    async def text(self, path: str, params: dict[str, str] | None = None) -> str:
        response = await self.client.get(path, headers=self.auth(self.read), params=params)
        async with response:
            assert response.status == 200, await response.text()
            return await response.text()


def make_controller(store: Store) -> Controller:
    return Controller(store, default_tariff(), default_emergency_plan(), Clock.starting_at(NOW))


@asynccontextmanager
async def api(
    url: str, *, open_loopback: bool = True, features: Iterable[Feature] = FEATURES
) -> AsyncIterator[Harness]:
    """The app on ``url`` (migrated, empty), served on an ephemeral port."""
    engine = make_engine(url)
    try:
        controller = make_controller(Store(engine))
        agi = FastAgiServer(controller.handle, port=0)
        app = make_app(controller, agi, open_loopback=open_loopback, features=features)
        tokens = TokenStore(engine)
        _, read = await tokens.create("read", "tests")
        _, admin = await tokens.create("admin", "tests")
        async with TestClient(TestServer(app)) as client:
            yield Harness(client, app, controller, tokens, read, admin)
        assert app[SERVER_ERRORS].count == 0, "a request ended in an unexpected exception"
    finally:
        await engine.dispose()


def run_api(url: str, test: Callable[[Harness], Awaitable[None]], **kwargs: Any) -> None:
    async def main() -> None:
        async with api(url, **kwargs) as harness:
            await test(harness)

    asyncio.run(main())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def settle(controller: Controller, line: str, call: tuple[str, int, str], *, n: int) -> None:
    """A routed call that ended, decided and rated by the core as the controller does."""
    answered, billsec, dialled = call
    store = controller.store
    number_line = await store.get_line(line)
    assert number_line is not None
    c = controller.classifier(dialled)
    answered_at = at(answered)
    decided_at = answered_at.replace(second=0) if answered_at.second else answered_at
    usage = await store.get_usage(line, controller.rater.period_of(answered_at))
    decision = decide(c, number_line, usage, controller.tariff, controller.emergency)
    assert decision.routed, (dialled, decision.reason)
    key = CallKey(HOST, f"call-{n}")
    end = CallEnd(answered_at, Decimal(billsec), "ANSWER", 16)
    plan = line_plan(number_line, controller.tariff)
    settlement = Settlement(
        base_record(key, line, dialled, decision, decided_at), c, end, plan, controller.rater
    )
    _, written = await store.settle(key, line, settlement.period, settlement)
    assert written


async def seed(controller: Controller) -> None:
    """The example lines and a month of settled calls (plus a refusal and April)."""
    store = controller.store
    await store.upsert_lines(parse_lines_yaml(EXAMPLE_LINES.read_text("utf-8"), default_tariff()))
    calls = [(CLASSIC, *call) for call in (*CLASSIC_CALLS, APRIL)]
    calls += [(KLIK, *call) for call in KLIK_CALLS]
    calls.sort(key=lambda call: at(call[1]))  # R6: the bundle is drawn in order of end
    for n, (line, answered, billsec, dialled) in enumerate(calls):
        await settle(controller, line, (answered, billsec, dialled), n=n)
    when, dialled = REFUSED
    c = controller.classifier(dialled)
    decision = decide(c, None, Usage("2026-03"), controller.tariff, controller.emergency)
    record = refusal_record(
        CallKey(HOST, "refused"), CLASSIC, dialled, decision, at(when), period="2026-03"
    )
    assert await store.add_record(record)


def calls_csv(rows: Iterable[tuple[str, int, str]]) -> str:
    """The calls CSV of `callctl rate` for ``rows``."""
    lines = ["answered_at,billsec,dialled"]
    lines += [f"{answered},{billsec},{dialled}" for answered, billsec, dialled in rows]
    return "\n".join(lines) + "\n"
