"""The dashboard's page and JSON (``/``, ``/v1/dashboard/summary``, ``/v1/dashboard/lines``)
after real FastAGI calls, and the authorization seam the REST API's tokens plug into."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from callctl.core.records import CallKey, CallRecord
from callctl.service.dashboard import day_bounds, summarise
from tests.service_rig import call, route, service, session, token_of

CLASSIC = "+3222000001"


async def get_json(http: aiohttp.ClientSession, port: int, path: str) -> Any:
    async with http.get(f"http://127.0.0.1:{port}{path}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


def test_summary_and_lines_after_real_calls(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as svc, session(svc) as http:
            agi, port = svc.agi.port, svc.http_port
            empty = await get_json(http, port, "/v1/dashboard/summary")
            assert empty["day"] == "2026-11-26"  # the test clock's day, Europe/Brussels
            assert empty["totals"]["calls"] == 0
            assert empty["stream_after"] == svc.hub.position
            await call(agi, "d.1", "022345678")  # routed, answered 2 s: €0.0057 (R5 peak)
            await call(agi, "d.2", "+33142685300")  # zone: setup €0.08 + 2 s at €0.58/min
            await call(agi, "d.3", "112")  # emergency, free
            await call(agi, "d.4", "0900123")  # refused 484
            assert (await route(agi, "d.5", "0470123456")).startswith("route,")  # in progress
            await asyncio.sleep(0.3)  # the refusal's batch
            s = await get_json(http, port, "/v1/dashboard/summary")
            t = s["totals"]
            assert (t["calls"], t["answered"], t["refused"], t["emergency"]) == (4, 3, 1, 1)
            assert Decimal(t["amount"]) == Decimal("0.0057") + Decimal("0.0993")
            assert s["by_hour"][10]["calls"] == 4  # 10:00 local on the test clock
            assert sum(h["calls"] for h in s["by_hour"]) == 4
            assert set(s["by_group"]) == {"be_fixed", "zone", "emergency", "invalid"}
            assert s["by_group"]["zone"]["amount"] == "0.0993"
            assert [r["dialled"] for r in s["refusals"]] == ["0900123"]
            assert [r["sip_code"] for r in s["refusals"]] == [484]
            [emergency] = s["emergency"]
            assert (emergency["target"], emergency["location_trusted"]) == (
                "psap-112-brussels", True,
            )  # fmt: skip
            assert [c["call"] for c in s["live"]] == ["callctl-lab/d.5"]
            assert {"callctl-lab/d.1", "callctl-lab/d.4"} <= set(s["latest"])

            lines = await get_json(http, port, "/v1/dashboard/lines")
            assert lines["period"] == "2026-11"
            by_number = {line["number"]: line for line in lines["lines"]}
            classic = by_number[CLASSIC]
            assert classic["product"] == "classic"
            # Classic: zone bundle and unlimited Belgian calls off-peak only, so the peak
            # calls above drew nothing (R6, R7), but both limits apply to the line.
            assert (classic["bundle_seconds"], classic["bundle_limit"]) == (0, 120_000)
            assert (classic["fair_use_seconds"], classic["fair_use_limit"]) == (0, 1_800_000)
            paused = [n for n, line in by_number.items() if line["paused"]]
            assert paused == ["+3265000005"]

            async with http.get(f"http://127.0.0.1:{port}/") as resp:
                assert resp.status == 200
                page = await resp.text()
            assert "/static/dashboard.js" in page
            for asset in ("dashboard.js", "dashboard.css"):
                async with http.get(f"http://127.0.0.1:{port}/static/{asset}") as resp:
                    assert resp.status == 200, asset
                    assert "http://" not in (await resp.text()).replace(
                        "http://www.w3.org/2000/svg", ""
                    )  # no CDN, nothing from outside

    asyncio.run(main())


def record(group: str, hour: int, amount: str, action: str = "route") -> CallRecord:
    return CallRecord(
        key=CallKey("pbx", f"{group}-{hour}-{amount}"), line=CLASSIC, dialled="x", e164=None,
        group=group, country=None, clir=False, action=action, target=None, sip_code=None,
        reason=None, decided_at=datetime(2026, 3, 29, hour, tzinfo=UTC),
        disposition="REFUSED" if action == "refuse" else "ANSWERED", amount=Decimal(amount),
    )  # fmt: skip


def test_summary_hours_are_local_across_a_dst_change() -> None:
    """29 March 2026: Brussels moves from UTC+1 to UTC+2 at 01:00 UTC."""
    start, end = day_bounds(datetime(2026, 3, 29, 12, tzinfo=UTC), "Europe/Brussels")
    assert (start.isoformat(), (end.astimezone(UTC) - start).total_seconds()) == (
        "2026-03-29T00:00:00+01:00", 23 * 3600,
    )  # fmt: skip
    s = summarise(
        [record("be_fixed", 0, "0.1000"), record("be_fixed", 2, "0.0500"),
         record("invalid", 2, "0.0000", action="refuse")],
        "Europe/Brussels",
    )  # fmt: skip
    assert [h["calls"] for h in s["by_hour"]][:5] == [0, 1, 0, 0, 2]
    assert s["totals"]["amount"] == "0.1500"
    assert s["by_group"]["be_fixed"] == {"calls": 2, "billsec": 0, "amount": "0.1500"}
    assert len(s["refusals"]) == 1


def test_the_page_is_open_its_data_needs_a_token_and_the_stream_takes_it_as_a_parameter(
    tmp_path: Path,
) -> None:
    """The page and its files carry no data; the dashboard's JSON needs a read token in the
    header; only the stream (EventSource cannot set headers) also takes ``?token=``."""

    async def main() -> None:
        async with service(tmp_path) as svc, aiohttp.ClientSession() as anon:
            base, token = f"http://127.0.0.1:{svc.http_port}", token_of(svc)
            for path in ("/", "/static/dashboard.js"):
                async with anon.get(base + path) as resp:
                    assert resp.status == 200, path
            async with anon.get(base + "/v1/dashboard/summary") as resp:
                assert resp.status == 401
                assert (await resp.json())["error"]["code"] == "unauthorized"
            params = {"token": token}
            async with anon.get(base + "/v1/dashboard/summary", params=params) as resp:
                assert resp.status == 401  # not in the query, except for the stream
            auth = {"Authorization": f"Bearer {token}"}
            async with anon.get(base + "/v1/dashboard/summary", headers=auth) as resp:
                assert resp.status == 200
            async with anon.get(base + "/v1/stream", params={"token": "cct_nope"}) as resp:
                assert resp.status == 401
            async with anon.get(base + "/v1/stream", params=params) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("text/event-stream")
            async with anon.get(base + "/v1/stream", params={"after": "x", **params}) as resp:
                assert (resp.status, (await resp.json())["error"]["code"]) == (400, "bad_request")

    asyncio.run(main())
