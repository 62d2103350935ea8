"""A restarted Asterisk sends no hangup for the calls it dropped: callctl forgets them when
the channel numbers start again (docs/operations.md, "Asterisk restarted")."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callctl.pbx.agi_peers import HOST
from callctl.service.controller import channel_number
from tests.service_rig import route, service

BELGIAN = "022345678"
RUN1 = 1_795_000_000  # the second the first run of Asterisk created its channels in
RUN2 = RUN1 + 30  # after its restart


def uid(epoch: int, number: int) -> str:
    return f"{HOST}-{epoch}.{number}"


def test_channel_number() -> None:
    assert channel_number("callctl-lab-1795689652.473") == (1795689652, 473)
    assert channel_number("1795689652.7") == (1795689652, 7)
    assert channel_number("not-an-asterisk-id") is None
    assert channel_number("x.1") is None


def test_calls_of_an_asterisk_that_restarted_are_forgotten(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as svc:
            port, active = svc.agi.port, svc.controller.active
            for n in (50, 52, 54):
                assert (await route(port, uid(RUN1, n), BELGIAN)).startswith("route,")
            # A little out of order within one run: nothing is forgotten.
            assert (await route(port, uid(RUN1, 48), BELGIAN)).startswith("route,")
            assert len(active) == 4
            # Lower numbers from a later second: a new run. The old run's calls are gone.
            assert (await route(port, uid(RUN2, 3), BELGIAN)).startswith("route,")
            assert [k.call_id for k in active] == [uid(RUN2, 3)]
            # The new run goes on as usual, its requests a little out of order too.
            assert (await route(port, uid(RUN2 + 1, 6), BELGIAN)).startswith("route,")
            assert (await route(port, uid(RUN2, 4), BELGIAN)).startswith("route,")
            assert len(active) == 3

    asyncio.run(main())
