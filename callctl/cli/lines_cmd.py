"""``callctl lines import LINES.yaml`` and ``callctl lines list [--json]``: the lines store.

Both take ``--db URL`` (default: ``$CALLCTL_DB``, else ``sqlite:///callctl.db``) and bring
the database schema up to date first. A problem with the file or the database is printed
on stderr as ``callctl: …`` and the command returns 1, with nothing on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from callctl.cli.rate_report import emit_json
from callctl.cli.render import table
from callctl.core.lines import Line
from callctl.core.tariff import Tariff
from callctl.data import default_tariff, read_tariff
from callctl.store.db import DEFAULT_URL, make_engine
from callctl.store.lines_yaml import LinesFileError, parse_lines_yaml
from callctl.store.lines_yaml import line_mapping as line_json
from callctl.store.migrate import migrate
from callctl.store.repository import Store

ENV_DB = "CALLCTL_DB"
EXIT_DATA = 1
LIST_COLUMNS = (
    "number",
    "product",
    "options",
    "install address",
    "networks",
    "licences",
    "paused",
)


def add_lines_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lines import`` and ``lines list`` on the ``callctl`` subcommands."""
    lines = sub.add_parser("lines", help="the lines the controller serves (store)")
    lines_sub = lines.add_subparsers(dest="lines_command", required=True, metavar="ACTION")

    p = lines_sub.add_parser("import", help="add or replace the lines of a YAML file")
    p.add_argument("file", metavar="LINES.yaml", help="format: docs/lines.md")
    db_argument(p)
    p.set_defaults(func=cmd_lines_import)

    p = lines_sub.add_parser("list", help="the stored lines, by number")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    db_argument(p)
    p.set_defaults(func=cmd_lines_list)


def db_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help=f"database URL (default: ${ENV_DB}, else {DEFAULT_URL})",
    )


def db_url(args: argparse.Namespace) -> str:
    """The database of the command: ``--db``, else ``$CALLCTL_DB``, else the default."""
    given: str | None = getattr(args, "db", None)
    return given or os.environ.get(ENV_DB) or DEFAULT_URL


def cmd_lines_import(args: argparse.Namespace, out: TextIO) -> int:
    """Check the whole file, then upsert its lines; prints one summary line."""
    url = db_url(args)
    try:
        text = Path(args.file).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}")
    try:
        lines = parse_lines_yaml(text, _tariff(args))
    except LinesFileError as exc:
        return fail(f"{args.file}: {exc}")
    try:
        new, total = asyncio.run(_import(url, lines))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        return fail(db_error(url, exc))
    out.write(
        f"{total} line{'s' if total != 1 else ''} imported into {shown_url(url)} "
        f"({new} new, {total - new} replaced)\n"
    )
    return 0


def cmd_lines_list(args: argparse.Namespace, out: TextIO) -> int:
    """Print the stored lines as a table, or one JSON object per line."""
    url = db_url(args)
    try:
        lines = asyncio.run(_list(url))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        return fail(db_error(url, exc))
    if args.json:
        for line in lines:
            emit_json(out, line_json(line))
    elif lines:
        out.write(table([_row(line) for line in lines], LIST_COLUMNS) + "\n")
    else:
        out.write(f"no lines in {shown_url(url)}\n")
    return 0


def _row(line: Line) -> list[str]:
    address = line.install_address
    where = "-" if address is None else f"{address.street}, {address.postal_code} {address.city}"
    return [
        line.number,
        line.product,
        ",".join(line.options) or "-",
        where,
        ",".join(line.site_networks) or "-",
        ",".join(line.licences) or "-",
        "yes" if line.paused else "no",
    ]


async def _import(url: str, lines: list[Line]) -> tuple[int, int]:
    engine = make_engine(url)
    try:
        await migrate(engine)
        store = Store(engine)
        known = {line.number for line in await store.list_lines()}
        total = await store.upsert_lines(lines)
        return sum(1 for line in lines if line.number not in known), total
    finally:
        await engine.dispose()


async def _list(url: str) -> list[Line]:
    engine = make_engine(url)
    try:
        await migrate(engine)
        return await Store(engine).list_lines()
    finally:
        await engine.dispose()


def _tariff(args: argparse.Namespace) -> Tariff:
    path: str | None = getattr(args, "tariff", None)  # callctl --tariff FILE
    return default_tariff() if path is None else read_tariff(path)


def shown_url(url: str) -> str:
    """The URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def db_error(url: str, exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    first = str(cause).strip().splitlines()
    return f"database {shown_url(url)}: {first[0] if first else type(cause).__name__}"


def fail(message: str) -> int:
    print(f"callctl: {message}", file=sys.stderr)
    return EXIT_DATA
