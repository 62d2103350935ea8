"""``callctl tokens create|list|revoke`` on a real database: the secret is printed once,
only its hash is stored, and a revoked token no longer opens the API."""

from __future__ import annotations

import asyncio
import io
import json
from contextlib import redirect_stderr
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from callctl.cli.main import main
from callctl.store import make_engine
from callctl.store.models import ApiTokenRow
from callctl.store.tokens import TokenStore, token_hash


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        code = main(list(argv), out=out)
    return code, out.getvalue(), err.getvalue()


async def _stored(url: str) -> list[ApiTokenRow]:
    engine = make_engine(url)
    try:
        async with async_sessionmaker(engine)() as session:
            return list(await session.scalars(select(ApiTokenRow)))
    finally:
        await engine.dispose()


async def _check(url: str, secret: str) -> bool:
    engine = make_engine(url)
    try:
        return await TokenStore(engine).check(secret) is not None
    finally:
        await engine.dispose()


def test_tokens_are_created_listed_and_revoked(db: str) -> None:
    code, secret, err = run("tokens", "create", "--role", "admin", "--name", "ops", "--db", db)
    assert code == 0
    secret = secret.strip()
    assert secret.startswith("cct_")
    assert len(secret) >= 4 + 43  # 32 random bytes in base64url
    assert "shown only this once" in err
    rows = asyncio.run(_stored(db))
    assert [(r.name, r.role) for r in rows] == [("ops", "admin")]
    assert rows[0].token_sha256 == token_hash(secret)  # only the hash is kept
    assert secret not in repr(rows)
    assert asyncio.run(_check(db, secret))

    code, _, _ = run("tokens", "create", "--role", "read", "--db", db)
    assert code == 0
    code, listed, _ = run("tokens", "list", "--db", db)
    assert code == 0
    assert "ops" in listed
    assert secret not in listed
    code, listed, _ = run("tokens", "list", "--json", "--db", db)
    tokens = [json.loads(line) for line in listed.splitlines()]
    assert [(t["id"], t["role"], t["revoked_at"]) for t in tokens] == [
        (1, "admin", None),
        (2, "read", None),
    ]

    code, out, _ = run("tokens", "revoke", "1", "--db", db)
    assert (code, out) == (0, "token 1 'ops' (admin) revoked\n")
    assert not asyncio.run(_check(db, secret))
    code, listed, _ = run("tokens", "list", "--json", "--db", db)
    assert json.loads(listed.splitlines()[0])["revoked_at"] is not None

    code, out, err = run("tokens", "revoke", "99", "--db", db)
    assert (code, out) == (1, "")
    assert "no token 99" in err


def test_a_role_must_be_read_or_admin(tmp_path: Path) -> None:
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as exit_:
        main(["tokens", "create", "--role", "root", "--db", f"sqlite:///{tmp_path}/t.db"])
    assert exit_.value.code == 2
    assert "invalid choice" in err.getvalue()


def test_an_empty_database_has_no_tokens(tmp_path: Path) -> None:
    code, out, _ = run("tokens", "list", "--db", f"sqlite:///{tmp_path}/t.db")
    assert code == 0
    assert out.startswith("no tokens in sqlite:///")
