"""Asyncio FastAGI server: one handler per request, a per-request deadline and a safe answer.

Written in-house: the asyncio FastAGI libraries on PyPI are unmaintained and mishandle the
unsolicited ``HANGUP`` line and ``511`` replies. res_agi has no read timeout, so a server that
never answers holds the call: every request here has a deadline, after which the handler is
cancelled, the *safe answer* (``SET VARIABLE`` lines from ``on_deadline``) is sent within a
short budget and the socket is closed. At most ``max_sessions`` handlers run at once; other
requests get the safe answer at once. Every socket is closed and every task ends on every path.

Misbehaving peers (docs/operations.md, "Misbehaving AGI peers") cost bounded resources: every
phase of a connection has a deadline (the environment within ``env_timeout`` of the connection,
the handler within ``deadline``, the safe answer within its budget, the close within
``_CLOSE_WAIT``), so a slow, stuck or vanished peer (half-open TCP) holds its socket a few
seconds at most, with no TCP keepalive needed; at most ``max_connections`` sockets are open,
and when they are all taken a new connection evicts the oldest one still waiting for its
environment (Asterisk sends it at once, a flood of idle connections does not), so a flood
cannot lock Asterisk out; environment and replies are capped in size
(``callctl.agi.protocol``); trouble is logged at most once a second per kind, with a count.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import resource
import struct
import termios
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from callctl.agi.protocol import (
    AgiEnvironment,
    AgiError,
    AgiEvent,
    AgiProtocolError,
    EnvironmentParser,
    Hangup,
    Reply,
    ReplyParser,
    format_command,
)

logger = logging.getLogger("callctl.agi")

AgiHandler = Callable[["AgiSession"], Awaitable[None]]
"""Handles one request; returns when done (the server then closes the socket)."""

SafeAnswer = Callable[[AgiEnvironment], Sequence[tuple[str, str]]]
"""Pure and fast: the ``(name, value)`` variables to set when a request cannot be handled."""

_READ_CHUNK = 65536
_CLOSE_WAIT = 0.5  # seconds to let a transport flush and close before aborting it
FD_RESERVE = 256
"""File descriptors kept for everything but FastAGI connections (database, HTTP, logs)."""
_LOG_EVERY = 1.0  # seconds between two log lines about one kind of connection trouble


class AgiHangup(AgiError):
    """The channel is gone: HANGUP was seen before this command, or Asterisk replied 511."""

    def __init__(self, message: str, reply: Reply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class AgiConnectionLost(AgiHangup):
    """The connection closed (by Asterisk or by the server) before a reply arrived."""


class AgiTimeout(AgiError):
    """No reply within the command's timeout (the session stays usable)."""


class AgiCommandError(AgiError):
    """A convenience command got a reply other than 200 (``reply`` says which)."""

    def __init__(self, message: str, reply: Reply) -> None:
        super().__init__(f"{message}: {reply.raw!r}")
        self.reply = reply


class AgiSession:
    """One FastAGI request: its environment and the commands sent back on its channel.

    Commands are sequential (one in flight at a time). A reply that arrives after its command
    timed out or was cancelled is read and dropped before the next command's reply.
    """

    def __init__(
        self,
        env: AgiEnvironment,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        parser: ReplyParser | None = None,
        command_timeout: float = 1.0,
    ) -> None:
        self._env = env
        self._reader = reader
        self._writer = writer
        self._parser = parser if parser is not None else ReplyParser()
        self._events: deque[AgiEvent] = deque()
        self._command_timeout = command_timeout
        self._pending = 0  # commands written whose reply has not been read yet
        self._hungup = False
        self._closed = False
        self._busy = False
        self._protocol_error: AgiProtocolError | None = None

    @property
    def env(self) -> AgiEnvironment:
        """The request's ``agi_*`` environment."""
        return self._env

    @property
    def hungup(self) -> bool:
        """True once a ``HANGUP`` line or a ``511`` reply has been read."""
        self._take_hangups()
        return self._hungup

    def _queue(self, data: bytes) -> None:
        self._events.extend(self._parser.feed(data))

    def _take_hangups(self) -> None:
        while self._events and isinstance(self._events[0], Hangup):
            self._events.popleft()
            self._hungup = True

    async def _read_reply(self) -> Reply:
        """Read until every pending reply has arrived; the last one (``_pending`` becomes 0)."""
        while True:
            while not self._events:
                try:
                    data = await self._reader.read(_READ_CHUNK)
                except OSError as exc:
                    raise AgiConnectionLost(f"connection lost: {exc}") from exc
                if not data:
                    raise AgiConnectionLost("Asterisk closed the connection")
                self._queue(data)
            event = self._events.popleft()
            if isinstance(event, Hangup):
                self._hungup = True
                continue
            self._pending -= 1
            if event.code == 511:
                self._hungup = True
            if self._pending <= 0:
                self._pending = 0
                extra = next((e for e in self._events if isinstance(e, Reply)), None)
                if extra is not None:
                    raise AgiProtocolError("unsolicited AGI reply", extra.raw)
                return event

    async def command(self, command: str, *args: str, timeout: float | None = None) -> Reply:
        """Send ``command`` with quoted ``args`` and return its reply (200, 510 or 520).

        Raises AgiHangup if the channel already hung up (nothing is sent) or the reply is 511;
        AgiConnectionLost if the connection closes first; AgiTimeout after ``timeout`` seconds
        (default: the server's command timeout); ValueError if the command cannot be sent
        safely; AgiProtocolError on garbage.
        """
        line = format_command(command, *args)
        if self._closed:
            raise AgiConnectionLost("the AGI session is closed")
        self._take_hangups()
        if self._hungup:
            raise AgiHangup(f"channel hung up before {command}")
        if self._busy:
            raise RuntimeError("another AGI command is already in progress on this session")
        self._busy = True
        limit = self._command_timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit) as scope:
                self._writer.write(line)
                self._pending += 1
                try:
                    await self._writer.drain()
                except OSError as exc:
                    raise AgiConnectionLost(f"connection lost: {exc}") from exc
                reply = await self._read_reply()
        except TimeoutError:
            if not scope.expired():
                raise
            raise AgiTimeout(f"no reply to {command} within {limit} s") from None
        except AgiProtocolError as exc:
            self._closed = True
            self._protocol_error = exc
            raise
        except AgiConnectionLost:
            self._closed = True
            raise
        finally:
            self._busy = False
        if reply.code == 511:
            raise AgiHangup(f"{command} refused: channel is dead", reply)
        return reply

    async def set_variable(self, name: str, value: str) -> None:
        """``SET VARIABLE "name" "value"``; AgiCommandError unless the reply is 200."""
        reply = await self.command("SET VARIABLE", name, value)
        if not reply.ok:
            raise AgiCommandError(f"SET VARIABLE {name} failed", reply)

    async def get_full_variable(self, expr: str) -> str | None:
        """``GET FULL VARIABLE "expr"`` (e.g. ``${CHANNEL(pjsip,remote_addr)}``).

        The substituted value (``""`` if empty), or None when Asterisk answers ``result=0``.
        """
        reply = await self.command("GET FULL VARIABLE", expr)
        if not reply.ok:
            raise AgiCommandError("GET FULL VARIABLE failed", reply)
        if reply.result != "1":
            return None
        # This reply never carries key=value extras: take everything between the brackets
        # so a value such as "x) endpos=5" survives intact.
        raw, prefix = reply.lines[0], "200 result=1 ("
        if raw.startswith(prefix) and raw.endswith(")"):
            return raw[len(prefix) : -1]
        return reply.data if reply.data is not None else ""

    async def verbose(self, message: str, level: int = 1) -> None:
        """``VERBOSE "message" level``: a line in Asterisk's console/log."""
        reply = await self.command("VERBOSE", message, str(level))
        if not reply.ok:
            raise AgiCommandError("VERBOSE failed", reply)

    async def _send_final(self, payload: bytes, count: int, budget: float) -> None:
        """Server side: write ``count`` commands at once, read their replies within ``budget``.

        Used for the safe answer after the handler is gone; never raises for I/O or protocol
        trouble (the socket is closed right after anyway).
        """
        self._closed = True
        if not payload:
            return
        try:
            async with asyncio.timeout(budget):
                self._writer.write(payload)
                self._pending += count
                await self._writer.drain()
                # Wait for the replies so Asterisk has run every SET VARIABLE before our FIN.
                await self._read_reply()
        except (TimeoutError, AgiError, OSError, RuntimeError) as exc:
            logger.debug("safe answer for %s not confirmed: %s", self._env.uniqueid, exc)


@dataclass
class AgiCounters:
    """Plain counters for observability (monotonic since the server was created)."""

    sessions_total: int = 0
    """Connections accepted (refused ones excluded)."""
    deadline_hits: int = 0
    """Handlers cut at the per-request deadline (safe answer sent)."""
    overload_hits: int = 0
    """Requests answered with the safe answer because max_sessions handlers were running."""
    protocol_errors: int = 0
    """Connections closed because the peer did not speak FastAGI."""
    handler_errors: int = 0
    """Handlers that raised (logged with their traceback)."""
    reply_timeouts: int = 0
    """Handlers ended by a command the peer did not answer in time (a stuck or vanished peer,
    or a very slow Asterisk): the socket is closed, no traceback logged."""
    env_timeouts: int = 0
    """Connections closed because no complete environment arrived in time."""
    refused: int = 0
    """Connections closed at once: server closing, or max_connections reached with every
    connection past its environment."""
    evicted: int = 0
    """Connections still waiting for their environment, closed to make room for a new one."""
    shutdown_cuts: int = 0
    """Handlers cut by close() after its grace period (safe answer sent)."""


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    scope: asyncio.Timeout | None = None  # the current phase's deadline, for close()
    evicted: bool = False  # closed by the server to make room for a newer connection

    def unread(self) -> int:
        """Bytes that arrived but are not parsed yet: in the kernel's socket buffer, or in
        the StreamReader's (it holds them for one turn of the loop before our task runs).
        Asterisk's environment is there the moment its connection is accepted."""
        buffered = len(getattr(self.reader, "_buffer", b""))  # CPython's StreamReader
        sock = self.writer.transport.get_extra_info("socket")
        fd = sock.fileno() if sock is not None else -1
        if fd < 0:
            return buffered
        try:
            pending = struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            return buffered
        return buffered + int(pending)


class _Throttled:
    """Log lines about connection trouble, at most one per kind every ``_LOG_EVERY`` seconds;
    the next line says how many were left out, so a flood costs a line a second, not one a
    connection (the counters have every event)."""

    def __init__(self) -> None:
        self._next: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str, *args: object) -> None:
        if not logger.isEnabledFor(level):
            return
        now = time.monotonic()
        if now < self._next.get(kind, 0.0):
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        self._next[kind] = now + _LOG_EVERY
        skipped = self._skipped.pop(kind, 0)
        if skipped:
            message += " (and %d more like it since the last such line)"
            args = (*args, skipped)
        logger.log(level, message, *args)


def ensure_fd_limit(needed: int) -> int:
    """Raise this process's soft limit of open files to ``needed`` if it is lower (up to the
    hard limit); the soft limit now. RuntimeError if the hard limit is below ``needed``."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return needed if soft == resource.RLIM_INFINITY else soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise RuntimeError(
            f"{needed} file descriptors needed (max_connections + 3 * backlog + {FD_RESERVE}) "
            f"but the hard limit is {hard}: lower agi_max_connections or raise it (ulimit -Hn)"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close the socket: gracefully if it flushes quickly, else abort it."""
    writer.close()
    try:
        async with asyncio.timeout(_CLOSE_WAIT):
            await writer.wait_closed()
    except (TimeoutError, OSError):
        writer.transport.abort()
    except asyncio.CancelledError:
        writer.transport.abort()
        raise


class FastAgiServer:
    """FastAGI server on ``host:port`` running ``handler`` for each request.

    - ``deadline``: seconds from connection to the end of the handler; past it the handler is
      cancelled, ``on_deadline(env)`` is sent as ``SET VARIABLE`` lines within
      ``safe_answer_budget`` seconds, and the socket is closed.
    - ``max_sessions``: handlers running at once; further requests get the safe answer at once.
    - ``max_connections``: open connections at once (default ``4 * max_sessions``). When they
      are all open, a new connection evicts the oldest one still waiting for its environment
      with nothing unread (Asterisk's environment is unread the moment it is accepted); if
      there is none, the new one is closed unanswered, so the dialplan must treat a missing
      result variable as failure (it must anyway: a crashed server also reads as
      ``AGISTATUS=SUCCESS``).
    - ``env_timeout``: seconds from the connection to the end of the environment block, else
      the socket is closed (a slow or silent peer).
    - ``command_timeout``: default read timeout of each command's reply.
    - ``backlog``: the listening socket's queue of connections not accepted yet. asyncio
      accepts up to ``backlog`` connections per turn of the loop, hands them to us on the next
      turn, and closes a refused or evicted one on the turn after, so under a flood the process
      holds at most ``max_connections + 3 * backlog`` sockets (1 024 with the defaults);
      ``start`` raises its open-file limit to that plus ``FD_RESERVE`` if it is lower.

    Without ``on_deadline`` the safe answer sets nothing (the socket is just closed).
    """

    def __init__(
        self,
        handler: AgiHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        deadline: float = 2.0,
        max_sessions: int = 64,
        on_deadline: SafeAnswer | None = None,
        max_connections: int | None = None,
        env_timeout: float = 1.0,
        command_timeout: float = 1.0,
        safe_answer_budget: float = 0.5,
        backlog: int = 256,
    ) -> None:
        if deadline <= 0 or env_timeout <= 0 or command_timeout <= 0 or safe_answer_budget <= 0:
            raise ValueError("deadline and timeouts must be positive")
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        self._handler = handler
        self._host = host
        self._port = port
        self._deadline = deadline
        self._max_sessions = max_sessions
        self._on_deadline = on_deadline
        self._max_connections = max_connections if max_connections is not None else 4 * max_sessions
        if self._max_connections < max_sessions:
            raise ValueError("max_connections must be at least max_sessions")
        self._env_timeout = env_timeout
        self._command_timeout = command_timeout
        self._safe_budget = safe_answer_budget
        self._backlog = backlog
        self.counters = AgiCounters()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # Open connections, and those still waiting for their environment, oldest first.
        self._connections: dict[_Connection, None] = {}
        self._handshaking: dict[_Connection, None] = {}
        self._log = _Throttled()
        self._running = 0
        self._closing = False
        self._close_at: float | None = None
        self._close_done: asyncio.Event | None = None

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (port 0 picks a free port: read it from ``port``)."""
        if self._server is not None:
            raise RuntimeError("FastAGI server already started")
        self._closing = False
        self._close_at = None
        ensure_fd_limit(self._max_connections + 3 * self._backlog + FD_RESERVE)
        self._server = await asyncio.start_server(
            self._on_connect, self._host, self._port, backlog=self._backlog
        )
        logger.info("FastAGI listening on %s:%d", self._host, self.port)

    @property
    def port(self) -> int:
        """The listening port (the ephemeral one when started with port 0)."""
        if self._server is not None and self._server.sockets:
            return int(self._server.sockets[0].getsockname()[1])
        return self._port

    @property
    def active_sessions(self) -> int:
        """Connections still being served (their task not finished yet)."""
        return len(self._tasks)

    @property
    def open_connections(self) -> int:
        """Connections open now (at most ``max_connections``)."""
        return len(self._connections)

    @property
    def running_handlers(self) -> int:
        """Handlers running now (at most ``max_sessions``)."""
        return self._running

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting, let requests finish for up to ``grace`` seconds, then cut the rest.

        A handler still running at the end of the grace period gets the deadline treatment
        (cancelled, safe answer, socket closed); whatever still runs after that is cancelled.
        """
        server = self._server
        if server is None:
            return
        if self._close_done is not None:  # another close() is in progress
            await self._close_done.wait()
            return
        self._close_done = asyncio.Event()
        try:
            await self._close(server, grace)
        finally:
            self._server = None
            self._close_done.set()
            self._close_done = None
            logger.info("FastAGI server closed")

    async def _close(self, server: asyncio.Server, grace: float) -> None:
        loop = asyncio.get_running_loop()
        self._closing = True
        self._close_at = loop.time() + max(grace, 0.0)
        server.close()
        for conn in list(self._connections):
            if conn.scope is not None:
                when = conn.scope.when()
                if when is None or when > self._close_at:
                    conn.scope.reschedule(self._close_at)
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=grace + self._safe_budget + _CLOSE_WAIT)
        stuck = {task for task in self._tasks if not task.done()}
        for task in stuck:
            task.cancel()
        if stuck:
            _, still = await asyncio.wait(stuck, timeout=1.0)
            if still:
                logger.error("%d FastAGI task(s) ignore cancellation", len(still))
                for conn in list(self._connections):
                    conn.writer.transport.abort()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await server.wait_closed()

    async def __aenter__(self) -> FastAgiServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- one connection -----------------------------------------------------------------------

    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        full = len(self._connections) >= self._max_connections
        if self._closing or (full and not self._evict_oldest_silent()):
            self.counters.refused += 1
            self._log.log(
                logging.WARNING, "refused", "FastAGI connection refused (%s)",
                "closing" if self._closing else f"{len(self._connections)} connections open",
            )  # fmt: skip
            writer.transport.abort()
            return
        self.counters.sessions_total += 1
        conn = _Connection(reader, writer)
        self._connections[conn] = None
        self._handshaking[conn] = None
        task = asyncio.get_running_loop().create_task(self._serve(reader, conn))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _evict_oldest_silent(self) -> bool:
        """Close the oldest connection still waiting for its environment with nothing unread
        (a connection whose bytes are waiting, such as Asterisk's just accepted, is spared);
        False if there is none."""
        oldest = next((c for c in self._handshaking if not c.unread()), None)
        if oldest is None:
            return False
        self._forget(oldest)
        oldest.evicted = True
        self.counters.evicted += 1
        self._log.log(
            logging.WARNING, "evicted",
            "FastAGI connections full (%d): closed the oldest one still without environment",
            self._max_connections,
        )  # fmt: skip
        oldest.writer.transport.abort()  # its task sees EOF and ends
        return True

    def _forget(self, conn: _Connection) -> None:
        self._connections.pop(conn, None)
        self._handshaking.pop(conn, None)

    async def _serve(self, reader: asyncio.StreamReader, conn: _Connection) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        writer = conn.writer
        try:
            got = await self._read_env(reader, conn, started + self._env_timeout)
            self._handshaking.pop(conn, None)
            if got is None:
                return
            env, rest = got
            parser = ReplyParser()
            session = AgiSession(
                env, reader, writer, parser=parser, command_timeout=self._command_timeout
            )
            try:
                session._queue(rest)
            except AgiProtocolError as exc:
                self._protocol_error(env, exc)
                return
            if self._running >= self._max_sessions:
                self.counters.overload_hits += 1
                self._log.log(
                    logging.WARNING, "overload",
                    "FastAGI overload (%d handlers running): safe answer for %s",
                    self._running, env.uniqueid,
                )  # fmt: skip
                await self._safe_answer(session)
                return
            self._running += 1
            try:
                await self._run_handler(session, conn, started + self._deadline)
            finally:
                self._running -= 1
        finally:
            self._forget(conn)
            await _close_writer(writer)

    def _phase_deadline(self, when: float) -> float:
        return when if self._close_at is None else min(when, self._close_at)

    async def _read_env(
        self, reader: asyncio.StreamReader, conn: _Connection, until: float
    ) -> tuple[AgiEnvironment, bytes] | None:
        parser = EnvironmentParser()
        scope = asyncio.timeout_at(self._phase_deadline(until))
        try:
            async with scope:
                conn.scope = scope
                while True:
                    data = await reader.read(_READ_CHUNK)
                    if not data:
                        if not conn.evicted:
                            self._log.log(
                                logging.INFO, "early_close",
                                "FastAGI peer closed before sending its environment",
                            )  # fmt: skip
                        return None
                    env = parser.feed(data)
                    if env is not None:
                        return env, parser.remainder
        except TimeoutError:
            if not scope.expired():
                raise
            self.counters.env_timeouts += 1
            self._log.log(
                logging.WARNING, "env_timeout",
                "FastAGI environment not received within %.3f s; closing", self._env_timeout,
            )  # fmt: skip
            return None
        except AgiProtocolError as exc:
            self._protocol_error(None, exc)
            return None
        except OSError as exc:
            if not conn.evicted:
                self._log.log(
                    logging.INFO, "lost",
                    "FastAGI connection lost while reading the environment: %s", exc,
                )  # fmt: skip
            return None
        finally:
            conn.scope = None

    async def _run_handler(self, session: AgiSession, conn: _Connection, until: float) -> None:
        env = session.env
        scope = asyncio.timeout_at(self._phase_deadline(until))
        try:
            async with scope:
                conn.scope = scope
                await self._handler(session)
        except TimeoutError:
            if not scope.expired():
                self._handler_error(env)
        except AgiProtocolError:
            if session._protocol_error is None:  # raised by the handler itself
                self._handler_error(env)
        except AgiTimeout as exc:
            self.counters.reply_timeouts += 1
            self._log.log(logging.WARNING, "reply_timeout", "FastAGI %s: %s", env.uniqueid, exc)
        except AgiConnectionLost as exc:
            self._log.log(
                logging.INFO, "lost", "FastAGI %s: connection lost: %s", env.uniqueid, exc
            )
        except AgiHangup:
            logger.debug("FastAGI %s: channel hung up", env.uniqueid)
        except Exception:
            self._handler_error(env)
        finally:
            conn.scope = None
        if session._protocol_error is not None:  # counted even if the handler caught it
            self._protocol_error(env, session._protocol_error)
        if not scope.expired():
            return
        # Past the deadline (or cut by close()): the handler was cancelled, whatever it did
        # with the cancellation (returned, raised, or the usual TimeoutError).
        if self._closing:
            self.counters.shutdown_cuts += 1
            logger.warning("FastAGI %s: cut by server close; safe answer", env.uniqueid)
        else:
            self.counters.deadline_hits += 1
            self._log.log(
                logging.WARNING, "deadline",
                "FastAGI %s: handler missed its %.3f s deadline; safe answer",
                env.uniqueid, self._deadline,
            )  # fmt: skip
        await self._safe_answer(session)

    async def _safe_answer(self, session: AgiSession) -> None:
        payload = b""
        count = 0
        if self._on_deadline is not None:
            try:
                pairs = tuple(self._on_deadline(session.env))
                payload = b"".join(format_command("SET VARIABLE", n, v) for n, v in pairs)
                count = len(pairs)
            except Exception:
                logger.exception("FastAGI on_deadline failed for %s", session.env.uniqueid)
                payload, count = b"", 0
        await session._send_final(payload, count, self._safe_budget)

    def _protocol_error(self, env: AgiEnvironment | None, exc: AgiProtocolError) -> None:
        self.counters.protocol_errors += 1
        self._log.log(
            logging.WARNING, "protocol",
            "FastAGI protocol error%s: %s", f" ({env.uniqueid})" if env else "", exc,
        )  # fmt: skip

    def _handler_error(self, env: AgiEnvironment) -> None:
        self.counters.handler_errors += 1
        logger.exception(
            "FastAGI handler failed for %s (%s)", env.uniqueid or "?", env.channel or "?"
        )
