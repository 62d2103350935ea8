"""A small declarative route table: the same pydantic models validate requests and describe them.

A :class:`Route` names a method, a path, a handler and what it needs (role, error codes).
The handler's keyword-only parameters ``path``, ``query`` and ``body`` are annotated with
pydantic models, and its return annotation is the response model (or a StreamResponse for
files). :func:`add_routes` reads those annotations once, registers an aiohttp handler that
checks the role, validates the inputs (422 ``invalid_input`` naming each field; 400
``malformed_json``) and serialises the answer; :func:`openapi` builds the OpenAPI 3.1
document from the same routes and models, so the document cannot drift from what the server
accepts. Why not a library: aiohttp-pydantic and aiohttp-apispec are thinly maintained and
each brings its own handler style; about 250 lines here give exactly this contract.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, get_type_hints

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from callctl import __version__
from callctl.http.auth import require_role
from callctl.http.errors import ERROR_CODES, ApiError, ErrorBody, ErrorDetail

REF = "#/components/schemas/{model}"
INPUTS = ("path", "query", "body")

Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation of the API."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    role: str = "read"  # read | admin (see callctl.store.tokens.ROLES)
    status: int = 200  # of a success
    errors: tuple[str, ...] = ()  # codes beyond the usual ones (401, 403, 422, 400)
    media_type: str = "application/json"  # of a success; text/csv for exports
    description: str = ""


@dataclass(frozen=True, slots=True)
class Signature:
    """The models a handler takes and returns, read from its annotations."""

    inputs: Mapping[str, type[BaseModel]]  # "path" | "query" | "body" → model
    response: type[BaseModel] | None  # None: no body (204) or a streamed file

    @classmethod
    def of(cls, handler: Handler) -> Signature:
        hints = get_type_hints(handler)
        params = inspect.signature(handler).parameters
        inputs = {name: _model(hints[name]) for name in INPUTS if name in params}
        unknown = set(params) - {*INPUTS, "request"}
        if unknown:
            raise TypeError(f"{handler.__name__}: unknown parameters {sorted(unknown)}")
        returned = hints.get("return")
        response = returned if _is_model(returned) else None
        return cls(inputs, response)


@dataclass(slots=True)
class Api:
    """The routes registered on an app, and their OpenAPI document once built."""

    routes: list[Route] = field(default_factory=list)
    document: str | None = None  # JSON text, built at the first request for it

    def add(self, route: Route) -> None:
        self.routes.append(route)
        self.document = None


API = web.AppKey("api", Api)


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _model(annotation: object) -> type[BaseModel]:
    if not _is_model(annotation):
        raise TypeError(f"{annotation!r} is not a pydantic model")
    model: type[BaseModel] = annotation  # type: ignore[assignment]
    return model


# ------------------------------------------------------------------------ requests


def _problems(where: str, exc: ValidationError) -> list[ErrorDetail]:
    details = []
    for error in exc.errors(include_url=False, include_input=False):
        path = ".".join(str(p) for p in error["loc"] if p != "__root__")
        message = error["msg"].removeprefix("Value error, ")
        details.append(ErrorDetail(field=f"{where}.{path}" if path else where, problem=message))
    return details


def _invalid(where: str, exc: ValidationError) -> ApiError:
    details = _problems(where, exc)
    first = details[0]
    more = f" (and {len(details) - 1} more problem(s), see details)" if len(details) > 1 else ""
    return ApiError("invalid_input", f"{first.field}: {first.problem}{more}", details)


def _query(request: web.Request, model: type[BaseModel]) -> BaseModel:
    values: dict[str, str] = {}
    for name in request.query:
        given = request.query.getall(name)
        if len(given) > 1:
            raise ApiError(
                "invalid_input",
                f"query.{name}: given {len(given)} times; give it once",
                [ErrorDetail(field=f"query.{name}", problem="given more than once")],
            )
        values[name] = given[0]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _invalid("query", exc) from None


def _path(request: web.Request, model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(dict(request.match_info))
    except ValidationError as exc:
        raise _invalid("path", exc) from None


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    raw = await request.read()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(
                "malformed_json", "the request body is not a JSON document (send a JSON object)"
            ) from None
        raise _invalid("body", exc) from None


def _endpoint(route: Route, sig: Signature) -> Callable[[web.Request], Awaitable[Any]]:
    async def endpoint(request: web.Request) -> web.StreamResponse:
        require_role(request, route.role)
        kwargs: dict[str, BaseModel] = {}
        if "path" in sig.inputs:
            kwargs["path"] = _path(request, sig.inputs["path"])
        if "query" in sig.inputs:
            kwargs["query"] = _query(request, sig.inputs["query"])
        if "body" in sig.inputs:
            kwargs["body"] = await _body(request, sig.inputs["body"])
        result = await route.handler(request, **kwargs)
        if isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=route.status)
        return web.Response(
            status=route.status, text=result.model_dump_json(), content_type=route.media_type
        )

    endpoint.__name__ = route.handler.__name__
    return endpoint


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    """Register routes on ``app`` (and remember them for :func:`openapi`)."""
    if API not in app:
        app[API] = Api()
    for route in routes:
        app.router.add_route(
            route.method, route.path, _endpoint(route, Signature.of(route.handler))
        )
        app[API].add(route)


# ------------------------------------------------------------------------- OpenAPI


def _parameters(model: type[BaseModel], where: str, defs: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=REF, mode="validation")
    defs.update(schema.pop("$defs", {}))
    params = []
    for name, prop in schema.get("properties", {}).items():
        param: dict[str, Any] = {
            "name": name,
            "in": where,
            "required": where == "path" or name in schema.get("required", []),
            "schema": {k: v for k, v in prop.items() if k != "description"},
        }
        if "description" in prop:
            param["description"] = prop["description"]
        params.append(param)
    return params


def _error_codes(route: Route, sig: Signature) -> list[str]:
    codes = ["unauthorized", *route.errors]
    if route.role == "admin":
        codes.append("forbidden")
    if sig.inputs:
        codes.append("invalid_input")
    if "body" in sig.inputs:
        codes += ["malformed_json", "payload_too_large"]
    if "path" in sig.inputs:
        codes.append("not_found")
    return codes


def _responses(route: Route, sig: Signature, refs: Mapping[Any, Any]) -> dict[str, Any]:
    success: dict[str, Any] = {"description": route.summary}
    if sig.response is not None:
        schema = refs[(sig.response, "serialization")]
        success["content"] = {route.media_type: {"schema": schema}}
    elif route.media_type != "application/json":
        success["content"] = {route.media_type: {"schema": {"type": "string"}}}
    responses: dict[str, Any] = {str(route.status): success}
    by_status: dict[int, list[str]] = {}
    for code in _error_codes(route, sig):
        by_status.setdefault(ERROR_CODES[code][0], []).append(code)
    error_schema = refs[(ErrorBody, "serialization")]
    for status, codes in sorted(by_status.items()):
        text = "; ".join(f"{c}: {ERROR_CODES[c][1]}" for c in dict.fromkeys(codes))
        response: dict[str, Any] = {
            "description": text,
            "content": {"application/json": {"schema": error_schema}},
        }
        if status == 401:
            response["headers"] = {
                "WWW-Authenticate": {"schema": {"type": "string"}, "required": True}
            }
        responses[str(status)] = response
    return responses


def openapi(routes: Sequence[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``, from their handlers' models."""
    sigs = [Signature.of(r.handler) for r in routes]
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for sig in sigs:
        if "body" in sig.inputs:
            models.append((sig.inputs["body"], "validation"))
        if sig.response is not None:
            models.append((sig.response, "serialization"))
    refs, top = models_json_schema(list(dict.fromkeys(models)), ref_template=REF)
    defs: dict[str, Any] = dict(top.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for route, sig in zip(routes, sigs, strict=True):
        params: list[dict[str, Any]] = []
        for where in ("path", "query"):
            if where in sig.inputs:
                params += _parameters(sig.inputs[where], where, defs)
        operation: dict[str, Any] = {
            "operationId": route.handler.__name__,
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": params,
            "responses": _responses(route, sig, refs),
            "security": [{"bearer": []}],
        }
        if route.description:
            operation["description"] = route.description
        if "body" in sig.inputs:
            body_schema = refs[(sig.inputs["body"], "validation")]
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": body_schema}},
            }
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callctl operator API",
            "version": __version__,
            "description": "Lines, calls in progress, call records, usage, statements and "
            'quotes of callctl (rules R1-R10). Errors: {"error": {"code", "message"}}.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": defs,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `callctl tokens create --role read|admin`",
                }
            },
        },
    }
