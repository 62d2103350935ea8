"""Bearer-token access to the HTTP server: who may call (401) and with which role (403).

:func:`auth_middleware` authenticates every request with ``Authorization: Bearer <token>``
against the store's hashed tokens (:mod:`callctl.store.tokens`), except the paths an app
opens to loopback clients (``/healthz``, and those features add with :func:`open_on_loopback`,
e.g. ``/metrics``) while the ``http_open_loopback`` setting is on. Routes that change things
call :func:`require_role`. A client behind a reverse proxy on the same host is a loopback
client: turn the setting off there.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from aiohttp import web

from callctl.http.errors import ApiError, Handler
from callctl.store.tokens import ROLES, Token, TokenStore

TOKENS = web.AppKey("tokens", TokenStore)
TOKEN = web.RequestKey("token", Token)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="callctl"'}


@dataclass(slots=True)
class Access:
    """Which paths answer loopback clients without a token, and whether that is on; which
    need no token at all (pages without data); which take it as ``?token=`` too."""

    open_loopback: bool = True
    loopback_paths: set[str] = field(default_factory=set)
    public_paths: set[str] = field(default_factory=set)
    query_token_paths: set[str] = field(default_factory=set)

    def public(self, path: str) -> bool:
        """``path`` is open to all: listed, or under a listed folder (``/static/``)."""
        return path in self.public_paths or any(
            p.endswith("/") and p != "/" and path.startswith(p) for p in self.public_paths
        )


ACCESS = web.AppKey("access", Access)


def open_on_loopback(app: web.Application, *paths: str) -> None:
    """Let loopback clients reach ``paths`` without a token (if the setting allows it)."""
    app[ACCESS].loopback_paths.update(paths)


def open_to_all(app: web.Application, *paths: str) -> None:
    """Serve ``paths`` (a folder such as ``/static/`` covers what is under it) without a
    token: only for what carries no data, such as the dashboard's page and its files."""
    app[ACCESS].public_paths.update(paths)


def token_in_query(app: web.Application, *paths: str) -> None:
    """Accept the token as ``?token=`` on ``paths`` too: a browser's ``EventSource`` cannot
    send an ``Authorization`` header. (It can land in access logs: callctl keeps none.)"""
    app[ACCESS].query_token_paths.update(paths)


def _loopback(remote: str | None) -> bool:
    try:
        return remote is not None and ipaddress.ip_address(remote).is_loopback
    except ValueError:  # a Unix socket or an unparsable peer: not loopback
        return False


def _bearer(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    query_token = request.query.get("token", "").strip()
    if not header and query_token and request.path in request.app[ACCESS].query_token_paths:
        return query_token
    scheme, _, secret = header.strip().partition(" ")
    if not header:
        raise ApiError(
            "unauthorized", "this needs a token: Authorization: Bearer <token>", headers=_CHALLENGE
        )
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiError(
            "unauthorized",
            "the Authorization header must be 'Bearer <token>'",
            headers={"WWW-Authenticate": 'Bearer realm="callctl", error="invalid_request"'},
        )
    return secret.strip()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """401 without a valid token, except the loopback paths for loopback clients."""
    access = request.app[ACCESS]
    if access.public(request.path):
        return await handler(request)
    if access.open_loopback and request.path in access.loopback_paths and _loopback(request.remote):
        return await handler(request)
    token = await request.app[TOKENS].check(_bearer(request))
    if token is None:
        raise ApiError(
            "unauthorized",
            "the token is unknown or revoked (make one with: callctl tokens create)",
            headers={"WWW-Authenticate": 'Bearer realm="callctl", error="invalid_token"'},
        )
    request[TOKEN] = token
    return await handler(request)


def require_role(request: web.Request, role: str) -> None:
    """403 unless the request's token has ``role`` (admin includes read)."""
    token = request.get(TOKEN)
    if token is None:  # a loopback path without a token: only what needs no role
        if role:
            raise ApiError("unauthorized", "this needs a token", headers=_CHALLENGE)
        return
    if ROLES.index(token.role) < ROLES.index(role):
        raise ApiError(
            "forbidden", f"this needs a token of role {role}; token {token.id} has {token.role}"
        )
