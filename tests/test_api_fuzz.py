"""Schema-driven fuzzing of a real ``callctl serve`` with schemathesis, from /v1/openapi.json.

The server runs as its own process on a seeded SQLite store; every operation of the
document is called with generated valid and invalid inputs (admin token, so that every
route is reached). Checks: no 5xx, every status and content type documented, every body
and header as the schema says, and invalid input refused with a 4xx. Not checked:
``positive_data_acceptance`` - a string the schema allows for a phone number, a date or a
tariff option can still be refused (422) by the rules the schema cannot express (E.164,
the tariff's options, years 1970-2999).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from callctl.api.v1 import ROUTES
from callctl.pbx.serve_process import ServeProcess, free_port
from callctl.store import make_engine, migrate
from callctl.store.repository import Store
from callctl.store.tokens import TokenStore
from tests.api_support import make_controller, seed

EXAMPLES = 30  # per operation and mode: about 700 requests, well under a minute
CHECKS = (
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    checks.negative_data_rejection,
)


async def _prepare(url: str) -> str:
    await migrate(url)
    engine = make_engine(url)
    try:
        await seed(make_controller(Store(engine)))
        _, secret = await TokenStore(engine).create("admin", "fuzz")
        return secret
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, str]]:
    work: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{work / 'fuzz.db'}"
    token = asyncio.run(_prepare(url))
    server = ServeProcess(url, None, work, agi_port=free_port()).start()
    try:
        yield server, token
    finally:
        server.stop()
        log = server.log.read_text()
        assert "Traceback" not in log, log[-3000:]  # no unexpected exception, even unseen


def test_the_api_conforms_to_its_document(served: tuple[ServeProcess, str]) -> None:
    """Every operation, valid and invalid inputs (schemathesis's pytest plugin does not run
    on pytest 9 yet, so its strategies are driven by hypothesis here)."""
    server, token = served
    auth = {"Authorization": f"Bearer {token}"}
    api = schemathesis.openapi.from_url(
        f"http://127.0.0.1:{server.http_port}/v1/openapi.json", headers=auth
    )
    operations = [result.ok() for result in api.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) == len(ROUTES)
    for operation in operations:
        for mode in schemathesis.GenerationMode:

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck),
            )  # fmt: skip
            def fuzz(case: schemathesis.Case[Any]) -> None:
                case.call_and_validate(headers=auth, checks=list(CHECKS))

            fuzz()
