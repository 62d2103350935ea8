"""The dashboard and the live stream with real calls through the test PBX.

- The stream: a call placed with SIPp shows as ``call.decided``, ``call.ended`` and its
  ``record``, in order, with consecutive ids, and the record is the one in the database.
- The page, in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by
  Selenium): it loads, a call in progress appears as a live call, and its record appears
  when it ends. Screenshots go to the test's tmp dir; with ``CALLCTL_DASHBOARD_PNG=path``
  the one taken during the live call is copied there (README: ``docs/dashboard.png``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from tests.live.conftest import CLASSIC, PHONE2GO, Callctl, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 30.0
DIALLED = "022345611"


class Stream:
    """A blocking Server-Sent Events reader on its own thread (events in a list).

    HTTP/1.0, so the body is the stream itself (no chunked framing) until either side closes.
    """

    def __init__(self, port: int, token: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        request = f"GET /v1/stream?token={token} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
        self.sock.sendall(request.encode())
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        fields: dict[str, str] = {}
        with self.sock.makefile("rb") as body:
            status = body.readline()
            assert b" 200 " in status, status
            while body.readline() not in (b"\r\n", b""):  # the headers
                pass
            for raw in body:
                line = raw.decode().rstrip("\n")
                if line == "" and "data" in fields:
                    data = json.loads(fields["data"])
                    self.events.append((int(fields["id"]), fields["event"], data))
                    fields = {}
                elif line and not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.thread.join(timeout=5)
        self.sock.close()


def test_a_call_through_the_pbx_is_streamed_as_it_happens(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> None:
    server = start_callctl(lines_db)
    far_ends("carrier")
    stream = Stream(server.http_port, server.create_token())
    try:
        assert wait_for(lambda: len(stream.events) == 1, 5)
        hello_id, kind, hello = stream.events[0]
        assert (kind, hello["live"]) == ("hello", [])
        result = call(CLASSIC, UacCall(DIALLED, hold_ms=1500))
        assert result.returncode == 0, result.stderr[-2000:]
        assert wait_for(lambda: len(mine(stream.events)) >= 3, 10), stream.events
    finally:
        stream.close()
    events = mine(stream.events)
    ids = [e[0] for e in events]
    assert ids == sorted(ids)
    assert ids[0] > hello_id
    assert [e[1] for e in events] == ["call.decided", "call.ended", "record"]
    decided, ended, record = (e[2] for e in events)
    assert decided["call"] == ended["call"] == record["call"]
    assert (decided["line"], decided["trunk"], decided["group"]) == (CLASSIC, "carrier", "be_fixed")
    [stored] = [r for r in server.records() if r.dialled == DIALLED]
    assert record["call"] == f"{stored.key.host}/{stored.key.call_id}"
    assert (record["disposition"], record["billsec"], record["amount"]) == (
        "ANSWERED", stored.billsec, str(stored.amount),
    )  # fmt: skip


def mine(events: list[tuple[int, str, dict[str, Any]]]) -> list[tuple[int, str, dict[str, Any]]]:
    """The events of the call that dialled DIALLED (the PBX is shared: others may call too)."""
    names = {d["call"] for _, k, d in events if k == "call.decided" and d["dialled"] == DIALLED}
    return [e for e in events if e[2].get("call") in names]


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            pytest.fail(f"{path} is missing: run scripts/system-deps (as root)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1500", "--lang=en-GB"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=ChromeService(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def rows(driver: WebDriver, table: str) -> list[str]:
    """The text of each body row of a table of the page."""
    return [r.text for r in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")]


def test_the_dashboard_shows_a_live_call_then_its_record(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
    browser: WebDriver,
) -> None:
    server = start_callctl(lines_db)
    shots = server.log.parent  # the test's tmp dir
    far_ends("carrier")
    far_ends("psap-112-brussels")
    # a few calls before, so the page has something in every panel
    assert call(CLASSIC, UacCall("+33142685300", hold_ms=2500)).returncode == 0
    assert call(CLASSIC, UacCall("0900123", expect=484)).returncode == 0
    assert call(CLASSIC, UacCall("112", hold_ms=500)).returncode == 0

    token = server.create_token()
    browser.get(f"http://127.0.0.1:{server.http_port}/?token={token}")
    wait = WebDriverWait(browser, WAIT)
    wait.until(lambda d: d.find_element(By.ID, "status").get_attribute("data-state") == "live")
    assert browser.find_element(By.ID, "t-calls").text == "3"
    assert browser.execute_script("return sessionStorage.getItem('callctl.token')") == token
    assert "token" not in browser.current_url  # kept for the tab, out of the address bar

    placed: list[SippResult] = []
    caller = threading.Thread(
        target=lambda: placed.append(call(PHONE2GO, UacCall("0470123456", hold_ms=6000)))
    )
    caller.start()
    try:
        wait.until(lambda d: any("0470123456" in r for r in rows(d, "live")))
        [live] = rows(browser, "live")
        assert PHONE2GO in live
        assert browser.find_element(By.ID, "t-live").text == "1"
        live_png = shots / "dashboard-live.png"
        browser.save_screenshot(str(live_png))
    finally:
        caller.join(timeout=60)
    assert placed
    assert placed[0].returncode == 0, placed[0].stderr[-2000:]

    wait.until(lambda d: any("0470123456" in r and "ANSWERED" in r for r in rows(d, "records")))
    wait.until(lambda d: rows(d, "live") == [])
    assert browser.find_element(By.ID, "t-calls").text == "4"
    assert browser.find_element(By.ID, "t-live").text == "0"
    assert any("0900123" in r and "484" in r for r in rows(browser, "refusals"))
    assert any("112" in r and "trusted" in r for r in rows(browser, "emergency"))
    assert len(rows(browser, "lines")) == 5
    browser.save_screenshot(str(shots / "dashboard-after.png"))
    target = os.environ.get("CALLCTL_DASHBOARD_PNG")
    if target:
        shutil.copyfile(live_png, target)
