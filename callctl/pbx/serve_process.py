"""``callctl serve`` as a child process, for the live tests and the live demo."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from callctl.store.db import make_engine
from callctl.store.spool import default_spool_path
from callctl.store.tokens import TokenStore

AGI_PORT = 4573  # the port dialplan/extensions.conf calls


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port_free(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                time.sleep(0.1)
    raise RuntimeError(f"port {port} is still in use: is another callctl serve running?")


class ServeProcess:
    """Start ``callctl serve`` on a database (with an optional test clock) and stop it.

    ``agi_port`` defaults to the port the dialplan calls; ``prefix`` wraps the command
    (e.g. ``taskset -c 0``, or ``-m cProfile -o FILE`` given as ``python_args``) and ``env``
    adds environment settings (``CALLCTL_…``). The durable spool (docs/operations.md) is the
    database's default file name in ``workdir``, so a restart on the same database and
    workdir finds what the previous process left, and nothing lands in the checkout.
    """

    def __init__(
        self,
        db: str,
        clock: str | None,
        workdir: Path,
        *,
        agi_port: int = AGI_PORT,
        prefix: Sequence[str] = (),
        python_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.agi_port = agi_port
        self.http_port = free_port()
        self.log = workdir / f"callctl-serve-{self.http_port}.log"
        self.spool = workdir / default_spool_path(db).name
        self.prefix = tuple(prefix)
        self.python_args = tuple(python_args)
        self.env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None, "not started"
        return self.proc.pid

    def start(self, timeout: float = 60) -> Self:
        if self.agi_port == AGI_PORT:
            wait_port_free(AGI_PORT)
        cmd = [*self.prefix, sys.executable, *self.python_args, "-m", "callctl", "serve",
               "--db", self.db, "--http-port", str(self.http_port),
               "--agi-port", str(self.agi_port), "--spool", str(self.spool)]  # fmt: skip
        if self.clock:
            cmd += ["--clock", self.clock]
        env = {**os.environ, **self.env}
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"callctl serve exited:\n{self.log.read_text()}")
            try:
                if self.health()["status"] == "ok":
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"callctl serve did not come up:\n{self.log.read_text()}")

    def create_token(self, role: str = "read") -> str:
        """A new bearer token of ``role`` on this server's database (after ``start``: the
        database is migrated by then), for clients of its HTTP API and stream."""

        async def create() -> str:
            engine = make_engine(self.db)
            try:
                return (await TokenStore(engine).create(role, "serve-process"))[1]
            finally:
                await engine.dispose()

        return asyncio.run(create())

    def health(self) -> dict[str, Any]:
        """The parsed ``/healthz`` body (a JSON object), also when it says 503 (degraded)."""
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body: dict[str, Any] = json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 503:
                raise
            body = json.loads(exc.read())
        return body

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
