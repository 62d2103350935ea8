"""A real ``callctl serve`` in this process (ephemeral FastAGI and HTTP ports, SQLite file
with the lab lines, a test clock), a FastAGI peer that plays res_agi on a real socket, and
a Server-Sent Events reader, for the metrics, stream and dashboard tests."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from callctl.data import default_tariff
from callctl.pbx.agi_peers import env_block, hangup_args, route_args
from callctl.service.config import Settings
from callctl.service.serve import Service, running
from callctl.store import make_engine, migrate
from callctl.store.lines_yaml import parse_lines_yaml
from callctl.store.repository import Store
from callctl.store.tokens import TokenStore

ROOT = Path(__file__).resolve().parents[1]
LAB_LINES = ROOT / "dialplan" / "lab-lines.yaml"
PEAK = "2026-11-26T10:00:00+01:00"
IO_TIMEOUT = 5.0
PORT_TOKENS: dict[int, str] = {}  # HTTP port of a running service → its read token


@asynccontextmanager
async def service(tmp_path: Path, **settings: Any) -> AsyncIterator[Service]:
    """The whole service on a fresh database holding the lab lines (``settings``: more
    :class:`Settings`, e.g. ``tariff``)."""
    url = f"sqlite:///{tmp_path / 'callctl.db'}"
    await migrate(url)
    engine = make_engine(url)
    try:
        lines = parse_lines_yaml(LAB_LINES.read_text("utf-8"), default_tariff())
        await Store(engine).upsert_lines(lines)
        _, token = await TokenStore(engine).create("read", "service rig")
    finally:
        await engine.dispose()
    config = Settings(db=url, agi_port=0, http_port=0, clock=PEAK, **settings)
    async with running(config) as svc:
        PORT_TOKENS[svc.http_port] = token
        yield svc


def token_of(svc: Service) -> str:
    """The read token :func:`service` made for ``svc``."""
    return PORT_TOKENS[svc.http_port]


def session(svc: Service) -> aiohttp.ClientSession:
    """An HTTP client of ``svc`` that sends its read token."""
    return aiohttp.ClientSession(headers={"Authorization": f"Bearer {token_of(svc)}"})


async def agi_request(port: int, env: bytes) -> list[str]:
    """Send one FastAGI request as res_agi does, answer every command ``200 result=1``,
    and return the commands once the server closes."""
    async with asyncio.timeout(IO_TIMEOUT):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(env)
            commands = []
            while line := await reader.readline():
                commands.append(line.decode().rstrip("\n"))
                writer.write(b"200 result=1\n")
            return commands
        finally:
            writer.close()


async def route(port: int, uniqueid: str, dialled: str) -> str:
    """A route request of the Classic lab line; the CALLCTL value set ('' if none)."""
    commands = await agi_request(port, env_block("route", uniqueid, route_args(dialled)))
    prefix = 'SET VARIABLE "CALLCTL" "'
    found = [c[len(prefix) : -1] for c in commands if c.startswith(prefix)]
    return found[0] if found else ""


async def hangup(port: int, uniqueid: str, dialled: str, answered_ms: int = 2000) -> list[str]:
    """The hangup request of a call routed to the carrier and answered ``answered_ms``."""
    args = hangup_args(f"{time.time():.6f}", answered_ms, "ANSWER", dialled)
    return await agi_request(port, env_block("hangup", uniqueid, args))


async def call(port: int, uniqueid: str, dialled: str) -> str:
    """Route, and hang up if routed: one record either way."""
    answer = await route(port, uniqueid, dialled)
    if answer.startswith("route,"):
        await hangup(port, uniqueid, dialled)
    return answer


@dataclass(frozen=True)
class SseEvent:
    id: int
    type: str
    data: dict[str, Any]


class SseReader:
    """Reads Server-Sent Events frames from an aiohttp response (comments skipped)."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response

    async def next(self, timeout: float = IO_TIMEOUT) -> SseEvent | None:
        """The next frame with data, or None at the end of the stream."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.response.content.readline()
                if not raw:
                    return None
                line = raw.decode().rstrip("\n")
                if line == "":
                    if "data" in fields:
                        return SseEvent(
                            int(fields["id"]), fields.get("event", "message"),
                            json.loads(fields["data"]),
                        )  # fmt: skip
                    fields = {}
                    continue
                if line.startswith(":"):
                    continue
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")

    async def take(self, count: int, timeout: float = IO_TIMEOUT) -> list[SseEvent]:
        out: list[SseEvent] = []
        for _ in range(count):
            event = await self.next(timeout)
            assert event is not None, f"the stream ended after {out}"
            out.append(event)
        return out


@asynccontextmanager
async def sse(
    http: aiohttp.ClientSession, port: int, after: int | None = None, header: bool = True
) -> AsyncIterator[SseReader]:
    """Open the stream, resuming after ``after`` (as Last-Event-ID, or ``?after=``)."""
    headers = {"Last-Event-ID": str(after)} if after is not None and header else {}
    params = {"after": str(after)} if after is not None and not header else {}
    url = f"http://127.0.0.1:{port}/v1/stream"
    async with http.get(url, headers=headers, params=params) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        yield SseReader(resp)
