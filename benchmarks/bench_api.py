"""Record search and CSV export of the REST API on many records in PostgreSQL.

Run from the repository root, with the PostgreSQL server of the tests (127.0.0.1:5432)::

    .venv/bin/python benchmarks/bench_api.py                  # 1 000 000 records (~5 min)
    .venv/bin/python benchmarks/bench_api.py --quick --json   # 2 000 records, smoke run

A fresh database is created on the server (``--admin URL``), filled with synthetic records
of three lines (``callctl.store.bulk``: COPY through asyncpg), and ``callctl serve`` runs on
it as a child process (ephemeral HTTP and FastAGI ports). This process is the client: one
HTTP connection, one request at a time. Figures:

- ``load``: records written per second by the bulk loader (setup, for reference);
- ``search all``: every page of ``GET /v1/records?limit=--page-size`` following the cursor:
  pages/s and records/s;
- ``search line``: the same for one line's records (a third of them);
- ``export``: ``GET /v1/records.csv`` of every record, read in 64 KiB chunks: records/s and
  MiB/s, and how far the server's resident memory grew while it streamed.

The database is dropped at the end (``--keep`` keeps it). Exit status 1 means the run went
wrong (a page or a file without every record), not that it was slow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from callctl.pbx.rss import rss, sampled_rss
from callctl.pbx.serve_process import ServeProcess, free_port
from callctl.store import make_engine, migrate
from callctl.store.bulk import load_records, sample_records
from callctl.store.tokens import TokenStore

ADMIN = os.environ.get("CALLCTL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
LINES = ("+3222345601", "+3292345602", "+3222000003")
START = datetime(2026, 1, 1, tzinfo=UTC)
CHUNK = 64 * 1024


async def _admin(statement: str, admin: str) -> None:
    engine = make_engine(admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _fill(url: str, count: int) -> tuple[float, str]:
    await migrate(url)
    engine = make_engine(url)
    try:
        began = time.perf_counter()
        written = await load_records(engine, sample_records(count, LINES, START))
        elapsed = time.perf_counter() - began
        if written != count:
            raise SystemExit(f"loaded {written} records, not {count}")
        async with engine.connect() as conn:
            await conn.execute(text("ANALYZE call_records"))
        _, token = await TokenStore(engine).create("read", "bench")
        return count / elapsed, token
    finally:
        await engine.dispose()


async def _walk(
    session: aiohttp.ClientSession, base: str, params: dict[str, str]
) -> dict[str, float]:
    pages = records = 0
    cursor: str | None = None
    began = time.perf_counter()
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        async with session.get(f"{base}/v1/records", params=query) as response:
            response.raise_for_status()
            page = await response.json()
        pages += 1
        records += len(page["records"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    elapsed = time.perf_counter() - began
    return {"pages": pages, "records": records, "seconds": elapsed,
            "pages_per_s": pages / elapsed, "records_per_s": records / elapsed}  # fmt: skip


async def _export(session: aiohttp.ClientSession, base: str, pid: int) -> dict[str, float]:
    baseline = rss(pid)
    rows = size = 0
    began = time.perf_counter()
    with sampled_rss(pid, 0.02) as samples:
        async with session.get(f"{base}/v1/records.csv") as response:
            response.raise_for_status()
            async for chunk in response.content.iter_chunked(CHUNK):
                rows += chunk.count(b"\n")
                size += len(chunk)
    elapsed = time.perf_counter() - began
    records = rows - 1  # the header
    return {"records": records, "bytes": size, "seconds": elapsed,
            "records_per_s": records / elapsed, "mib_per_s": size / 2**20 / elapsed,
            "server_rss_before_mib": baseline / 2**20,
            "server_rss_growth_mib": (max(samples) - baseline) / 2**20}  # fmt: skip


async def _measure(server: ServeProcess, token: str, page_size: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{server.http_port}"
    headers = {"Authorization": f"Bearer {token}"}
    timeout = aiohttp.ClientTimeout(total=None, sock_read=120)
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout, connector=connector) as s:
        await _walk(s, base, {"limit": "10", "line": LINES[0], "until": "2026-01-01T01:00:00Z"})
        return {
            "search_all": await _walk(s, base, {"limit": str(page_size)}),
            "search_line": await _walk(s, base, {"limit": str(page_size), "line": LINES[0]}),
            "export": await _export(s, base, server.pid),
        }


def run(count: int, page_size: int, admin: str, keep: bool) -> dict[str, Any]:
    name = f"callctl_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"', admin))
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        load_rate, token = asyncio.run(_fill(url, count))
        with tempfile.TemporaryDirectory() as work:
            server = ServeProcess(url, None, Path(work), agi_port=free_port()).start()
            try:
                figures = asyncio.run(_measure(server, token, page_size))
            finally:
                server.stop()
    finally:
        if not keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin))
    expected = {"search_all": count, "search_line": len(range(0, count, len(LINES))),
                "export": count}  # fmt: skip
    ok = all(figures[k]["records"] == n for k, n in expected.items())
    return {
        "count": count, "page_size": page_size, "database": "postgresql",
        "kept_database": url if keep else None, "load_records_per_s": load_rate,
        **figures, "ok": ok,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
    }  # fmt: skip


def _n(value: float) -> str:
    """A count or rate with thin spaces between thousands: 1 000 000."""
    return f"{value:,.0f}".replace(",", " ")


def _report(r: dict[str, Any], say: Callable[[str], object]) -> None:
    say(f"{_n(r['count'])} records in PostgreSQL, pages of {r['page_size']}")
    say(f"  {'load (COPY, setup)':<20} {_n(r['load_records_per_s']):>10} records/s")
    for key, label in (("search_all", "search, all"), ("search_line", "search, one line")):
        f = r[key]
        say(f"  {label:<20} {_n(f['records_per_s']):>10} records/s  {f['pages_per_s']:>7.1f} "
            f"pages/s  ({f['pages']} pages, {f['seconds']:.1f} s)")  # fmt: skip
    e = r["export"]
    say(f"  {'export CSV':<20} {_n(e['records_per_s']):>10} records/s  {e['mib_per_s']:>7.1f} "
        f"MiB/s  ({e['bytes'] / 2**20:.0f} MiB, {e['seconds']:.1f} s)")  # fmt: skip
    say(f"  server memory while exporting: {e['server_rss_before_mib']:.0f} MiB, "
        f"+{e['server_rss_growth_mib']:.1f} MiB at most")  # fmt: skip
    say("  every page and row present" if r["ok"] else "  RECORDS MISSING")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="records (1 000 000)")
    parser.add_argument("--page-size", type=int, default=1000, help="records per page (1000)")
    parser.add_argument("--quick", action="store_true", help="2 000 records: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--admin", default=ADMIN, help="PostgreSQL admin URL (creates the db)")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    count = 2000 if args.quick else args.count
    result = run(count, args.page_size, args.admin, args.keep)
    result["mode"] = "quick" if args.quick else "full"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _report(result, print)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
