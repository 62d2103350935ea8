"""``callctl serve``, ``callctl pbx up|down|status|audit`` and ``callctl reconcile``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import TextIO

from callctl.cli.lines_cmd import ENV_DB, EXIT_DATA
from callctl.data import default_tariff, read_tariff
from callctl.pbx.audit import AuditError, audit_lab
from callctl.pbx.lab import Lab, LabError
from callctl.service.config import ConfigError, load_settings
from callctl.service.reconcile import CdrFileError, reconcile
from callctl.service.serve import serve
from callctl.store.db import DEFAULT_URL, make_engine
from callctl.store.lines_yaml import LinesFileError, parse_lines_yaml
from callctl.store.migrate import migrate
from callctl.store.repository import Store
from callctl.store.spool import SpoolError

LAB_LINES = Path(__file__).resolve().parents[2] / "dialplan" / "lab-lines.yaml"
EXIT_FINDINGS = 3  # callctl pbx audit: a scanner found something
EXIT_INCOMPLETE = 4  # callctl pbx audit: a check could not be made (so nothing is proven)


def add_live_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run the FastAGI controller and the HTTP server")
    p.add_argument("--config", metavar="FILE", help="settings file (TOML, table [callctl])")
    p.add_argument("--db", metavar="URL", help="database (default sqlite:///callctl.db)")
    p.add_argument("--agi-port", type=int, metavar="PORT", help="FastAGI port (4573)")
    p.add_argument("--http-port", type=int, metavar="PORT", help="HTTP port (8080)")
    p.add_argument("--clock", metavar="ISO", help="test clock: what time it is at start")
    p.add_argument("--spool", metavar="FILE",
                   help="durable spool of writes the database did not take (SQLite file; "
                        "default callctl-spool-<digest>.db next to a SQLite database, else "
                        "in the working directory)")  # fmt: skip
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("pbx", help="the test PBX: a real Asterisk in a Debian chroot")
    p.add_argument("action", choices=("up", "down", "status", "audit"),
                   help="audit: scan the running PBX with sipvicious")  # fmt: skip
    p.add_argument(
        "--lines", metavar="LINES.yaml", default=str(LAB_LINES),
        help="lines to make SIP endpoints (default: dialplan/lab-lines.yaml)",
    )  # fmt: skip
    p.add_argument("--wordlist", metavar="FILE",
                   help="audit: more passwords for svcrack to try, one a line")  # fmt: skip
    p.set_defaults(func=cmd_pbx)

    p = sub.add_parser("reconcile", help="rate the calls of Asterisk's CDR file callctl missed")
    p.add_argument("cdr", metavar="ASTERISK_CDR.csv")
    p.add_argument("--db", metavar="URL", help=f"database (default ${ENV_DB} or {DEFAULT_URL})")
    p.set_defaults(func=cmd_reconcile)


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    del out
    try:
        settings = load_settings(
            args.config,
            overrides={"db": args.db, "agi_port": args.agi_port, "http_port": args.http_port,
                       "clock": args.clock, "tariff": args.tariff, "spool": args.spool},
        )  # fmt: skip
    except ConfigError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_DATA
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        asyncio.run(serve(settings))
    except SpoolError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_DATA
    return 0


def cmd_pbx(args: argparse.Namespace, out: TextIO) -> int:
    lab = Lab()
    try:
        if args.action == "up":
            tariff = default_tariff() if args.tariff is None else read_tariff(args.tariff)
            lines = parse_lines_yaml(Path(args.lines).read_text("utf-8"), tariff)
            creds = lab.up(lines)
            out.write(f"test PBX up: {lab.status()['version']}, {len(creds)} SIP accounts; "
                      f"passwords in {lab.credentials_file}\n")  # fmt: skip
        elif args.action == "down":
            lab.down()
            out.write("test PBX down\n")
        elif args.action == "audit":
            return _audit(lab, args.wordlist, out)
        else:
            out.write(json.dumps(lab.status()) + "\n")
    except (LabError, LinesFileError, OSError) as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_DATA
    return 0


def _audit(lab: Lab, wordlist: str | None, out: TextIO) -> int:
    """Exit 0 when nothing is found, 3 with findings, 4 when a check could not run."""
    if not lab.running():
        raise LabError("the test PBX is not running: callctl pbx up")
    words = Path(wordlist).read_text("utf-8").split() if wordlist else []
    try:
        report = audit_lab(lab, extra_passwords=words)
    except AuditError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_INCOMPLETE
    out.write(report.render())
    if report.findings:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if report.problems else 0


def cmd_reconcile(args: argparse.Namespace, out: TextIO) -> int:
    tariff = default_tariff() if args.tariff is None else read_tariff(args.tariff)
    url = args.db or os.environ.get(ENV_DB, DEFAULT_URL)

    async def run() -> str:
        engine = make_engine(url)
        try:
            await migrate(engine)
            r = await reconcile(args.cdr, Store(engine), tariff)
        finally:
            await engine.dispose()
        return (f"{r.calls} routed calls in {r.rows} CDR calls: {r.already_recorded} already "
                f"recorded, {r.recorded} recorded now, {r.skipped} not routed\n")  # fmt: skip

    try:
        out.write(asyncio.run(run()))
    except CdrFileError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_DATA
    return 0
