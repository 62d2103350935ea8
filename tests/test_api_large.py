"""100 000 records through a real ``callctl serve``: every page once, in order, and the CSV
export streamed in bounded memory (the server's resident memory is sampled while it streams).
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from callctl.pbx.rss import rss, sampled_rss
from callctl.pbx.serve_process import ServeProcess, free_port
from callctl.store import make_engine
from callctl.store.bulk import load_records, sample_records
from callctl.store.tokens import TokenStore

COUNT = 100_000
LINES = ("+3222345601", "+3292345602", "+3222000003")
START = datetime(2026, 3, 1, tzinfo=UTC)  # one record every 2 s: 100 000 in about 2.3 days
RSS_GROWTH_BOUND = 8 * 1024 * 1024  # the export holds one batch (2 000 records) at a time


async def _fill(url: str) -> str:
    engine = make_engine(url)
    try:
        assert await load_records(engine, sample_records(COUNT, LINES, START)) == COUNT
        _, secret = await TokenStore(engine).create("read", "large test")
        return secret
    finally:
        await engine.dispose()


def _get(server: ServeProcess, token: str, path: str, **params: str) -> urllib.request.Request:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    return urllib.request.Request(
        f"http://127.0.0.1:{server.http_port}{path}{query}",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_100k_records_page_by_page_and_exported_in_bounded_memory(db: str, tmp_path: Path) -> None:
    token = asyncio.run(_fill(db))
    server = ServeProcess(db, None, tmp_path, agi_port=free_port()).start()
    try:
        seen: list[str] = []
        last = ""
        cursor: str | None = None
        while True:
            params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
            with urllib.request.urlopen(_get(server, token, "/v1/records", **params)) as r:
                page = json.loads(r.read())
            for record in page["records"]:
                assert record["decided_at"] >= last  # one offset all month: text order holds
                last = record["decided_at"]
                seen.append(record["call_id"])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == COUNT
        assert len(set(seen)) == COUNT

        with urllib.request.urlopen(_get(server, token, "/v1/records.csv", line=LINES[0])) as r:
            r.read()  # a first, smaller export: what stays allocated after warming up
        baseline = rss(server.pid)
        rows = size = 0
        with (
            sampled_rss(server.pid) as samples,
            urllib.request.urlopen(_get(server, token, "/v1/records.csv")) as response,
        ):
            assert response.headers["Content-Type"].startswith("text/csv")
            assert response.headers.get("Content-Length") is None  # streamed, chunked
            while chunk := response.read(64 * 1024):
                rows += chunk.count(b"\n")
                size += len(chunk)
        assert rows == COUNT + 1  # and the header
        growth = max(samples) - baseline
        print(f"CSV {size / 2**20:.1f} MiB; server RSS {baseline / 2**20:.1f} MiB, "
              f"+{growth / 2**20:.1f} MiB at most while streaming")  # fmt: skip
        assert size > 2 * RSS_GROWTH_BOUND  # the file could not have been held whole
        assert growth < RSS_GROWTH_BOUND
    finally:
        server.stop()
