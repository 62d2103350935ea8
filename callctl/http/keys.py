"""Typed keys of the HTTP application's shared state (aiohttp ``AppKey``/``RequestKey``).

They live apart from :mod:`callctl.http.app` so that features (the REST API, metrics…) can
read them without importing the app factory that imports the features.
"""

from __future__ import annotations

from aiohttp import web

from callctl.agi.server import FastAgiServer
from callctl.service.controller import Controller

CONTROLLER = web.AppKey("controller", Controller)
AGI = web.AppKey("agi", FastAgiServer)
