"""FastAGI server over a real socket: the test plays Asterisk's res_agi, byte for byte."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import pytest

from callctl.agi.protocol import AgiEnvironment, AgiProtocolError, Reply
from callctl.agi.server import (
    AgiCommandError,
    AgiConnectionLost,
    AgiHangup,
    AgiSession,
    AgiTimeout,
    FastAgiServer,
    ensure_fd_limit,
)

T = TypeVar("T")

ENV = (
    b"agi_network: yes\n"
    b"agi_network_script: route\n"
    b"agi_request: agi://127.0.0.1:4573/route\n"
    b"agi_channel: PJSIP/alice-00000001\n"
    b"agi_uniqueid: 1717171717.42\n"
    b"agi_callerid: 3222345678\n"
    b"agi_arg_1: 0470123456\n"
    b"agi_arg_2: pbx\n"
    b"\n"
)
OK = b"200 result=1\n"
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine\n"
IO_TIMEOUT = 3.0  # generous bound for any single read: never reached when things work


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one test coroutine with a hard bound, so a bug fails fast instead of hanging."""

    async def bounded() -> T:
        async with asyncio.timeout(8.0):
            return await coro

    return asyncio.run(bounded())


def safe(env: AgiEnvironment) -> Sequence[tuple[str, str]]:
    return [("ROUTE_RESULT", "FAILSAFE"), ("ROUTE_CAUSE", f"late {env.args[0]}")]


SAFE_LINES = (
    b'SET VARIABLE "ROUTE_RESULT" "FAILSAFE"\n',
    b'SET VARIABLE "ROUTE_CAUSE" "late 0470123456"\n',
)


def open_sockets() -> int:
    """Sockets this process has open (Linux), or -1 where /proc is not available."""
    if not sys.platform.startswith("linux"):
        return -1
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass
    return count


async def wait_until(predicate: Callable[[], bool], timeout: float = IO_TIMEOUT) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


class Pbx:
    """One res_agi connection, from Asterisk's side."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, server: FastAgiServer, env: bytes | None = ENV) -> Pbx:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        pbx = cls(reader, writer)
        if env is not None:
            await pbx.send(env)
        return pbx

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def line(self) -> bytes:
        async with asyncio.timeout(IO_TIMEOUT):
            return await self.reader.readline()

    async def eof(self) -> bytes:
        """Everything until the server closes (asserting it does)."""
        async with asyncio.timeout(IO_TIMEOUT):
            return await self.reader.read()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


async def serve(
    handler: Callable[[AgiSession], Awaitable[None]], **kw: Any
) -> tuple[FastAgiServer, int]:
    kw.setdefault("on_deadline", safe)
    server = FastAgiServer(handler, port=0, **kw)
    await server.start()
    return server, open_sockets()


async def finish(server: FastAgiServer, sockets_before: int) -> None:
    """Every session ended, no socket left over, then close the server."""
    await wait_until(lambda: server.active_sessions == 0)
    if sockets_before >= 0:
        await wait_until(lambda: open_sockets() == sockets_before)
    await server.close()


# -- normal requests ---------------------------------------------------------------------------


def test_set_variable_exact_bytes_and_get_full_variable() -> None:
    seen: dict[str, object] = {}

    async def handler(s: AgiSession) -> None:
        seen["script"] = s.env.script
        seen["args"] = s.env.args
        await s.set_variable("ROUTE_RESULT", "ok")
        await s.set_variable("ROUTE_NOTE", 'say "hi" \\ bye')
        seen["addr"] = await s.get_full_variable("${CHANNEL(pjsip,remote_addr)}")
        seen["missing"] = await s.get_full_variable("${X}")
        seen["empty"] = await s.get_full_variable("${Y}")
        seen["tricky"] = await s.get_full_variable("${Z}")
        await s.verbose("routed")
        seen["hungup"] = s.hungup

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await pbx.send(OK)
        assert await pbx.line() == b'SET VARIABLE "ROUTE_NOTE" "say \\"hi\\" \\\\ bye"\n'
        await pbx.send(OK)
        assert await pbx.line() == b'GET FULL VARIABLE "${CHANNEL(pjsip,remote_addr)}"\n'
        await pbx.send(b"200 result=1 (127.0.0.1:5060)\n")
        assert await pbx.line() == b'GET FULL VARIABLE "${X}"\n'
        await pbx.send(b"200 result=0\r\n")
        assert await pbx.line() == b'GET FULL VARIABLE "${Y}"\n'
        await pbx.send(b"200 result=1 ()\n")
        assert await pbx.line() == b'GET FULL VARIABLE "${Z}"\n'
        await pbx.send(b"200 result=1 (f(x) endpos=5)\n")
        assert await pbx.line() == b'VERBOSE "routed" "1"\n'
        await pbx.send(OK)
        assert await pbx.eof() == b""
        await pbx.close()
        assert server.counters.sessions_total == 1
        assert server.counters.handler_errors == 0
        assert server.counters.deadline_hits == 0
        await finish(server, before)

    run(main())
    assert seen == {
        "script": "route",
        "args": ("0470123456", "pbx"),
        "addr": "127.0.0.1:5060",
        "missing": None,
        "empty": "",
        "tricky": "f(x) endpos=5",
        "hungup": False,
    }


def test_reply_split_over_many_packets_and_520_block() -> None:
    got: list[Reply] = []

    async def handler(s: AgiSession) -> None:
        got.append(await s.command("SET VARIABLE", "ONLY_NAME"))
        with pytest.raises(AgiCommandError, match="510"):
            await s.set_variable("A", "b")

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'SET VARIABLE "ONLY_NAME"\n'
        block = (
            b"520-Invalid command syntax.  Proper usage follows:\n"
            b" Usage: SET VARIABLE <variablename> <value>\n"
            b"520 End of proper usage.\n"
        )
        for i in range(0, len(block), 7):
            await pbx.send(block[i : i + 7])
            await asyncio.sleep(0)
        assert await pbx.line() == b'SET VARIABLE "A" "b"\n'
        await pbx.send(b"510 Invalid or unknown command\n")
        assert await pbx.eof() == b""
        await pbx.close()
        await finish(server, before)

    run(main())
    assert got[0].code == 520
    assert len(got[0].lines) == 3


# -- hang-up -----------------------------------------------------------------------------------


def test_hangup_then_511_raises_and_session_ends_cleanly() -> None:
    outcome: dict[str, object] = {}

    async def handler(s: AgiSession) -> None:
        try:
            await s.command("ANSWER")
        except AgiHangup as exc:
            outcome["reply"] = exc.reply
            outcome["hungup"] = s.hungup
        with pytest.raises(AgiHangup):  # nothing is sent once the channel is gone
            await s.set_variable("LATE", "x")
        await s.command("NOOP")  # escapes the handler: the server ends the session quietly

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b"ANSWER\n"
        await pbx.send(b"HANGUP\n")
        await asyncio.sleep(0.02)  # HANGUP alone first: the server must keep waiting
        await pbx.send(DEAD)
        assert await pbx.eof() == b""  # no SET VARIABLE, no NOOP
        await pbx.close()
        assert server.counters.handler_errors == 0
        await finish(server, before)

    run(main())
    reply = outcome["reply"]
    assert isinstance(reply, Reply)
    assert reply.code == 511
    assert outcome["hungup"] is True


def test_hangup_then_real_reply_returns_it() -> None:
    outcome: dict[str, object] = {}

    async def handler(s: AgiSession) -> None:
        await s.set_variable("ROUTE_RESULT", "ok")  # allowed on a dead channel: 200
        outcome["hungup"] = s.hungup
        with pytest.raises(AgiHangup):
            await s.command("NOOP")

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await pbx.send(b"HANGUP\n" + OK)
        assert await pbx.eof() == b""
        await pbx.close()
        await finish(server, before)

    run(main())
    assert outcome["hungup"] is True


def test_hangup_right_after_environment_is_seen_before_any_command() -> None:
    outcome: dict[str, object] = {}

    async def handler(s: AgiSession) -> None:
        outcome["hungup"] = s.hungup
        with pytest.raises(AgiHangup):
            await s.set_variable("X", "y")

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server, ENV + b"HANGUP\n")
        assert await pbx.eof() == b""
        await pbx.close()
        await finish(server, before)

    run(main())
    assert outcome["hungup"] is True


# -- deadline ----------------------------------------------------------------------------------


def test_deadline_sends_safe_answer_then_closes() -> None:
    async def main() -> None:
        flag = asyncio.Event()

        async def handler(s: AgiSession) -> None:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                flag.set()
                raise

        server, before = await serve(handler, deadline=0.3)
        start = time.monotonic()
        pbx = await Pbx.connect(server)
        assert await pbx.line() == SAFE_LINES[0]
        assert await pbx.line() == SAFE_LINES[1]
        elapsed = time.monotonic() - start
        assert 0.25 <= elapsed < 0.3 + 0.4
        assert flag.is_set()
        await pbx.send(OK + OK)
        assert await pbx.eof() == b""
        assert time.monotonic() - start < 0.3 + 0.5
        await pbx.close()
        assert server.counters.deadline_hits == 1
        assert server.counters.handler_errors == 0
        await finish(server, before)

    run(main())


def test_deadline_while_a_command_waits_skips_its_late_reply() -> None:
    async def handler(s: AgiSession) -> None:
        await s.command("GET FULL VARIABLE", "${SLOW}", timeout=10)

    async def main() -> None:
        server, before = await serve(handler, deadline=0.3)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'GET FULL VARIABLE "${SLOW}"\n'
        assert await pbx.line() == SAFE_LINES[0]
        assert await pbx.line() == SAFE_LINES[1]
        # Asterisk answers all three in order; the server waits for the last one, then closes.
        await pbx.send(b"200 result=1 (late)\n")
        await asyncio.sleep(0.05)
        assert not pbx.reader.at_eof()
        await pbx.send(OK + OK)
        assert await pbx.eof() == b""
        await pbx.close()
        await finish(server, before)

    run(main())


def test_deadline_with_a_peer_that_never_replies_is_still_bounded() -> None:
    async def handler(s: AgiSession) -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        server, before = await serve(handler, deadline=0.2, safe_answer_budget=0.2)
        start = time.monotonic()
        pbx = await Pbx.connect(server)
        assert await pbx.line() == SAFE_LINES[0]
        assert await pbx.line() == SAFE_LINES[1]
        assert await pbx.eof() == b""  # no reply from us: closed after the budget
        assert time.monotonic() - start < 0.2 + 0.2 + 0.4
        await pbx.close()
        await finish(server, before)

    run(main())


def test_handler_swallowing_cancellation_still_gets_safe_answer() -> None:
    async def handler(s: AgiSession) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            return  # wrong, but must not leave the call without an answer

    async def main() -> None:
        server, before = await serve(handler, deadline=0.2)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == SAFE_LINES[0]
        assert await pbx.line() == SAFE_LINES[1]
        await pbx.send(OK + OK)
        assert await pbx.eof() == b""
        await pbx.close()
        assert server.counters.deadline_hits == 1
        await finish(server, before)

    run(main())


def test_command_timeout_then_session_still_usable() -> None:
    outcome: list[object] = []

    async def handler(s: AgiSession) -> None:
        with pytest.raises(AgiTimeout):
            await s.command("GET FULL VARIABLE", "${A}", timeout=0.1)
        outcome.append(await s.get_full_variable("${B}"))

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'GET FULL VARIABLE "${A}"\n'
        assert await pbx.line() == b'GET FULL VARIABLE "${B}"\n'  # after the 0.1 s timeout
        await pbx.send(b"200 result=1 (a)\n200 result=1 (b)\n")
        assert await pbx.eof() == b""
        await pbx.close()
        await finish(server, before)

    run(main())
    assert outcome == ["b"]


# -- overload ----------------------------------------------------------------------------------


def test_overload_gets_safe_answer_without_waiting() -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def handler(s: AgiSession) -> None:
            await release.wait()
            await s.set_variable("ROUTE_RESULT", "ok")

        server, before = await serve(handler, max_sessions=1, deadline=5.0)
        first = await Pbx.connect(server)
        await wait_until(lambda: server.running_handlers == 1)
        start = time.monotonic()
        second = await Pbx.connect(server)
        assert await second.line() == SAFE_LINES[0]
        assert await second.line() == SAFE_LINES[1]
        await second.send(OK + OK)
        assert await second.eof() == b""
        assert time.monotonic() - start < 0.5
        assert server.counters.overload_hits == 1
        await second.close()
        release.set()
        assert await first.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await first.send(OK)
        assert await first.eof() == b""
        await first.close()
        assert server.counters.deadline_hits == 0
        await finish(server, before)

    run(main())


def test_max_connections_refuses_at_once() -> None:
    async def main() -> None:
        release = asyncio.Event()

        async def handler(s: AgiSession) -> None:
            await release.wait()

        server, before = await serve(handler, max_sessions=1, max_connections=1, deadline=5.0)
        first = await Pbx.connect(server)
        await wait_until(lambda: server.running_handlers == 1)
        second = await Pbx.connect(server, env=None)
        with contextlib.suppress(ConnectionResetError):  # refused with a reset
            assert await second.eof() == b""
        await second.close()
        assert server.counters.refused == 1
        release.set()
        assert await first.eof() == b""
        await first.close()
        await finish(server, before)

    run(main())


# -- bad peers ---------------------------------------------------------------------------------


def test_bad_peers_do_not_leak_and_server_keeps_serving() -> None:
    async def handler(s: AgiSession) -> None:
        await s.set_variable("ROUTE_RESULT", "ok")

    async def normal_request(server: FastAgiServer) -> None:
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await pbx.send(OK)
        assert await pbx.eof() == b""
        await pbx.close()

    async def main() -> None:
        server, before = await serve(handler, env_timeout=0.2)

        garbage = await Pbx.connect(server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert await garbage.eof() == b""
        await garbage.close()
        await normal_request(server)

        huge = await Pbx.connect(server, b"agi_network: yes\nagi_x: " + b"a" * 20000)
        assert await huge.eof() == b""
        await huge.close()
        await normal_request(server)

        early = await Pbx.connect(server, ENV[:40])
        await early.close()  # closes mid-environment
        await normal_request(server)

        silent = await Pbx.connect(server, env=None)
        start = time.monotonic()
        assert await silent.eof() == b""  # closed at env_timeout
        assert time.monotonic() - start < 0.2 + 0.4
        await silent.close()

        garbage_reply = await Pbx.connect(server)
        assert await garbage_reply.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await garbage_reply.send(b"<html>\n")
        assert await garbage_reply.eof() == b""
        await garbage_reply.close()

        gone = await Pbx.connect(server)
        assert await gone.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await gone.close()  # Asterisk vanished instead of replying

        await normal_request(server)
        assert server.counters.protocol_errors == 3
        assert server.counters.env_timeouts == 1
        assert server.counters.handler_errors == 0
        assert server.counters.sessions_total == 10
        await finish(server, before)

    run(main())


async def served_normally(server: FastAgiServer) -> None:
    """One request as Asterisk makes it gets the handler's answer (``ROUTE_RESULT=ok``)."""
    pbx = await Pbx.connect(server)
    assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
    await pbx.send(OK)
    assert await pbx.eof() == b""
    await pbx.close()


async def answer_ok(s: AgiSession) -> None:
    await s.set_variable("ROUTE_RESULT", "ok")


def test_slowloris_is_cut_at_env_timeout_however_it_trickles() -> None:
    """One byte every 50 ms keeps the peer "active" but env_timeout counts from the
    connection: it is closed at 0.3 s, long before its environment could be complete."""

    async def main() -> None:
        server, before = await serve(answer_ok, env_timeout=0.3)
        slow = await Pbx.connect(server, env=None)
        start = time.monotonic()
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            for byte in ENV:
                if slow.reader.at_eof():
                    break
                await slow.send(bytes([byte]))
                await asyncio.sleep(0.05)
        assert await slow.eof() == b""
        assert 0.25 <= time.monotonic() - start < 0.3 + 0.3
        await slow.close()
        assert server.counters.env_timeouts == 1
        await served_normally(server)
        await finish(server, before)

    run(main())


def test_a_full_server_evicts_the_oldest_idle_connection_for_a_real_request() -> None:
    """max_connections idle peers (no environment) do not lock Asterisk out: its request
    takes the place of the oldest idle one, and is answered."""

    async def main() -> None:
        server, before = await serve(answer_ok, max_sessions=2, max_connections=3)
        idle = [await Pbx.connect(server, env=None) for _ in range(3)]
        await wait_until(lambda: server.open_connections == 3)
        await served_normally(server)
        assert server.counters.evicted == 1
        assert server.counters.refused == 0
        with contextlib.suppress(ConnectionResetError):  # the oldest: closed with a reset
            assert await idle[0].eof() == b""
        await asyncio.sleep(0.05)
        assert not idle[1].reader.at_eof()
        assert not idle[2].reader.at_eof()
        for peer in idle:
            await peer.close()
        await finish(server, before)

    run(main())


def test_a_connection_whose_environment_waits_unread_is_not_the_one_evicted() -> None:
    """Asterisk's environment is in the socket's buffer the moment it is accepted: when the
    server is full, a silent connection is evicted rather than that one, even if older."""

    async def main() -> None:
        server, before = await serve(answer_ok, max_sessions=1, max_connections=2)
        # Blocking calls: the loop does not run, so all three are accepted in one turn and
        # the first one's environment is still unread when the third arrives.
        first = socket.create_connection(("127.0.0.1", server.port))
        first.sendall(ENV)
        silent = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(2)]
        reader, writer = await asyncio.open_connection(sock=first)
        pbx = Pbx(reader, writer)
        assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await pbx.send(OK)
        assert await pbx.eof() == b""
        await pbx.close()
        assert server.counters.evicted == 1
        for sock in silent:
            sock.close()
        await finish(server, before)

    run(main())


def test_connections_past_their_environment_are_never_evicted() -> None:
    """Full with requests being decided: a new connection is refused, not a call in progress."""

    async def main() -> None:
        release = asyncio.Event()

        async def handler(s: AgiSession) -> None:
            await release.wait()
            await answer_ok(s)

        server, before = await serve(handler, max_sessions=2, max_connections=2, deadline=5.0)
        calls = [await Pbx.connect(server) for _ in range(2)]
        await wait_until(lambda: server.running_handlers == 2)
        extra = await Pbx.connect(server, env=None)
        with contextlib.suppress(ConnectionResetError):
            assert await extra.eof() == b""
        await extra.close()
        assert (server.counters.refused, server.counters.evicted) == (1, 0)
        release.set()
        for pbx in calls:
            assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
            await pbx.send(OK)
            assert await pbx.eof() == b""
            await pbx.close()
        await finish(server, before)

    run(main())


def test_a_flood_of_idle_connections_logs_a_line_a_second_not_one_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> None:
        server, before = await serve(answer_ok, max_sessions=1, max_connections=10,
                                     env_timeout=0.2)  # fmt: skip
        flood = [await Pbx.connect(server, env=None) for _ in range(60)]
        await wait_until(lambda: server.counters.env_timeouts == 10, timeout=2)
        for peer in flood:
            await peer.close()
        await served_normally(server)
        assert server.counters.evicted == 50
        await finish(server, before)

    with caplog.at_level(logging.INFO, logger="callctl.agi"):
        run(main())
    lines = [r.getMessage() for r in caplog.records if r.name == "callctl.agi"]
    evicted = [m for m in lines if "closed the oldest one" in m]
    timeouts = [m for m in lines if "environment not received" in m]
    assert 1 <= len(evicted) <= 2, lines
    assert 1 <= len(timeouts) <= 2, lines
    assert len(lines) < 10, lines


def test_a_stuck_peer_that_never_reads_nor_closes_is_let_go() -> None:
    """It sent its request, then neither reads the answer nor closes: the server closes it
    by the deadline plus the safe answer's budget, and its socket is freed."""

    async def main() -> None:
        server, before = await serve(answer_ok, deadline=0.3, safe_answer_budget=0.2)
        stuck = await Pbx.connect(server)
        await wait_until(lambda: server.active_sessions == 1)
        start = time.monotonic()
        await wait_until(lambda: server.active_sessions == 0, timeout=2)
        assert time.monotonic() - start < 0.3 + 0.2 + 0.3
        assert server.counters.deadline_hits == 1
        await served_normally(server)
        await stuck.close()
        await finish(server, before)

    run(main())


def test_a_stuck_peer_past_the_command_timeout_is_closed_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The handler's command gets no reply within command_timeout (before the deadline): the
    server counts a reply timeout, logs one line without a traceback and closes."""

    async def main() -> None:
        server, before = await serve(answer_ok, deadline=2.0, command_timeout=0.2)
        stuck = await Pbx.connect(server)
        await wait_until(lambda: server.active_sessions == 1)
        await wait_until(lambda: server.active_sessions == 0, timeout=0.2 + 0.6)
        assert server.counters.reply_timeouts == 1
        assert (server.counters.handler_errors, server.counters.deadline_hits) == (0, 0)
        await served_normally(server)
        await stuck.close()
        await finish(server, before)

    with caplog.at_level(logging.INFO, logger="callctl.agi"):
        run(main())
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "no reply to SET VARIABLE within 0.2 s" in caplog.text


def test_the_open_file_limit_is_raised_to_what_max_connections_needs() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

        async def main() -> None:
            server, _ = await serve(answer_ok, max_sessions=1, max_connections=1000)
            await served_normally(server)
            await server.close()

        run(main())
        assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == 1000 + 3 * 256 + 256
        if hard != resource.RLIM_INFINITY:
            with pytest.raises(RuntimeError, match="lower agi_max_connections"):
                ensure_fd_limit(hard + 1)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_unsolicited_reply_is_a_protocol_error_even_if_caught() -> None:
    outcome: list[str] = []

    async def handler(s: AgiSession) -> None:
        try:
            await s.set_variable("A", "b")
        except AgiProtocolError as exc:
            outcome.append(exc.message)
        with pytest.raises(AgiConnectionLost):  # the session is unusable after garbage
            await s.command("NOOP")

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'SET VARIABLE "A" "b"\n'
        await pbx.send(OK + OK)
        assert await pbx.eof() == b""
        await pbx.close()
        assert server.counters.protocol_errors == 1
        assert server.counters.handler_errors == 0
        await finish(server, before)

    run(main())
    assert outcome == ["unsolicited AGI reply"]


def test_handler_exception_is_logged_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    async def handler(s: AgiSession) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        await s.set_variable("ROUTE_RESULT", "ok")

    async def main() -> None:
        server, before = await serve(handler)
        pbx = await Pbx.connect(server)
        assert await pbx.eof() == b""
        await pbx.close()
        pbx = await Pbx.connect(server)
        assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await pbx.send(OK)
        assert await pbx.eof() == b""
        await pbx.close()
        assert server.counters.handler_errors == 1
        await finish(server, before)

    with caplog.at_level(logging.ERROR, logger="callctl.agi"):
        run(main())
    errors = [r for r in caplog.records if r.name == "callctl.agi" and r.exc_info]
    assert len(errors) == 1
    assert "1717171717.42" in errors[0].getMessage()


def test_failing_on_deadline_closes_without_answer(caplog: pytest.LogCaptureFixture) -> None:
    def broken(env: AgiEnvironment) -> Sequence[tuple[str, str]]:
        return [("OK", "fine"), ("BAD", "line\nbreak")]

    async def handler(s: AgiSession) -> None:
        await asyncio.sleep(3600)

    async def main() -> None:
        server, before = await serve(handler, deadline=0.1, on_deadline=broken)
        pbx = await Pbx.connect(server)
        assert await pbx.eof() == b""  # nothing half-sent
        await pbx.close()
        await finish(server, before)

    with caplog.at_level(logging.ERROR, logger="callctl.agi"):
        run(main())
    assert any("on_deadline failed" in r.getMessage() for r in caplog.records)


# -- close -------------------------------------------------------------------------------------


def test_graceful_close_lets_running_requests_finish() -> None:
    async def main() -> None:
        async def handler(s: AgiSession) -> None:
            await asyncio.sleep(0.1)
            await s.set_variable("ROUTE_RESULT", "ok")

        server, _ = await serve(handler)
        port = server.port
        pbx = await Pbx.connect(server)
        await wait_until(lambda: server.running_handlers == 1)
        closing = asyncio.ensure_future(server.close(grace=2.0))
        assert await pbx.line() == b'SET VARIABLE "ROUTE_RESULT" "ok"\n'
        await pbx.send(OK)
        assert await pbx.eof() == b""
        await pbx.close()
        async with asyncio.timeout(IO_TIMEOUT):
            await closing
        assert server.active_sessions == 0
        assert server.counters.shutdown_cuts == 0
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)

    run(main())


def test_close_cuts_stuck_requests_after_grace_with_safe_answer() -> None:
    async def main() -> None:
        async def handler(s: AgiSession) -> None:
            await asyncio.sleep(3600)

        server, before = await serve(handler, deadline=60.0)
        pbx = await Pbx.connect(server)
        silent = await Pbx.connect(server, env=None)  # still in the environment phase
        await wait_until(lambda: server.running_handlers == 1)
        start = time.monotonic()
        closing = asyncio.ensure_future(server.close(grace=0.2))
        assert await pbx.line() == SAFE_LINES[0]
        assert await pbx.line() == SAFE_LINES[1]
        await pbx.send(OK + OK)
        assert await pbx.eof() == b""
        assert await silent.eof() == b""
        async with asyncio.timeout(IO_TIMEOUT):
            await closing
        assert time.monotonic() - start < 0.2 + 0.5
        await pbx.close()
        await silent.close()
        assert server.active_sessions == 0
        assert server.counters.shutdown_cuts == 1
        if before >= 0:  # the listening socket is gone too
            await wait_until(lambda: open_sockets() == before - 1)

    run(main())


def test_async_with_and_port_zero() -> None:
    async def handler(s: AgiSession) -> None:
        await s.verbose("hello", 3)

    async def main() -> None:
        async with FastAgiServer(handler, port=0) as server:
            assert server.port > 0
            pbx = await Pbx.connect(server)
            assert await pbx.line() == b'VERBOSE "hello" "3"\n'
            await pbx.send(OK)
            assert await pbx.eof() == b""
            await pbx.close()
        assert server.active_sessions == 0

    run(main())
