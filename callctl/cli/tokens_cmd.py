"""``callctl tokens create|list|revoke``: bearer tokens of the REST API (docs/api.md).

``create`` prints the new token alone on stdout (``TOKEN=$(callctl tokens create --role
read)``), once: only its SHA-256 is stored. All three take ``--db URL`` like ``lines`` and
bring the schema up to date first. Problems go to stderr as ``callctl: …`` (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from callctl.cli.lines_cmd import db_argument, db_error, db_url, fail, shown_url
from callctl.cli.rate_report import emit_json
from callctl.cli.render import table
from callctl.store.db import make_engine
from callctl.store.migrate import migrate
from callctl.store.tokens import ROLES, Token, TokenStore

T = TypeVar("T")
LIST_COLUMNS = ("id", "name", "role", "created", "revoked")


def add_tokens_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``tokens create``, ``tokens list`` and ``tokens revoke``."""
    tokens = sub.add_parser("tokens", help="bearer tokens of the REST API")
    tokens_sub = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")

    p = tokens_sub.add_parser("create", help="make a token and print it (once)")
    p.add_argument("--role", required=True, choices=ROLES,
                   help="read: see everything; admin: also change lines")  # fmt: skip
    p.add_argument("--name", default="", help="who or what uses it (shown by list)")
    db_argument(p)
    p.set_defaults(func=cmd_tokens_create)

    p = tokens_sub.add_parser("list", help="every token (never the secret)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    db_argument(p)
    p.set_defaults(func=cmd_tokens_list)

    p = tokens_sub.add_parser("revoke", help="revoke a token at once")
    p.add_argument("id", type=int, metavar="ID", help="the token's id (from list)")
    db_argument(p)
    p.set_defaults(func=cmd_tokens_revoke)


def _run(url: str, action: Callable[[TokenStore], Awaitable[T]]) -> T:
    async def main() -> T:
        engine = make_engine(url)
        try:
            await migrate(engine)
            return await action(TokenStore(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _describe(token: Token) -> str:
    name = f" {token.name!r}" if token.name else ""
    return f"token {token.id}{name} ({token.role})"


def cmd_tokens_create(args: argparse.Namespace, out: TextIO) -> int:
    url = db_url(args)
    try:
        token, secret = _run(url, lambda store: store.create(args.role, args.name))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        return fail(db_error(url, exc))
    out.write(secret + "\n")
    print(
        f"callctl: {_describe(token)} created in {shown_url(url)}; it is shown only this once",
        file=sys.stderr,
    )
    return 0


def _json(token: Token) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "role": token.role,
        "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def cmd_tokens_list(args: argparse.Namespace, out: TextIO) -> int:
    url = db_url(args)
    try:
        tokens = _run(url, lambda store: store.list())
    except (SQLAlchemyError, OSError, ValueError) as exc:
        return fail(db_error(url, exc))
    if args.json:
        for token in tokens:
            emit_json(out, _json(token))
    elif tokens:
        rows = [
            [str(t.id), t.name or "-", t.role, f"{t.created_at:%Y-%m-%d %H:%M}Z",
             f"{t.revoked_at:%Y-%m-%d %H:%M}Z" if t.revoked_at else "-"]
            for t in tokens
        ]  # fmt: skip
        out.write(table(rows, LIST_COLUMNS) + "\n")
    else:
        out.write(f"no tokens in {shown_url(url)}\n")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, out: TextIO) -> int:
    url = db_url(args)
    try:
        token = _run(url, lambda store: store.revoke(args.id))
    except (SQLAlchemyError, OSError, ValueError) as exc:
        return fail(db_error(url, exc))
    if token is None:
        return fail(f"there is no token {args.id} in {shown_url(url)}")
    out.write(f"{_describe(token)} revoked\n")
    return 0
