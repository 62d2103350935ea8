"""The operator REST API under ``/v1`` (JSON, bearer tokens, OpenAPI 3.1 at /v1/openapi.json).

One module per feature (``lines``, ``calls``, ``records``, ``billing``, ``quote``), each a
list of :class:`~callctl.api.routing.Route` whose handlers are thin around the store and
the core. :mod:`~callctl.api.routing` registers them on the aiohttp app and builds the
OpenAPI document from the same pydantic models that validate the requests.
"""
