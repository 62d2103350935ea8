"""Bearer tokens of the REST API: made at random, kept only as their SHA-256, checked per request.

A token is ``cct_`` and 32 random bytes (``secrets.token_urlsafe``): 256 bits of entropy.
For a secret that cannot be guessed, an unsalted SHA-256 is the right thing to store: salts
and slow hashes (bcrypt, scrypt, Argon2) protect low-entropy passwords against dictionary
and brute-force guessing, which is out of reach here, and a fast hash keeps each request's
check to one lookup on a unique index. The token itself is shown once, when it is made.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from callctl.store.db import writer
from callctl.store.models import ApiTokenRow, utcnow

ROLES = ("read", "admin")  # read sees everything; admin may also change lines
PREFIX = "cct_"
TOKEN_BYTES = 32


@dataclass(frozen=True, slots=True)
class Token:
    """A token's description (never its secret)."""

    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def token_hash(secret: str) -> str:
    """The stored form of a token: the hex SHA-256 of its text."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _token(row: ApiTokenRow) -> Token:
    return Token(row.id, row.name, row.role, row.created_at, row.revoked_at)


class TokenStore:
    """The ``api_tokens`` table behind an async engine (schema from the migrations)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._read = async_sessionmaker(engine, expire_on_commit=False)
        self._write = async_sessionmaker(writer(engine), expire_on_commit=False)

    async def create(self, role: str, name: str = "") -> tuple[Token, str]:
        """A new token of ``role``: its description and its secret (shown once)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
        secret = PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        row = ApiTokenRow(name=name, role=role, token_sha256=token_hash(secret))
        async with self._write.begin() as session:
            session.add(row)
            await session.flush()
        return _token(row), secret

    async def list(self) -> list[Token]:
        """Every token, revoked ones too, oldest first."""
        async with self._read() as session:
            rows = await session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id))
            return [_token(r) for r in rows]

    async def revoke(self, token_id: int) -> Token | None:
        """Revoke a token (at once, for every server on the database); None if unknown."""
        async with self._write.begin() as session:
            row = await session.get(ApiTokenRow, token_id)
            if row is None:
                return None
            if row.revoked_at is None:
                await session.execute(
                    update(ApiTokenRow)
                    .where(ApiTokenRow.id == token_id)
                    .values(revoked_at=utcnow())
                    .execution_options(synchronize_session="fetch")
                )
                await session.refresh(row)
            return _token(row)

    async def check(self, secret: str) -> Token | None:
        """The active token with this secret, or None (unknown, malformed or revoked)."""
        if not secret.startswith(PREFIX) or len(secret) > 2 * TOKEN_BYTES + len(PREFIX):
            return None
        async with self._read() as session:
            row = await session.scalar(
                select(ApiTokenRow).where(ApiTokenRow.token_sha256 == token_hash(secret))
            )
        if row is None or row.revoked_at is not None:
            return None
        return _token(row)
