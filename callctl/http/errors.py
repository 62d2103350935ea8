"""JSON errors for every HTTP answer that is not a success, and the middleware that makes them.

Every error body is ``{"error": {"code": "stable_code", "message": "a sentence", ...}}``.
The code is stable (clients may branch on it), the message is for people. Handlers raise
:class:`ApiError`; aiohttp's own errors (no such path, wrong method, body too large) are
turned into the same shape; any other exception is logged with its traceback and answered
with a JSON 500, counted in :data:`SERVER_ERRORS` so tests (and metrics) can see none occurs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger("callctl.http")
MAX_BODY_BYTES = 1024 * 1024  # the app's client_max_size: a line is well under 1 KiB

# code → (HTTP status, what it means); docs/api.md has the same table for people.
ERROR_CODES: Mapping[str, tuple[int, str]] = {
    "bad_request": (400, "the request cannot be read"),
    "malformed_json": (400, "the request body is not a JSON document"),
    "bad_cursor": (400, "the cursor is not one this server gave, or is for another order"),
    "unauthorized": (401, "no token, an unknown one, or a revoked one"),
    "forbidden": (403, "the token's role may not do this (changing lines needs admin)"),
    "not_found": (404, "no such path"),
    "line_not_found": (404, "no line with that number"),
    "method_not_allowed": (405, "the path does not take that method"),
    "line_exists": (409, "a line with that number exists already"),
    "tariff_mismatch": (409, "the line's product or options are not in the tariff in use"),
    "payload_too_large": (413, "the request body is too large"),
    "invalid_input": (422, "a parameter or a body field is missing, of the wrong type or invalid"),
    "internal_error": (500, "callctl failed; the cause is in its log"),
}
# aiohttp's own errors by status: the first code of each status is the general one
_CODE_OF_STATUS = {status: code for code, (status, _) in reversed(list(ERROR_CODES.items()))}


class ErrorDetail(BaseModel):
    """One problem with the request: where it is and what is wrong."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="where: query.since, body.install_address.city, path.number")
    problem: str


class ErrorInfo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable error code (docs/api.md)", examples=["line_not_found"])
    message: str = Field(description="what went wrong, for a person")
    details: list[ErrorDetail] | None = None


class ErrorBody(BaseModel):
    """The body of every error answer."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorInfo


class ApiError(Exception):
    """An error answer: a stable code (see :data:`ERROR_CODES`), a message, details."""

    def __init__(
        self,
        code: str,
        message: str,
        details: list[ErrorDetail] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = ERROR_CODES[code][0]
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        body = ErrorBody(
            error=ErrorInfo(code=self.code, message=self.message, details=self.details)
        )
        return web.Response(
            status=self.status,
            text=body.model_dump_json(exclude_none=True),
            content_type="application/json",
            headers=self.headers,
        )


@dataclass(slots=True)
class ErrorCounter:
    """How many requests ended in an unexpected exception (a JSON 500)."""

    count: int = 0


SERVER_ERRORS = web.AppKey("server_errors", ErrorCounter)
STREAMING = web.RequestKey("streaming", bool)  # set once a handler has begun its answer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The outermost middleware: every failure becomes a JSON error answer."""
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like pass through
            raise
        return _http_error(request, exc).response()
    except (asyncio.CancelledError, ConnectionResetError):
        raise  # the client went away: nothing to answer
    except Exception:
        request.app[SERVER_ERRORS].count += 1
        log.exception("%s %s failed", request.method, request.path)
        if request.get(STREAMING):
            raise  # the answer has begun: aiohttp closes the connection
        return ApiError(
            "internal_error", "callctl failed to answer this request; the cause is in its log"
        ).response()


def _http_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    """aiohttp's own error (no route, wrong method, body too large…) as an ApiError."""
    code = _CODE_OF_STATUS.get(exc.status)
    if code is None:
        code = "invalid_input" if exc.status < 500 else "internal_error"
    allow = exc.headers.get("Allow", "")
    messages = {
        "not_found": f"there is nothing at {request.path} (the API is described at "
        "/v1/openapi.json)",
        "method_not_allowed": f"{request.method} is not allowed on {request.path} "
        f"(allowed: {allow or 'none'})",
        "payload_too_large": f"the request body is larger than {MAX_BODY_BYTES} bytes",
    }
    headers = {"Allow": allow} if allow else None
    return ApiError(
        code, messages.get(code, exc.reason or "the request was refused"), None, headers
    )
