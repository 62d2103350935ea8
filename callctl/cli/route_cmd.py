"""``callctl route --lines LINES.yaml [--json] INVITE_FILE``: the decision for a captured INVITE.

The same decision code as the live controller (R1, R2, R5, R7, R9), fed from the request
as captured on the wire: the line is the P-Asserted-Identity user (else From), the dialled
number the Request-URI user, percent-decoded.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from callctl.cli.lines_cmd import EXIT_DATA
from callctl.cli.rate_report import emit_json
from callctl.core.lines import Line
from callctl.core.policy import Decision
from callctl.core.tariff import Tariff
from callctl.data import default_tariff, read_tariff
from callctl.sip.captured import CapturedDecider
from callctl.sip.message import SipParseError, SipRequest, parse_request
from callctl.store.lines_yaml import LinesFileError, parse_lines_yaml

MAX_FILE_BYTES = 1 << 20


def add_route_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("route", help="what callctl decides for a captured SIP INVITE (R9)")
    p.add_argument("invite", metavar="INVITE_FILE", help="one SIP request as on the wire")
    p.add_argument("--lines", required=True, metavar="LINES.yaml", help="format: docs/lines.md")
    p.add_argument("--json", action="store_true", help="one JSON object")
    p.set_defaults(func=cmd_route)


def route_request(request: SipRequest, lines: list[Line], tariff: Tariff) -> dict[str, Any]:
    decider = CapturedDecider(lines, tariff)
    call = decider.read(request)
    # An offline decision has no usage history: counters start empty (no fair-use pause).
    decision = decider.decide(call, request)
    return decision_json(decision, call.dialled, call.caller, call.line)


def decision_json(d: Decision, dialled: str, user: str | None, line: Line | None) -> dict[str, Any]:
    c = d.classification
    loc = d.location
    emergency = c.group == "emergency"
    trusted: bool | None = loc.trusted if loc else None
    source: str | None = loc.source if loc else None
    reasons = list(loc.reasons) if loc else []
    if emergency and loc is None and d.centres is not None:  # a fixed line: its address
        trusted, source = True, "declared_address"
        reasons = [f"province {d.centres.province} from the installation address"]
    if not d.routed and d.reason:
        reasons.append(d.reason)
    return {
        "action": d.action,
        "group": c.group,
        "target": d.trunk if d.routed else None,
        "number": d.number if d.routed else None,
        "sip_code": d.sip_code,
        "limit_seconds": d.limit_seconds,
        "location_trusted": trusted if emergency else None,
        "location_source": source if emergency else None,
        "province": d.centres.province if d.centres else None,
        "reasons": reasons,
        "dialled": dialled,
        "line": line.number if line else None,
        "caller": user,
        "clir": c.clir,
        "withhold_caller_id": d.withhold_caller_id,
    }


def cmd_route(args: argparse.Namespace, out: TextIO) -> int:
    tariff = default_tariff() if args.tariff is None else read_tariff(args.tariff)
    try:
        lines = parse_lines_yaml(Path(args.lines).read_text("utf-8"), tariff)
        with open(args.invite, "rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise SipParseError(f"{args.invite} is larger than {MAX_FILE_BYTES} bytes")
        request = parse_request(data)
        if request.method != "INVITE":
            raise SipParseError(f"a {request.method} request, not an INVITE")
    except (OSError, LinesFileError, SipParseError) as exc:
        what = "not a SIP request: " if isinstance(exc, SipParseError) else ""
        print(f"callctl: {args.invite}: {what}{exc}", file=sys.stderr)
        return EXIT_DATA
    result = route_request(request, lines, tariff)
    if args.json:
        emit_json(out, result)
        return 0
    target = result["target"] or f"refused {result['sip_code']}"
    out.write(f"{result['dialled']} from {result['line'] or result['caller']}: "
              f"{result['group']} -> {target}\n")  # fmt: skip
    if result["location_trusted"] is not None:
        trust = "trusted" if result["location_trusted"] else "NOT trusted"
        out.write(f"  location {trust} ({result['location_source']}), "
                  f"province {result['province']}\n")  # fmt: skip
    for reason in result["reasons"]:
        out.write(f"  - {reason}\n")
    return 0
