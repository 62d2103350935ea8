"""The operator REST API (/v1) on a real store, SQLite and PostgreSQL: every endpoint and
error path, tokens and roles. Each harness also checks that no request ended in a 500."""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from callctl.api import lines as lines_api
from callctl.api import records as records_api
from callctl.api.v1 import ROUTES
from callctl.cli.rate_report import rate_file
from callctl.core.classify import Classifier
from callctl.core.lines import PRODUCTS
from callctl.core.policy import decide
from callctl.core.rating import Usage
from callctl.core.records import CallKey
from callctl.core.tariff import GROUPS
from callctl.data import default_tariff
from callctl.http.app import FEATURES
from callctl.http.auth import _loopback
from callctl.http.errors import ERROR_CODES, SERVER_ERRORS
from callctl.service.controller import ActiveCall
from tests.api_support import (
    CLASSIC,
    CLASSIC_CALLS,
    KLIK,
    NOW,
    Harness,
    at,
    calls_csv,
    run_api,
    seed,
)

NEW_LINE: dict[str, Any] = {
    "number": "+32 2 555 01 23",
    "product": "classic",
    "options": ["24_belgium"],
    "install_address": {"street": "Grand-Place 1", "postal_code": "1000", "city": "Bruxelles"},
    "site_networks": ["192.0.2.10/24"],
}


def rate_summary(calls: str, product: str, options: list[str], tmp: Path) -> dict[str, Any]:
    """The summary object of `callctl rate --json` for a calls CSV's text."""
    path = tmp / "calls.csv"
    path.write_text(calls, encoding="utf-8")
    out = io.StringIO()
    rate_file(path, default_tariff(), product, options, as_json=True, out=out)
    summaries = [json.loads(line) for line in out.getvalue().splitlines() if '"summary"' in line]
    assert len(summaries) == 1
    summary: dict[str, Any] = summaries[0]
    del summary["summary"]
    return summary


# ------------------------------------------------------------------ document, access


def test_openapi_document_lists_every_route_with_its_schemas(db: str) -> None:
    async def test(h: Harness) -> None:
        status, doc = await h.call("GET", "/v1/openapi.json")
        assert status == 200
        assert doc["openapi"].startswith("3.1")
        for route in ROUTES:
            operation = doc["paths"][route.path][route.method.lower()]
            assert str(route.status) in operation["responses"]
            assert "401" in operation["responses"]
            assert operation["security"] == [{"bearer": []}]
        record = doc["components"]["schemas"]["RecordOut"]["properties"]
        assert record["amount"]["type"] == "string"  # money as text
        assert record["decided_at"]["format"] == "date-time"
        search = doc["paths"]["/v1/records"]["get"]
        names = {p["name"] for p in search["parameters"]}
        assert names == {"line", "period", "group", "disposition", "since", "until", "limit",
                         "cursor", "order"}  # fmt: skip
        post = doc["paths"]["/v1/lines"]["post"]
        assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/LineIn"
        )
        assert {"403", "409", "422", "400"} <= set(post["responses"])

    run_api(db, test)


def test_the_models_know_every_product_and_group_of_the_core() -> None:
    assert set(PRODUCTS) == set(lines_api.Product.__args__)  # type: ignore[attr-defined]
    groups = set(records_api.Group.__args__)  # type: ignore[attr-defined]
    assert groups == set(GROUPS)


def test_without_a_valid_token_the_answer_is_401_with_a_bearer_challenge(db: str) -> None:
    async def test(h: Harness) -> None:
        for token in (None, "cct_not-a-token", "not even the prefix", ""):
            response = await h.client.get("/v1/lines", headers=h.auth(token) if token else {})
            async with response:
                assert response.status == 401
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                body = await response.json()
                assert body["error"]["code"] == "unauthorized"
                assert body["error"]["message"]
        response = await h.client.get("/v1/lines", headers={"Authorization": f"Basic {h.read}"})
        async with response:
            assert response.status == 401
            assert "invalid_request" in response.headers["WWW-Authenticate"]
        # unknown paths say nothing to strangers either
        assert (await h.call("GET", "/v1/nothing", token=None))[0] == 401

    run_api(db, test)


def test_a_revoked_token_is_refused_at_once(db: str) -> None:
    async def test(h: Harness) -> None:
        token, secret = await h.tokens.create("read", "to revoke")
        assert (await h.call("GET", "/v1/lines", token=secret))[0] == 200
        revoked = await h.tokens.revoke(token.id)
        assert revoked is not None
        assert not revoked.active
        status, body = await h.call("GET", "/v1/lines", token=secret)
        assert (status, body["error"]["code"]) == (401, "unauthorized")
        assert await h.tokens.revoke(9999) is None

    run_api(db, test)


def test_a_read_token_sees_but_may_not_change_lines(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        assert (await h.call("GET", f"/v1/lines/{CLASSIC}"))[0] == 200
        for method, path, body in (
            ("POST", "/v1/lines", NEW_LINE),
            ("PUT", f"/v1/lines/{CLASSIC}", {k: v for k, v in NEW_LINE.items() if k != "number"}),
            ("DELETE", f"/v1/lines/{CLASSIC}", None),
        ):
            status, answer = await h.call(method, path, json=body)
            assert (status, answer["error"]["code"]) == (403, "forbidden"), method
        assert (await h.controller.store.get_line(CLASSIC)) is not None

    run_api(db, test)


def test_healthz_is_open_on_loopback_unless_the_setting_closes_it(db: str) -> None:
    async def open_(h: Harness) -> None:
        status, body = await h.call("GET", "/healthz", token=None)
        assert (status, body["status"]) == (200, "ok")
        assert (await h.call("GET", "/v1/lines", token=None))[0] == 401  # only /healthz

    async def closed(h: Harness) -> None:
        assert (await h.call("GET", "/healthz", token=None))[0] == 401
        assert (await h.call("GET", "/healthz"))[0] == 200  # with a token it answers

    run_api(db, open_)
    run_api(db, closed, open_loopback=False)


def test_only_loopback_addresses_count_as_loopback() -> None:
    assert _loopback("127.0.0.1")
    assert _loopback("127.8.9.10")
    assert _loopback("::1")
    for remote in ("192.0.2.1", "10.0.0.1", "2001:db8::1", None, "", "unix"):
        assert not _loopback(remote)


# ----------------------------------------------------------------------------- errors


def test_unknown_paths_and_methods_and_huge_bodies_are_json_errors(db: str) -> None:
    async def test(h: Harness) -> None:
        status, body = await h.call("GET", "/v1/nothing")
        assert (status, body["error"]["code"]) == (404, "not_found")
        response = await h.client.patch("/v1/lines", headers=h.auth(h.admin))
        async with response:
            assert response.status == 405
            assert "GET" in response.headers["Allow"]
            assert (await response.json())["error"]["code"] == "method_not_allowed"
        status, body = await h.call("POST", "/v1/lines", token="admin", data=b"x" * 2_000_000)
        assert (status, body["error"]["code"]) == (413, "payload_too_large")

    run_api(db, test)


def test_an_unexpected_exception_is_a_logged_json_500(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("disk on fire")

    def broken_feature(app: web.Application) -> None:
        app.router.add_get("/v1/broken", boom)

    async def test(h: Harness) -> None:
        with caplog.at_level(logging.ERROR, logger="callctl.http"):
            status, body = await h.call("GET", "/v1/broken")
        assert (status, body["error"]["code"]) == (500, "internal_error")
        assert "disk on fire" not in body["error"]["message"]  # details stay in the log
        assert "GET /v1/broken failed" in caplog.text
        assert "disk on fire" in caplog.text
        assert h.app[SERVER_ERRORS].count == 1
        h.app[SERVER_ERRORS].count = 0  # expected here: the harness checks for others

    run_api(db, test, features=(*FEATURES, broken_feature))


# ------------------------------------------------------------------------------ lines


def test_lines_are_listed_read_created_replaced_and_deleted(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        status, body = await h.call("GET", "/v1/lines")
        assert status == 200
        assert [line["number"] for line in body["lines"]] == sorted(
            line["number"] for line in body["lines"]
        )
        assert CLASSIC in [line["number"] for line in body["lines"]]

        status, line = await h.call("GET", "/v1/lines/+32 2 234 56 01")  # any E.164 spelling
        assert (status, line["number"], line["options"]) == (200, CLASSIC, ["anytime"])

        status, created = await h.call("POST", "/v1/lines", token="admin", json=NEW_LINE)
        assert status == 201
        assert created["number"] == "+3225550123"
        assert created["site_networks"] == ["192.0.2.0/24"]  # as the lines file stores it
        assert created["paused"] is False
        status, again = await h.call("POST", "/v1/lines", token="admin", json=NEW_LINE)
        assert (status, again["error"]["code"]) == (409, "line_exists")

        fields = {k: v for k, v in NEW_LINE.items() if k != "number"}
        status, replaced = await h.call(
            "PUT", "/v1/lines/+3225550123", token="admin", json={**fields, "paused": True}
        )
        assert (status, replaced["paused"]) == (200, True)
        assert (await h.call("GET", "/v1/lines/+3225550123"))[1]["paused"] is True

        status, missing = await h.call("PUT", "/v1/lines/+3225550199", token="admin", json=fields)
        assert (status, missing["error"]["code"]) == (404, "line_not_found")

        status, nothing = await h.call("DELETE", "/v1/lines/+3225550123", token="admin")
        assert (status, nothing) == (204, None)
        status, gone = await h.call("GET", "/v1/lines/+3225550123")
        assert (status, gone["error"]["code"]) == (404, "line_not_found")
        status, gone = await h.call("DELETE", "/v1/lines/+3225550123", token="admin")
        assert (status, gone["error"]["code"]) == (404, "line_not_found")

    run_api(db, test)


def test_a_line_paused_through_the_api_is_refused_on_the_next_call(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        cached = await h.controller.lines.line(CLASSIC)  # the controller has it cached
        assert cached is not None
        assert not cached.paused
        fields = {
            "product": "classic",
            "options": ["anytime"],
            "install_address": {"street": "Rue de la Loi 16", "postal_code": "1000",
                                "city": "Bruxelles"},
            "paused": True,
        }  # fmt: skip
        assert (await h.call("PUT", f"/v1/lines/{CLASSIC}", token="admin", json=fields))[0] == 200
        line = await h.controller.lines.line(CLASSIC)
        c = h.controller.classifier("02 234 56 78")
        decision = decide(c, line, Usage("2026-03"), h.controller.tariff, h.controller.emergency)
        assert (decision.action, decision.sip_code) == ("refuse", 403)

    run_api(db, test)


@pytest.mark.parametrize(
    ("change", "field", "status", "code"),
    [
        ({"options": ["international_calling"]}, "body.options", 422, "invalid_input"),
        ({"product": "gold"}, "body.product", 422, "invalid_input"),
        ({"number": "+32 abc"}, "body.number", 422, "invalid_input"),
        ({"number": 3222345601}, "body.number", 422, "invalid_input"),
        ({"paused": "yes"}, "body.paused", 422, "invalid_input"),
        ({"site_networks": ["not-a-network"]}, "body.site_networks", 422, "invalid_input"),
        ({"licences": ["+3222000002"]}, "body.licences", 422, "invalid_input"),
        ({"colour": "blue"}, "body.colour", 422, "invalid_input"),
        ({"install_address": {"street": "x", "postal_code": "0999", "city": "y"}},
         "body.install_address.postal_code", 422, "invalid_input"),
    ],
)  # fmt: skip
def test_a_bad_line_is_refused_with_the_field_named(
    db: str, change: dict[str, Any], field: str, status: int, code: str
) -> None:
    async def test(h: Harness) -> None:
        got, body = await h.call("POST", "/v1/lines", token="admin", json={**NEW_LINE, **change})
        assert (got, body["error"]["code"]) == (status, code)
        assert body["error"]["details"][0]["field"] == field
        assert body["error"]["message"]
        assert (await h.call("GET", "/v1/lines"))[1]["lines"] == []

    run_api(db, test)


def test_malformed_or_missing_bodies_are_400_and_422(db: str) -> None:
    async def test(h: Harness) -> None:
        for raw in (b"{", b"", b"not json", b"\xff\xfe"):
            status, body = await h.call("POST", "/v1/lines", token="admin", data=raw)
            assert (status, body["error"]["code"]) == (400, "malformed_json"), raw
        values: tuple[object, ...] = ([], "line", 3, None)
        for value in values:
            status, body = await h.call(
                "POST", "/v1/lines", token="admin", data=json.dumps(value).encode()
            )
            assert (status, body["error"]["code"]) == (422, "invalid_input"), value
        status, body = await h.call("POST", "/v1/lines", token="admin", json={"number": "+32"})
        fields = {d["field"] for d in body["error"]["details"]}
        assert status == 422
        assert {"body.product", "body.install_address"} <= fields

    run_api(db, test)


def test_a_path_that_is_not_a_number_is_422(db: str) -> None:
    async def test(h: Harness) -> None:
        status, body = await h.call("GET", "/v1/lines/hello")
        assert (status, body["error"]["details"][0]["field"]) == (422, "path.number")

    run_api(db, test)


# ------------------------------------------------------------------------------ calls


def test_calls_in_progress_come_from_the_controller(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        c = h.controller
        line = await c.store.get_line(CLASSIC)
        for n, (number, dialled) in enumerate(((CLASSIC, "0475 12 34 56"), (KLIK, "112"))):
            decision = decide(c.classifier(dialled), line, Usage("2026-03"), c.tariff, c.emergency)
            key = CallKey("pbx-test", f"live-{n}")
            c.active[key] = ActiveCall(key, number, dialled, decision, NOW, endpoint=number)
        status, body = await h.call("GET", "/v1/calls/active")
        assert status == 200
        calls = body["calls"]
        assert [call["call_id"] for call in calls] == ["live-0", "live-1"]
        mobile, emergency = calls
        assert (mobile["group"], mobile["trunk"], mobile["e164"]) == (
            "be_mobile", "carrier", "+32475123456"
        )  # fmt: skip
        assert mobile["decided_at"] == "2026-03-20T10:00:00+01:00"  # Brussels, with offset
        assert emergency["group"] == "emergency"
        assert emergency["emergency_province"]
        status, body = await h.call("GET", "/v1/calls/active", params={"line": KLIK})
        assert [call["call_id"] for call in body["calls"]] == ["live-1"]

    run_api(db, test)


# ---------------------------------------------------------------------------- records


async def all_pages(h: Harness, params: dict[str, str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        status, page = await h.call(
            "GET", "/v1/records", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert status == 200, page
        records += page["records"]
        cursor = page["next_cursor"]
        if cursor is None:
            return records


def test_records_are_searched_by_line_period_group_disposition_and_time(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)

        async def ids(**params: str) -> list[str]:
            return [r["call_id"] for r in await all_pages(h, params)]

        everything = await all_pages(h, {"limit": "3"})
        assert len(everything) == len(CLASSIC_CALLS) + 3  # + April, KLIK, the refusal
        times = [at(r["decided_at"]) for r in everything]
        assert times == sorted(times)
        assert await ids(line=KLIK) == ["call-1"]
        assert len(await ids(line=CLASSIC, period="2026-03")) == len(CLASSIC_CALLS) + 1
        assert await ids(group="invalid") == ["refused"]
        assert await ids(disposition="REFUSED") == ["refused"]
        # a '+' left unencoded in a query string reads as a space: it is put back
        march_6 = await ids(since="2026-03-06T00:00:00 01:00", until="2026-03-07T00:00:00+01:00")
        assert len(march_6) == 1
        refused = next(r for r in everything if r["call_id"] == "refused")
        assert refused["amount"] == "0.0000"
        assert refused["sip_code"] == 484
        zone = next(r for r in everything if r["dialled"] == "0033 1 42 68 53 00")
        assert zone["bundle_seconds"] == 600
        assert zone["amount"] == "0.0000"
        assert zone["answered_at"] == "2026-03-02T10:00:00+01:00"
        newest = await all_pages(h, {"order": "desc", "limit": "4"})
        assert [r["call_id"] for r in newest] == [r["call_id"] for r in reversed(everything)]

    run_api(db, test)


def test_pages_stay_stable_while_records_are_written(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        status, first = await h.call("GET", "/v1/records", params={"limit": "4"})
        assert status == 200
        assert len(first["records"]) == 4
        # records written meanwhile: one before the page's end, one after everything
        before = at(first["records"][0]["decided_at"])
        late = at("2026-05-01T08:00:00+02:00")
        store = h.controller.store
        template = await store.get_record(CallKey("pbx-test", "refused"))
        assert template is not None
        await store.add_records([
            replace(template, key=CallKey("pbx-test", "early"), decided_at=before),
            replace(template, key=CallKey("pbx-test", "late"), decided_at=late),
        ])  # fmt: skip
        rest = await all_pages(h, {"limit": "4", "cursor": first["next_cursor"]})
        seen = [r["call_id"] for r in first["records"] + rest]
        assert len(seen) == len(set(seen))  # none twice
        assert "late" in seen
        assert "early" not in seen
        assert len(seen) == len(CLASSIC_CALLS) + 3 + 1

    run_api(db, test)


@pytest.mark.parametrize(
    ("params", "status", "code", "field"),
    [
        ({"cursor": "garbage!"}, 400, "bad_cursor", None),
        ({"cursor": "eyJ0IjogMX0"}, 400, "bad_cursor", None),  # {"t": 1}
        ({"limit": "0"}, 422, "invalid_input", "query.limit"),
        ({"limit": "1001"}, 422, "invalid_input", "query.limit"),
        ({"limit": "ten"}, 422, "invalid_input", "query.limit"),
        ({"since": "2026-03-01T00:00:00"}, 422, "invalid_input", "query.since"),  # no offset
        ({"since": "yesterday"}, 422, "invalid_input", "query.since"),
        ({"until": "0001-01-01T00:00:00+01:00"}, 422, "invalid_input", "query.until"),
        ({"until": "0.0"}, 422, "invalid_input", "query.until"),  # not a Unix time (schemathesis)
        ({"period": "2026-13"}, 422, "invalid_input", "query.period"),
        ({"group": "gold"}, 422, "invalid_input", "query.group"),
        ({"line": "not a number"}, 422, "invalid_input", "query.line"),
        ({"colour": "blue"}, 422, "invalid_input", "query.colour"),
        ({"order": "sideways"}, 422, "invalid_input", "query.order"),
    ],
)
def test_bad_search_parameters_are_4xx(
    db: str, params: dict[str, str], status: int, code: str, field: str | None
) -> None:
    async def test(h: Harness) -> None:
        got, body = await h.call("GET", "/v1/records", params=params)
        assert (got, body["error"]["code"]) == (status, code)
        if field:
            assert body["error"]["details"][0]["field"] == field
        if "cursor" not in params:  # the export reads the same selection parameters
            got, _ = await h.call("GET", "/v1/records.csv", params=params)
            assert got in (status, 422)

    run_api(db, test)


def test_a_cursor_is_bound_to_its_order_and_a_parameter_is_given_once(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        _, page = await h.call("GET", "/v1/records", params={"limit": "2"})
        status, body = await h.call(
            "GET", "/v1/records", params={"cursor": page["next_cursor"], "order": "desc"}
        )
        assert (status, body["error"]["code"]) == (400, "bad_cursor")
        assert "order=asc" in body["error"]["message"]
        status, body = await h.call("GET", "/v1/records?group=zone&group=invalid")
        assert (status, body["error"]["details"][0]["field"]) == (422, "query.group")

    run_api(db, test)


def test_the_csv_export_is_the_selection_and_callctl_rate_reads_it(db: str, tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        text = await h.text("/v1/records.csv", {"line": CLASSIC, "period": "2026-03"})
        rows = list(csv.DictReader(io.StringIO(text)))
        assert list(rows[0]) == list(records_api.CSV_COLUMNS)
        assert len(rows) == len(CLASSIC_CALLS) + 1  # and the refusal
        refused = next(r for r in rows if r["call_id"] == "refused")
        assert (refused["answered_at"], refused["disposition"]) == ("", "REFUSED")
        zone = next(r for r in rows if r["group"] == "zone")
        assert (zone["answered_at"], zone["amount"]) == ("2026-03-02T10:00:00+01:00", "0.0000")
        # the answered calls, exported, are a calls CSV that `callctl rate` rates alike
        answered = await h.text(
            "/v1/records.csv", {"line": CLASSIC, "period": "2026-03", "disposition": "ANSWERED"}
        )
        summary = rate_summary(answered, "classic", ["anytime"], tmp_path)
        _, statement = await h.call("GET", f"/v1/lines/{CLASSIC}/statement")
        assert summary == {k: v for k, v in statement.items() if k != "line"}
        empty = await h.text("/v1/records.csv", {"line": "+3250000000"})
        assert empty.splitlines() == [",".join(records_api.CSV_COLUMNS)]

    run_api(db, test)


# ---------------------------------------------------------------------- usage, statement


def test_usage_shows_bundle_and_fair_use_used_and_left(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        status, usage = await h.call("GET", f"/v1/lines/{CLASSIC}/usage")  # now: 2026-03
        assert status == 200
        assert usage["period"] == "2026-03"
        assert (usage["bundle_seconds_size"], usage["bundle_seconds_used"]) == (120_000, 600)
        assert usage["bundle_seconds_left"] == 119_400
        assert usage["fair_use_seconds"] == 120  # the off-peak Belgian call (R7)
        assert usage["fair_use_seconds_left"] == usage["fair_use_cap_seconds"] - 120
        assert usage["paused_by_fair_use"] is False
        _, april = await h.call("GET", f"/v1/lines/{CLASSIC}/usage", params={"period": "2026-04"})
        assert (april["period"], april["bundle_seconds_used"]) == ("2026-04", 0)
        _, klik = await h.call("GET", f"/v1/lines/{KLIK}/usage")
        assert (klik["bundle_seconds_size"], klik["fair_use_seconds"]) == (0, 30)  # KLIK peak
        status, body = await h.call("GET", "/v1/lines/+3250000000/usage")
        assert (status, body["error"]["code"]) == (404, "line_not_found")
        status, body = await h.call("GET", f"/v1/lines/{CLASSIC}/usage", params={"period": "3"})
        assert (status, body["error"]["code"]) == (422, "invalid_input")

    run_api(db, test)


def test_the_statement_has_the_figures_of_callctl_rate(db: str, tmp_path: Path) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        status, statement = await h.call(
            "GET", f"/v1/lines/{CLASSIC}/statement", params={"period": "2026-03"}
        )
        assert status == 200
        expected = rate_summary(calls_csv(CLASSIC_CALLS), "classic", ["anytime"], tmp_path)
        assert {k: v for k, v in statement.items() if k != "line"} == expected
        assert statement["calls"] == len(CLASSIC_CALLS)  # the refused attempt is no call
        assert statement["vat_rate"] == "0.21"
        assert set(statement["groups"]) == {
            "zone", "be_fixed", "be_mobile", "premium", "ma_tr", "international", "helpline"
        }  # fmt: skip
        excl, vat = Decimal(statement["total_excl_vat"]), Decimal(statement["vat"])
        assert vat == (excl * Decimal("0.21")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert Decimal(statement["total_incl_vat"]) == excl + vat
        status, body = await h.call("GET", "/v1/lines/+3250000000/statement")
        assert (status, body["error"]["code"]) == (404, "line_not_found")

    run_api(db, test)


# ------------------------------------------------------------------------------ quote


def test_a_quote_classifies_decides_and_prices_without_drawing(db: str) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        params = {"line": CLASSIC, "number": "0475 12 34 56", "at": "2026-03-23T09:00:00+01:00",
                  "seconds": "120"}  # fmt: skip
        status, q = await h.call("GET", "/v1/quote", params=params)
        assert status == 200
        assert q["classification"]["group"] == "be_mobile"
        assert (q["decision"]["action"], q["decision"]["trunk"]) == ("route", "carrier")
        # R5: 0.17/min at peak, per second, no setup fee
        assert (q["price"]["peak_seconds"], q["price"]["amount"]) == (120, "0.3400")
        assert q["at"] == "2026-03-23T09:00:00+01:00"

        params = {"line": CLASSIC, "number": "0903 12 34 5", "seconds": "900",
                  "at": "2026-03-23T09:00:00+01:00"}  # fmt: skip
        _, premium = await h.call("GET", "/v1/quote", params=params)
        assert premium["price"]["cut_off"] is True  # R5: charged up to 10 minutes
        assert premium["decision"]["limit_seconds"] == 600
        assert premium["price"]["amount"] == "15.0000"

        _, invalid = await h.call("GET", "/v1/quote", params={"line": CLASSIC, "number": "12"})
        assert invalid["classification"]["group"] == "invalid"
        assert (invalid["decision"]["action"], invalid["decision"]["sip_code"]) == ("refuse", 484)
        assert invalid["price"]["amount"] == "0.0000"

        usage = (await h.call("GET", f"/v1/lines/{CLASSIC}/usage"))[1]
        assert usage["bundle_seconds_used"] == 600  # nothing drawn

    run_api(db, test)


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"line": "+3250000000", "number": "02 234 56 78"}, 404, None),
        ({"line": CLASSIC}, 422, "query.number"),
        ({"number": "02 234 56 78"}, 422, "query.line"),
        ({"line": CLASSIC, "number": "02 234 56 78", "at": "2026-03-23 09:00"}, 422, "query.at"),
        ({"line": CLASSIC, "number": "02 234 56 78", "seconds": "-1"}, 422, "query.seconds"),
        ({"line": CLASSIC, "number": "02 234 56 78", "seconds": "86401"}, 422, "query.seconds"),
        ({"line": CLASSIC, "number": ""}, 422, "query.number"),
    ],
)
def test_bad_quote_parameters_are_4xx(
    db: str, params: dict[str, str], status: int, field: str | None
) -> None:
    async def test(h: Harness) -> None:
        await seed(h.controller)
        got, body = await h.call("GET", "/v1/quote", params=params)
        assert got == status
        if field:
            assert body["error"]["details"][0]["field"] == field
        else:
            assert body["error"]["code"] == "line_not_found"

    run_api(db, test)


def test_the_classifier_of_the_quote_is_the_core_one(classify: Classifier) -> None:
    assert classify("0903/12.34.5").group == "premium"  # the number the quote test prices


def test_docs_api_md_lists_every_error_code_with_its_status() -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text("utf-8")
    for code, (status, _) in ERROR_CODES.items():
        assert f"| {status} | `{code}` |" in doc, code
