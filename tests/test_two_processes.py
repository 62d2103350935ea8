"""Two ``callctl serve`` on one database: a hangup that reaches the process that did not
decide the call (the dialplan sends it there when the decider does not confirm the record,
docs/operations.md "Two callctl processes") is rated as the decider would have, once (R10).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from callctl.core.records import CallKey
from callctl.pbx.agi_peers import HOST, env_block, hangup_args
from tests.live.test_calls import amount
from tests.service_rig import PEAK, agi_request, route, service

ZONE = "+33142685300"


def test_the_other_process_rates_a_hangup_it_did_not_decide(tmp_path: Path) -> None:
    async def main() -> None:
        async with service(tmp_path) as decider, service(tmp_path) as other:
            answer = await route(decider.agi.port, "h.1", ZONE)
            assert answer.startswith("route,carrier,+33142685300,")
            # The decider missed the hangup: the dialplan asks the other process, with the
            # time it asked for the decision as the last argument.
            ended = time.time()
            asked = ended - 65
            args = [*hangup_args(f"{ended:.6f}", 61_000, "ANSWER", ZONE), f"{asked:.6f}"]
            done = await agi_request(other.agi.port, env_block("hangup", "h.1", args))
            assert done == ['SET VARIABLE "CALLCTL_RECORDED" "1"']
            record = await other.controller.store.get_record(CallKey(HOST, "h.1"))
            assert record is not None
            # Rated as at the decider: a Classic line at peak, zone price and setup fee (R5).
            assert (record.group, record.target, record.billsec) == ("zone", "carrier", 61)
            assert (record.bundle_seconds, record.charged_seconds) == (0, 61)
            assert record.amount == amount("0.58", 61, setup="0.08")
            # Decided when the dialplan asked (on the service's test clock), not at the end.
            expected = other.controller.clock.shift(datetime.fromtimestamp(asked, UTC))
            assert abs((record.decided_at - expected).total_seconds()) < 0.01
            assert record.decided_at < datetime.fromisoformat(PEAK)  # 65 s before "now"
            # The same hangup reaching the decider afterwards changes nothing.
            again = await agi_request(decider.agi.port, env_block("hangup", "h.1", args))
            assert again == ['SET VARIABLE "CALLCTL_RECORDED" "1"']
            assert await decider.controller.store.get_record(CallKey(HOST, "h.1")) == record
            assert decider.controller.active == {}
            usage = await other.controller.store.get_usage("+3222000001", record.period or "")
            assert usage.bundle_seconds == 0  # R6: a Classic line has no peak zone bundle

    asyncio.run(main())
