"""The fraud guard in a real ``callctl serve`` (this process, real sockets, a SQLite file):
velocity limits held across concurrent decisions and finished calls, barring, and each
refusal's operator alert (the record's ``alert``, ``callctl_fraud_alerts_total``, an
``alert.fraud`` stream event); and the security log watcher writing the pjsip ACL.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

from callctl.core.fraud import AUTH_BLOCK, AUTH_UNBLOCK, AuthGuard
from callctl.data import default_tariff
from callctl.service.authwatch import ACL_SECTION, SecurityLogWatcher, acl_text
from callctl.service.metrics import Metrics
from callctl.service.observer import Observers
from callctl.service.stream import EventHub
from callctl.store import make_engine
from callctl.store.repository import Store
from tests.service_rig import hangup, route, service, session, sse
from tests.test_metrics import scrape, value

ABROAD = "+81 3 1234 5678"  # Japan, fixed: international, not barred
MAX_CALLS = 2
MAX_SECONDS = 1200


def small_limits(tmp_path: Path) -> str:
    """The shipped tariff with 2 calls abroad at once and 20 minutes an hour."""
    text = resources.files("callctl.data").joinpath("tariff.toml").read_text("utf-8")
    text = text.replace("max_simultaneous = 4\n", f"max_simultaneous = {MAX_CALLS}\n")
    text = text.replace("max_seconds = 14400 ", f"max_seconds = {MAX_SECONDS} ")
    path = tmp_path / "tariff.toml"
    path.write_text(text, "utf-8")
    return str(path)


def limit_ms(answer: str) -> int:
    return int(answer.split(",")[3])


async def records_of(db: str) -> dict[str, tuple[str | None, str | None]]:
    engine = make_engine(db)
    try:
        records = await Store(engine).list_records()
    finally:
        await engine.dispose()
    return {r.key.call_id: (r.alert, r.reason) for r in records}


def test_simultaneous_calls_abroad_over_the_limit_are_refused_with_an_alert(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with service(tmp_path, tariff=small_limits(tmp_path)) as svc:
            agi, http = svc.agi.port, svc.http_port
            async with session(svc) as client, sse(client, http) as events:
                await events.next()  # hello
                first = await route(agi, "v.1", ABROAD)
                second = await route(agi, "v.2", ABROAD)
                third = await route(agi, "v.3", ABROAD)
                assert first.startswith("route,carrier,+81312345678,")
                assert limit_ms(first) == MAX_SECONDS // MAX_CALLS * 1000  # its share
                assert limit_ms(second) == MAX_SECONDS // MAX_CALLS * 1000
                assert third.startswith("refuse,,,0,403,")
                # R9: an emergency call and a helpline still go through at once
                assert (await route(agi, "v.4", "112")).startswith("route,psap-112-")
                assert (await route(agi, "v.5", "1813")).startswith("route,carrier,1813")
                await asyncio.sleep(0.3)  # the refusal's record is written in a batch
                taken = await events.take(7)
                kinds = [e.type for e in taken if e.type != "record"]
                assert kinds == ["call.decided", "call.decided", "call.refused", "alert.fraud",
                                 "call.decided", "call.decided"]  # fmt: skip
                alert = next(e.data for e in taken if e.type == "alert.fraud")
                assert (alert["kind"], alert["call"]) == ("velocity_calls", "callctl-lab/v.3")
            samples = await scrape(http)
            assert value(samples, "callctl_fraud_alerts_total", kind="velocity_calls") == 1
            assert value(samples, "callctl_refusals_total", code="velocity_calls",
                         sip_code="403") == 1  # fmt: skip
            # One call ends: its slot is free again, its seconds still count.
            await hangup(agi, "v.1", ABROAD, answered_ms=100_000)
            fourth = await route(agi, "v.6", ABROAD)
            assert limit_ms(fourth) == (MAX_SECONDS - 600 - 100) * 1000
        recorded = await records_of(f"sqlite:///{tmp_path / 'callctl.db'}")
        assert recorded["v.3"] == (
            "velocity_calls", "fraud guard: at most 2 international calls at once on this line"
        )  # fmt: skip
        assert recorded["v.1"] == (None, None)

    asyncio.run(main())


def test_calls_whose_hangup_never_comes_are_forgotten_and_free_the_line(tmp_path: Path) -> None:
    """Asterisk restarted (or the hangup requests were turned away): two calls abroad never
    hang up here. Once they must be over (ring time + limit + grace), the controller's
    sweep forgets them: no longer in progress (nor on the stream's live list), their grants
    no longer held, so the line may call abroad again; a late hangup is still recorded."""

    async def main() -> None:
        async with service(tmp_path, tariff=small_limits(tmp_path)) as svc:
            agi, http, ctl = svc.agi.port, svc.http_port, svc.controller
            async with session(svc) as client, sse(client, http) as events:
                await events.next()  # hello
                assert (await route(agi, "f.1", ABROAD)).startswith("route,carrier,")
                assert (await route(agi, "f.2", ABROAD)).startswith("route,carrier,")
                assert (await route(agi, "f.3", ABROAD)).startswith("refuse,,,0,403,")
                decided = ctl.clock.now()
                # Each was granted 600 s: until 120 + 600 + 60 s after, it may be going on.
                assert ctl.sweep(decided + timedelta(seconds=120 + 600 + 59)) == 0
                assert (len(ctl.active), len(ctl.reserved)) == (2, 2)
                assert ctl.sweep(decided + timedelta(seconds=120 + 600 + 61)) == 2
                assert (len(ctl.active), len(ctl.reserved), ctl.forgotten) == (0, 0, 2)
                assert svc.hub.live == {}
                taken = await events.take(7)
                ended = sorted(e.data["call"] for e in taken if e.type == "call.ended")
                assert ended == ["callctl-lab/f.1", "callctl-lab/f.2"]
                assert all(e.data["forgotten"] for e in taken if e.type == "call.ended")
                assert (await route(agi, "f.4", ABROAD)).startswith("route,carrier,")
                assert "CALLCTL_RECORDED" in " ".join(await hangup(agi, "f.1", ABROAD))
            assert value(await scrape(http), "callctl_calls_forgotten_total") == 2
        recorded = await records_of(f"sqlite:///{tmp_path / 'callctl.db'}")
        assert set(recorded) == {"f.1", "f.3"}  # f.2 and f.4: reconcile's, or a later hangup

    asyncio.run(main())


def test_concurrent_decisions_never_grant_more_than_the_limits(tmp_path: Path) -> None:
    """Ten calls abroad decided at once: two routed, their grants within the cap."""

    async def main() -> None:
        async with service(tmp_path, tariff=small_limits(tmp_path)) as svc:
            agi = svc.agi.port
            answers = await asyncio.gather(*(route(agi, f"c.{i}", ABROAD) for i in range(10)))
            routed = [a for a in answers if a.startswith("route,")]
            assert len(routed) == MAX_CALLS
            assert sum(limit_ms(a) for a in routed) <= MAX_SECONDS * 1000
            assert all(a.startswith("refuse,,,0,403,") for a in answers if a not in routed)

    asyncio.run(main())


def test_minutes_used_in_the_window_refuse_the_next_call(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path, tariff=small_limits(tmp_path)) as svc:
            agi, http = svc.agi.port, svc.http_port
            assert (await route(agi, "m.1", ABROAD)).startswith("route,")
            await hangup(agi, "m.1", ABROAD, answered_ms=(MAX_SECONDS - 30) * 1000)
            assert (await route(agi, "m.2", "+33 1 42 68 53 00")).startswith("refuse,,,0,403,")
            assert (await route(agi, "m.3", "02 234 56 78")).startswith("route,")  # not abroad
            samples = await scrape(http)
            assert value(samples, "callctl_fraud_alerts_total", kind="velocity_minutes") == 1
            await asyncio.sleep(0.3)  # refusals are written in a batch
        recorded = await records_of(f"sqlite:///{tmp_path / 'callctl.db'}")
        alert, reason = recorded["m.2"]
        assert alert == "velocity_minutes"
        assert reason == (
            "fraud guard: this line used its 20 international minutes of the last 60 minutes"
        )

    asyncio.run(main())


def test_a_barred_satellite_number_is_refused_with_an_alert(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as svc:
            agi, http = svc.agi.port, svc.http_port
            async with session(svc) as client, sse(client, http) as events:
                await events.next()
                assert (await route(agi, "b.1", "+870 776 123456")).startswith("refuse,,,0,403,")
                refused, alert = await events.take(2)
            assert refused.data["refusal"] == "high_cost_barred"
            assert alert.type == "alert.fraud"
            assert alert.data["kind"] == "high_cost_barred"
            assert alert.data["line"] == "+3222000001"
            assert "satellite" in alert.data["reason"]
            samples = await scrape(http)
            assert value(samples, "callctl_fraud_alerts_total", kind="high_cost_barred") == 1

    asyncio.run(main())


# ----------------------------------------------------------------------------- watcher

T0 = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def line(kind: str, address: str, when: datetime) -> str:
    tv = when.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return (
        f'[x] SECURITY[1] res_security_log.c: SecurityEvent="{kind}",EventTV="{tv}",'
        f'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="3222000001",'
        f'SessionID="s",LocalAddress="IPV4/UDP/127.0.0.1/5060",'
        f'RemoteAddress="IPV4/UDP/{address}/5061"\n'
    )


def test_the_watcher_follows_the_log_writes_the_acl_and_reloads(tmp_path: Path) -> None:
    log_file = tmp_path / "security.log"
    acl = tmp_path / "pjsip_blocks.conf"
    reloads = tmp_path / "reloads"
    log_file.write_text(line("InvalidPassword", "192.0.2.1", T0) * 9)  # before start: ignored
    acl.write_text(acl_text(["192.0.2.99"]))  # left by a previous run
    clock = [T0]
    metrics, hub = Metrics(), EventHub()
    watcher = SecurityLogWatcher(
        AuthGuard(default_tariff().fraud.auth), log_file, Observers(metrics, hub),
        acl_file=acl, reload_command=f"sh -c 'echo reload >> {reloads}'", now=lambda: clock[0],
    )  # fmt: skip

    async def main() -> None:
        await watcher.start()
        assert ACL_SECTION not in acl.read_text()  # blocks end with the process
        with log_file.open("a") as f:
            f.write(line("SuccessfulAuth", "127.0.0.1", T0))
            for i in range(5):
                f.write(line("ChallengeResponseFailed", "127.0.0.1", T0 + timedelta(seconds=i)))
                f.write(line("ChallengeResponseFailed", "192.0.2.7", T0 + timedelta(seconds=i)))
            f.write(line("InvalidPassword", "192.0.2.8", T0)[:60])  # half a line so far
        alerts = await watcher.step()
        assert [(a.kind, a.address) for a in alerts] == [
            ("auth_failures_trusted", "127.0.0.1"), (AUTH_BLOCK, "192.0.2.7"),
        ]  # fmt: skip
        assert acl.read_text().endswith(f"[{ACL_SECTION}]\ntype = acl\ndeny = 192.0.2.7/32\n")
        assert os.stat(acl).st_mode & 0o777 == 0o644
        assert reloads.read_text().count("reload") == 2
        assert await watcher.step() == []  # nothing new: nothing written, no reload
        # Rotation: a new file is read from its start.
        log_file.rename(tmp_path / "security.log.1")
        log_file.write_text("".join(line("InvalidAccountID", "192.0.2.9", T0) for _ in range(5)))
        assert [a.kind for a in await watcher.step()] == [AUTH_BLOCK]
        assert "deny = 192.0.2.9/32" in acl.read_text()
        clock[0] = T0 + timedelta(hours=1)
        assert [a.kind for a in await watcher.step()] == [AUTH_UNBLOCK, AUTH_UNBLOCK]
        assert ACL_SECTION not in acl.read_text()
        await watcher.close()

    asyncio.run(main())
    samples = {s.name + str(s.labels): s.value for f in metrics.registry.collect()
               for s in f.samples}  # fmt: skip
    assert samples["callctl_fraud_alerts_total{'kind': 'auth_block'}"] == 2
    assert samples["callctl_blocked_addresses{}"] == 0
    kinds = [e.data()["kind"] for e in hub.ring if e.type == "alert.fraud"]
    assert kinds == ["auth_failures_trusted", "auth_block", "auth_block", "auth_unblock",
                     "auth_unblock"]  # fmt: skip
