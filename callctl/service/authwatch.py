"""The fraud guard's address blocking: tail Asterisk's security log, block through a pjsip ACL.

Asterisk's ``res_security_log`` writes every security event (``security.log`` in
dialplan/logger.conf): challenges sent, successful authentications, wrong passwords,
unknown accounts, each with the remote address. :class:`SecurityLogWatcher` follows that
file (like ``tail -F``: from its end, and again from the start after a rotation), hands
each event to the pure :class:`callctl.core.fraud.AuthGuard`, and acts on its alerts:

- a block or unblock rewrites the ACL file, an include of pjsip.conf holding one
  ``type = acl`` section that denies the blocked addresses, then runs the reload command
  (``module reload res_pjsip.so``): res_pjsip_acl then answers every request from them
  with 403 before any authentication or dialplan;
- every alert goes to the observer (the ``callctl_fraud_alerts_total`` counter, the
  ``alert.fraud`` stream event) and to the log.

The file is only written when its content changes, and written empty at start: blocks live
in this process and end with it (docs/security.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from callctl.core.fraud import AUTH_BLOCK, AUTH_UNBLOCK, AuthAlert, AuthGuard, parse_security_line
from callctl.service.observer import Observer

log = logging.getLogger("callctl.fraud")

ACL_SECTION = "callctl-fraud-block"
POLL_SECONDS = 0.25
RELOAD_TIMEOUT = 15.0


def acl_text(addresses: Iterable[str]) -> str:
    """The ACL include: one pjsip ``acl`` section denying each address, or none at all."""
    head = (
        "; Written by callctl (fraud guard, docs/security.md): addresses blocked after\n"
        "; repeated failed authentications. Do not edit: callctl rewrites it.\n"
    )
    blocked = sorted(addresses)
    if not blocked:
        return head
    denies = "".join(f"deny = {a}/{128 if ':' in a else 32}\n" for a in blocked)
    return f"{head}[{ACL_SECTION}]\ntype = acl\n{denies}"


class LogTail:
    """New complete lines of a growing file, from its end when first opened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._inode: int | None = None
        self._offset = 0
        self._partial = b""

    def read(self) -> list[str]:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []
        if self._inode is None:  # first look: only what comes from now on
            self._inode, self._offset = st.st_ino, st.st_size
            return []
        if st.st_ino != self._inode or st.st_size < self._offset:  # rotated or truncated
            self._inode, self._offset, self._partial = st.st_ino, 0, b""
        if st.st_size == self._offset:
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [line.decode("utf-8", "replace") for line in lines]


class SecurityLogWatcher:
    """Follows the security log, feeds the guard, keeps the ACL file in step with it."""

    def __init__(
        self,
        guard: AuthGuard,
        security_log: Path,
        observer: Observer,
        *,
        acl_file: Path | None = None,
        reload_command: str = "",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        poll: float = POLL_SECONDS,
    ) -> None:
        self.guard = guard
        self.tail = LogTail(security_log)
        self.observer = observer
        self.acl_file = acl_file
        self.reload_command = reload_command
        self.now = now
        self.poll = poll
        self.reloads = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Clear blocks a previous run left, note the log's end, start following it."""
        self.tail.read()
        await self.apply()
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        """Stop following and lift every block (they belong to this process)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.guard = AuthGuard(self.guard.rules)
        await self.apply()

    async def _run(self) -> None:
        while True:
            try:
                await self.step()
            except Exception:  # keep following: a bad line or a failed reload is logged
                log.exception("fraud guard: security log step failed")
            await asyncio.sleep(self.poll)

    async def step(self) -> list[AuthAlert]:
        """Read what the log gained, expire old blocks, act on the alerts."""
        alerts: list[AuthAlert] = []
        for line in self.tail.read():
            event = parse_security_line(line)
            if event is not None:
                alerts += self.guard.observe(event)
        alerts += self.guard.expire(self.now())
        for alert in alerts:
            log.warning("fraud guard: %s %s: %s", alert.kind, alert.address, alert.reason)
            self.observer.auth_alert(alert)
        if any(a.kind in (AUTH_BLOCK, AUTH_UNBLOCK) for a in alerts):
            await self.apply()
        return alerts

    async def apply(self) -> bool:
        """Write the ACL file for the blocked addresses and reload pjsip if it changed."""
        if self.acl_file is None:
            return False
        text = acl_text(self.guard.blocked)
        try:
            if self.acl_file.read_text("utf-8") == text:
                return False
        except FileNotFoundError:
            pass
        tmp = self.acl_file.with_name(self.acl_file.name + ".tmp")
        tmp.write_text(text, "utf-8")
        tmp.chmod(0o644)
        tmp.replace(self.acl_file)
        if self.reload_command:
            await self._reload()
        return True

    async def _reload(self) -> None:
        proc = await asyncio.create_subprocess_exec(
            *shlex.split(self.reload_command),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), RELOAD_TIMEOUT)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            log.error("fraud guard: %r did not finish in %.0f s", self.reload_command,
                      RELOAD_TIMEOUT)  # fmt: skip
            return
        self.reloads += 1
        if proc.returncode != 0:
            log.error("fraud guard: %r failed (%s): %s", self.reload_command, proc.returncode,
                      out.decode(errors="replace").strip()[-300:])  # fmt: skip
