"""Every route of ``/v1`` and the OpenAPI document built from them (``/v1/openapi.json``)."""

from __future__ import annotations

import json

from aiohttp import web

from callctl.api import billing, calls, lines, quote, records
from callctl.api.routing import API, add_routes, openapi

ROUTES = (*lines.ROUTES, *calls.ROUTES, *records.ROUTES, *billing.ROUTES, *quote.ROUTES)
OPENAPI_PATH = "/v1/openapi.json"


async def openapi_document(request: web.Request) -> web.Response:
    """The OpenAPI 3.1 document of every route of the app (any valid token may read it)."""
    api = request.app[API]
    if api.document is None:  # built once, at the first request: every feature has added
        api.document = json.dumps(openapi(api.routes), ensure_ascii=False)
    return web.Response(text=api.document, content_type="application/json")


def add_api(app: web.Application) -> None:
    """Add the REST API's routes, and its document, to an app made by ``make_app``."""
    add_routes(app, ROUTES)
    app.router.add_get(OPENAPI_PATH, openapi_document)
