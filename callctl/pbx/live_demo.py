"""``callctl demo --live``: real calls through the test PBX, and the records callctl wrote.

Brings the test PBX up with the lab lines, starts ``callctl serve`` on a fresh SQLite file
with a test clock (a weekday at 10:00, so peak prices apply), places a handful of calls
with SIPp from the lab lines, prints their rated records, then stops what it started.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from callctl.cli.render import table
from callctl.core.tariff import Tariff
from callctl.pbx.lab import Lab
from callctl.pbx.serve_process import ServeProcess
from callctl.pbx.session import read_records, setup_db
from callctl.pbx.sipp import FarEnd, UacCall, place_call
from callctl.store.lines_yaml import parse_lines_yaml

LAB_LINES = Path(__file__).resolve().parents[2] / "dialplan" / "lab-lines.yaml"
CLOCK = "2026-11-26T10:00:00+01:00"

# (line, dialled, expected SIP final code, seconds held)
CALLS = (
    ("+3222000001", "022345678", 200, 3.0),
    ("+3222000001", "+33142685300", 200, 2.0),
    ("+3222000001", "0903 12 345", 200, 1.0),
    ("+3222000001", "112", 200, 1.0),
    ("+3222000001", "0800FLOWERS", 484, 0.0),
    ("+3292000003", "+212612345678", 200, 2.0),
    ("+3242000014", "+33142685300", 403, 0.0),
)
FAR_ENDS = ("carrier", "psap-112-brussels")


def run_live_demo(tariff: Tariff, out: TextIO) -> None:
    lab = Lab()
    lines = parse_lines_yaml(LAB_LINES.read_text(), tariff)
    out.write("Bringing the test PBX up (the first time builds Asterisk: about a minute)...\n")
    creds = {c.number: c for c in lab.up(lines)}
    with tempfile.TemporaryDirectory(prefix="callctl-demo-") as tmp, ExitStack() as stack:
        db = f"sqlite:///{Path(tmp) / 'demo.db'}"
        asyncio.run(setup_db(db, lines))
        server = ServeProcess(db, CLOCK, Path(tmp)).start()
        stack.callback(server.stop)
        for trunk in FAR_ENDS:
            stack.enter_context(FarEnd(lab.trunk_address(trunk)))
        time.sleep(0.3)
        out.write(f"callctl serving with a test clock at {CLOCK}; placing {len(CALLS)} calls\n")
        for line, dialled, expect, hold in CALLS:
            cred = creds[line]
            spec = UacCall(dialled.replace(" ", ""), expect=expect, hold_ms=int(hold * 1000))
            result = place_call(spec, cred.username, cred.password)
            status = "ok" if result.returncode == 0 else f"SIPp exit {result.returncode}"
            out.write(f"  {line} -> {dialled:<16} expect {expect}: {status}\n")
        rows = [
            [r.line, r.dialled, r.group, r.action, r.target or "-", str(r.sip_code or "-"),
             r.disposition, str(r.billsec), str(r.amount), r.reason or ""]
            for r in asyncio.run(read_records(db))
        ]  # fmt: skip
        out.write("\nCall records written by callctl (R10):\n")
        header = ("line", "dialled", "group", "action", "target", "sip", "disposition",
                  "billsec", "amount", "reason")  # fmt: skip
        out.write(table(rows, header) + "\n")
    lab.down()
    out.write("\nTest PBX stopped. Start it again with: callctl pbx up\n")
