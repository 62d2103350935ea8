"""``callctl serve`` as a child process, for the live tests and the live demo."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Self

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
    """Start ``callctl serve`` on a database (with an optional test clock) and stop it."""

    def __init__(self, db: str, clock: str | None, workdir: Path) -> None:
        self.db = db
        self.clock = clock
        self.http_port = free_port()
        self.log = workdir / f"callctl-serve-{self.http_port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> Self:
        wait_port_free(AGI_PORT)
        cmd = [sys.executable, "-m", "callctl", "serve", "--db", self.db,
               "--http-port", str(self.http_port), "--agi-port", str(AGI_PORT)]  # fmt: skip
        if self.clock:
            cmd += ["--clock", self.clock]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
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

    def health(self) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.http_port}/healthz"
        with urllib.request.urlopen(url, timeout=2) as resp:
            body: dict[str, object] = json.loads(resp.read())
            return body

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
