"""``/metrics``: the controller's counters move as real FastAGI requests are decided and
recorded by a real ``callctl serve`` (in this process, on real sockets and a SQLite file)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from callctl.pbx.agi_peers import env_block, route_args
from callctl.service.metrics import Metrics
from tests.service_rig import agi_request, call, hangup, route, service

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(port: int) -> Samples:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as resp,
    ):
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_decisions_records_and_errors(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as svc:
            agi, http = svc.agi.port, svc.http_port
            before = await scrape(http)
            assert value(before, "callctl_decisions_total", outcome="route") == 0
            assert value(before, "callctl_active_calls") == 0

            assert (await route(agi, "m.1", "022345678")).startswith("route,carrier,")
            assert (await route(agi, "m.2", "112")).startswith("route,psap-112-brussels,")
            assert (await route(agi, "m.3", "0900123")).startswith("refuse,")  # R1: too short
            assert (await route(agi, "m.4", "077123456789")).startswith("refuse,")  # R5: M2M
            bad = route_args("022345678")
            bad[0] = "not base64!"
            assert await agi_request(agi, env_block("route", "m.5", bad)) == []

            mid = await scrape(http)
            assert value(mid, "callctl_active_calls") == 2
            assert value(mid, "callctl_decisions_total", outcome="route") == 1
            assert value(mid, "callctl_decisions_total", outcome="emergency") == 1
            assert value(mid, "callctl_decisions_total", outcome="refuse") == 2
            assert value(mid, "callctl_decision_seconds_count") == 4
            assert 0 < value(mid, "callctl_decision_seconds_sum") < 4 * 1.5
            assert value(mid, "callctl_refusals_total", code="invalid_number", sip_code="484") == 1
            assert value(mid, "callctl_refusals_total", code="number_barred", sip_code="403") == 1
            # R9: a fixed line's location is its installation address, trusted
            assert value(mid, "callctl_emergency_calls_total", location="trusted") == 1
            assert value(mid, "callctl_agi_errors_total", kind="bad_request") == 1
            assert value(mid, "callctl_agi_sessions_total") == 5

            await hangup(agi, "m.1", "022345678")
            await hangup(agi, "m.2", "112")
            await asyncio.sleep(0.3)  # refusals are written in a batch within 50 ms
            after = await scrape(http)
            assert value(after, "callctl_active_calls") == 0
            assert value(after, "callctl_records_written_total", kind="settle") == 2
            assert value(after, "callctl_records_written_total", kind="batch") == 2
            assert value(after, "callctl_record_write_seconds_count", kind="settle") == 2
            assert value(after, "callctl_record_write_seconds_count", kind="batch") >= 1
            assert value(after, "callctl_record_write_seconds_sum", kind="settle") > 0
            assert value(after, "callctl_stream_clients") == 0
            assert value(after, "callctl_agi_errors_total", kind="deadline") == 0

            await call(agi, "m.6", "0470123456")
            last = await scrape(http)
            assert value(last, "callctl_decisions_total", outcome="route") == 2
            assert value(last, "callctl_records_written_total", kind="settle") == 3
            # the process's own resources, as the soak samples them (docs/operations.md)
            assert value(last, "process_resident_memory_bytes") > 10 * 1024 * 1024
            assert 0 < value(last, "process_open_fds") < value(last, "process_max_fds")
            assert value(last, "process_cpu_seconds_total") > 0

    asyncio.run(main())


def test_two_metrics_objects_in_one_process_do_not_collide() -> None:
    one, two = Metrics(), Metrics()
    one.bad_request("route")
    one.decisions.labels("route").inc()
    assert b'callctl_decisions_total{outcome="route"} 1.0' in one.exposition()
    assert b'callctl_decisions_total{outcome="route"} 0.0' in two.exposition()
