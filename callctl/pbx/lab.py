"""`callctl pbx up|down|status`: a real Asterisk 22 for tests and demos, without Docker.

Debian 12 has no Asterisk package, so the lab builds (once, cached outside the work tree) a
Debian sid chroot with Asterisk from Debian's packages, installs ``dialplan/`` into it with
the lines' endpoints, and runs Asterisk on loopback. Facts this relies on are in
``shared/spec/pbx-lab.md``. Everything here is idempotent: ``up`` on a running lab reloads
the configuration, ``down`` on a stopped lab does nothing.

Debian's Asterisk gets callctl's patches of ``dialplan/patches/`` (a crash on some location
documents, docs/emergency.md): the chroot rebuilds the patched module from Debian's source
of the installed version once, and again whenever the patches change (``PATCH_STAMP``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from callctl.core.lines import Line
from callctl.data import default_emergency_plan

DEFAULT_ROOT = Path(os.environ.get("CALLCTL_PBX_ROOT", "/var/cache/callctl/asterisk-sid"))
MIRROR = os.environ.get("CALLCTL_DEBIAN_MIRROR", "http://deb.debian.org/debian")
PACKAGES = ("asterisk", "asterisk-modules", "asterisk-config")
STAMP = "callctl-lab-built"
PATCH_STAMP = "callctl-lab-patches"  # the digest of the patches the chroot's Asterisk has
PATCH_DIR = "tmp/callctl-patches"  # where the patches are copied to inside the chroot
CONFIG_FILES = (
    "asterisk.conf", "modules.conf", "logger.conf", "pjsip.conf", "extensions.conf",
    "cdr.conf", "cdr_custom.conf", "geolocation.conf", "indications.conf", "features.conf",
    "acl.conf", "udptl.conf", "pjproject.conf", "ccss.conf", "cel.conf",
)  # fmt: skip
CDR_FILE = "var/log/asterisk/cdr-custom/callctl-cdr.csv"
BLOCKS_FILE = "pjsip_blocks.conf"  # the fraud guard's ACL include (callctl.service.authwatch)


class LabError(RuntimeError):
    """The lab cannot be built or started here; the message says what to do."""


@dataclass(frozen=True, slots=True)
class Credential:
    """A line's SIP account on the lab PBX."""

    endpoint: str
    username: str
    password: str
    number: str


@dataclass(frozen=True, slots=True)
class Lab:
    """One lab PBX: a chroot folder and the dialplan folder installed into it."""

    root: Path = DEFAULT_ROOT
    dialplan: Path = Path(__file__).resolve().parents[2] / "dialplan"

    # ------------------------------------------------------------------ paths

    @property
    def etc(self) -> Path:
        return self.root / "etc" / "asterisk"

    @property
    def credentials_file(self) -> Path:
        return self.root / "var" / "lib" / "callctl-lab" / "credentials.json"

    @property
    def cdr_file(self) -> Path:
        return self.root / CDR_FILE

    @property
    def log_file(self) -> Path:
        return self.root / "var" / "log" / "asterisk" / "messages.log"

    @property
    def security_log(self) -> Path:
        """res_security_log's file (dialplan/logger.conf): what the fraud guard follows."""
        return self.root / "var" / "log" / "asterisk" / "security.log"

    @property
    def acl_file(self) -> Path:
        """The fraud guard's ACL include of pjsip.conf."""
        return self.etc / BLOCKS_FILE

    @property
    def acl_reload(self) -> str:
        """The command that makes the lab's Asterisk read the ACL include again."""
        return f"chroot {self.root} asterisk -rx 'module reload res_pjsip.so'"

    def fraud_settings(self) -> dict[str, str]:
        """``CALLCTL_*`` settings that turn the fraud guard's address blocking on here."""
        return {
            "CALLCTL_SECURITY_LOG": str(self.security_log),
            "CALLCTL_ACL_FILE": str(self.acl_file),
            "CALLCTL_ACL_RELOAD": self.acl_reload,
        }

    # ------------------------------------------------------------------ checks

    def check_host(self) -> None:
        if os.geteuid() != 0:
            raise LabError(
                "the test PBX needs root (chroot, mount); run as root, or use docker/ "
                "(see docker/README.md)"
            )
        if not Path("/etc/debian_version").exists():
            raise LabError("the test PBX is built with debootstrap on a Debian-like host; "
                           "elsewhere use docker/ (see docker/README.md)")  # fmt: skip
        if shutil.which("debootstrap") is None:
            _run(["apt-get", "install", "-y", "-qq", "debootstrap"], "installing debootstrap")

    # ------------------------------------------------------------------ build

    @property
    def built(self) -> bool:
        return (self.root / STAMP).exists()

    def build(self) -> None:
        """Debian sid + Asterisk, once; about a minute the first time."""
        if self.built:
            return
        self.check_host()
        if self.root.exists():
            self._unmount()
            shutil.rmtree(self.root)
        self.root.parent.mkdir(parents=True, exist_ok=True)
        partial = self.root.with_name(self.root.name + ".partial")
        if partial.exists():
            _umount(partial / "proc")
            shutil.rmtree(partial)
        _run(["debootstrap", "--variant=minbase", "sid", str(partial), MIRROR], "debootstrap")
        # Keep the package from starting Asterisk with its stock configuration.
        policy = partial / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        apt = ["chroot", str(partial), "apt-get", "-qq", "-o", "Acquire::Check-Valid-Until=false"]
        _run([*apt, "update"], "apt-get update in the chroot")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        _run([*apt, "install", "-y", "--no-install-recommends", *PACKAGES],
             "installing Asterisk in the chroot", env=env)  # fmt: skip
        _run(["chroot", str(partial), "apt-get", "clean"], "apt-get clean")
        self._patch(partial)
        version = _run(["chroot", str(partial), "asterisk", "-V"], "asterisk -V").strip()
        (partial / STAMP).write_text(version + "\n")
        partial.rename(self.root)

    @property
    def patches(self) -> Path:
        return self.dialplan / "patches"

    def patches_digest(self) -> str:
        """What the chroot's Asterisk must have been rebuilt with: the patch folder's digest."""
        digest = hashlib.sha256()
        for path in sorted(self.patches.iterdir()):
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()

    @property
    def patched(self) -> bool:
        stamp = self.root / PATCH_STAMP
        return stamp.exists() and stamp.read_text().strip() == self.patches_digest()

    def _patch(self, root: Path) -> None:
        """Rebuild the patched modules inside ``root`` (about 40 s; needs the Debian mirror)."""
        inside = root / PATCH_DIR
        shutil.rmtree(inside, ignore_errors=True)
        shutil.copytree(self.patches, inside)
        env = {**os.environ, "CALLCTL_DEBIAN_MIRROR": MIRROR}
        try:
            _run(["chroot", str(root), "sh", "/" + PATCH_DIR + "/rebuild-res-geolocation"],
                 "patching Asterisk (dialplan/patches)", env=env)  # fmt: skip
        finally:
            shutil.rmtree(inside, ignore_errors=True)
        (root / PATCH_STAMP).write_text(self.patches_digest() + "\n")

    def ensure_patched(self) -> None:
        """A chroot built before the patches (or with older ones) gets them now."""
        if self.patched:
            return
        self.down()  # a running Asterisk keeps the old module until it restarts
        self._patch(self.root)

    # ------------------------------------------------------------------ config

    def install_config(self, lines: Sequence[Line]) -> list[Credential]:
        """Copy dialplan/ into the chroot and write the lines' endpoints."""
        stock = self.etc.with_name("asterisk.dist")
        if not stock.exists():  # keep the package's sample files out of the way, once
            self.etc.rename(stock)
            self.etc.mkdir()
        for name in CONFIG_FILES:
            shutil.copyfile(self.dialplan / name, self.etc / name)
        creds = self._credentials(lines)
        # No address blocked by a callctl that is gone (its blocks end with it).
        self.acl_file.write_text("; callctl fraud guard: nothing blocked\n")
        (self.etc / "pjsip_lines.conf").write_text(render_lines(lines, creds))
        # Passwords: readable by Asterisk's group only (the uid differs in the chroot).
        (self.etc / "pjsip_lines.conf").chmod(0o640)
        _run(["chroot", str(self.root), "chown", "root:asterisk",
              "/etc/asterisk/pjsip_lines.conf"], "chown pjsip_lines.conf")  # fmt: skip
        return creds

    def _credentials(self, lines: Sequence[Line]) -> list[Credential]:
        """Keep each line's generated password across runs; new lines get a new one."""
        known: dict[str, str] = {}
        if self.credentials_file.exists():
            known = {c["endpoint"]: c["password"] for c in json.loads(
                self.credentials_file.read_text())}  # fmt: skip
        creds = []
        for line in lines:
            for number in (line.number, *line.licences):
                endpoint = endpoint_name(number)
                password = known.get(endpoint) or secrets.token_urlsafe(24)
                creds.append(Credential(endpoint, endpoint, password, number))
        self.credentials_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.credentials_file.with_suffix(".tmp")
        tmp.touch(mode=0o600)
        tmp.write_text(json.dumps([_cred(c) for c in creds], indent=1))
        tmp.replace(self.credentials_file)
        return creds

    def credentials(self) -> dict[str, Credential]:
        """Credentials by line number, as written by the last ``up``."""
        data = json.loads(self.credentials_file.read_text())
        return {c["number"]: Credential(**c) for c in data}

    # ------------------------------------------------------------------ run

    def running(self) -> bool:
        if not self.built:
            return False
        proc = subprocess.run(
            ["chroot", str(self.root), "asterisk", "-rx", "core show uptime"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return proc.returncode == 0 and "uptime" in proc.stdout.lower()

    def up(self, lines: Sequence[Line], timeout: float = 30) -> list[Credential]:
        """Build if needed, install the configuration and start (or reload) Asterisk."""
        self.check_host()
        self.build()
        self.ensure_patched()
        creds = self.install_config(lines)
        (self.root / "etc" / "hosts").write_text(
            f"127.0.0.1 localhost {socket.gethostname()}\n::1 localhost\n"
        )  # Asterisk looks its host name up at start
        if self.running():
            self.cli("core reload")
            loaded = self.cli("module show")
            for module in self._modules():  # modules added to modules.conf since start
                if module not in loaded:
                    self.cli(f"module load {module}")
            return creds
        self._mount()
        run = self.root / "run" / "asterisk"
        run.mkdir(parents=True, exist_ok=True)
        for folder in ("run/asterisk", "var/log/asterisk", "var/lib/asterisk",
                       "var/spool/asterisk"):  # fmt: skip
            _run(["chroot", str(self.root), "chown", "-R", "asterisk:asterisk", "/" + folder],
                 "chown")  # fmt: skip
        _run(["chroot", str(self.root), "asterisk", "-U", "asterisk", "-G", "asterisk"],
             "starting Asterisk")  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = subprocess.run(
                ["chroot", str(self.root), "asterisk", "-rx", "core waitfullybooted"],
                capture_output=True, text=True, timeout=timeout, check=False,
            )  # fmt: skip
            if proc.returncode == 0 and "fully booted" in proc.stdout.lower():
                return creds
            time.sleep(0.2)
        raise LabError(f"Asterisk did not boot within {timeout:.0f} s; see {self.log_file}")

    def _modules(self) -> list[str]:
        text = (self.dialplan / "modules.conf").read_text()
        return re.findall(r"^load\s*=>\s*(\S+)", text, flags=re.MULTILINE)

    def trunk_address(self, trunk: str) -> str:
        """The ``ip:port`` a trunk sends to, from dialplan/pjsip.conf (its far end)."""
        text = (self.dialplan / "pjsip.conf").read_text()
        match = re.search(
            rf"^\[{re.escape(trunk)}\]\(trunk-aor\)\s*\ncontact = sip:(\S+)$", text, re.MULTILINE
        )
        if match is None:
            raise LabError(f"no trunk {trunk!r} in {self.dialplan / 'pjsip.conf'}")
        return match.group(1)

    def use_agi_servers(self, more: Sequence[str]) -> None:
        """Calls ask these FastAGI servers too (``agi://host:port``), besides the dialplan's
        ``CALLCTL_AGI``: its ``CALLCTL_AGI_MORE`` global, set at run time (``up`` and any
        dialplan reload set it back to the file's, empty). None: ``CALLCTL_AGI`` alone."""
        for url in more:
            if not re.fullmatch(r"agi://[\w.-]+(:\d+)?", url):
                raise LabError(f"not a FastAGI address: {url!r}")
        if not more:  # the file's value, by reading the dialplan again (an empty CLI value
            self.cli("dialplan reload")  # would not parse)
            return
        self.cli(f"dialplan set global CALLCTL_AGI_MORE {'|'.join(more)}")

    def cli(self, command: str) -> str:
        """Run an Asterisk CLI command and return its output."""
        return _run(["chroot", str(self.root), "asterisk", "-rx", command], command)

    def down(self, timeout: float = 15) -> None:
        """Stop Asterisk and unmount what ``up`` mounted. Safe when already down."""
        if not self.root.exists():
            return
        if self.running():
            subprocess.run(["chroot", str(self.root), "asterisk", "-rx", "core stop now"],
                           capture_output=True, timeout=timeout, check=False)  # fmt: skip
        pid_file = self.root / "run" / "asterisk" / "asterisk.pid"
        deadline = time.monotonic() + timeout
        while pid_file.exists() and _alive(pid_file) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid_file.exists() and _alive(pid_file):
            os.kill(int(pid_file.read_text().strip()), 9)
        self._unmount()

    def status(self) -> dict[str, object]:
        return {
            "root": str(self.root),
            "built": self.built,
            "version": (self.root / STAMP).read_text().strip() if self.built else None,
            "patched": self.built and self.patched,
            "running": self.running(),
        }

    def _mount(self) -> None:
        proc = self.root / "proc"
        if not os.path.ismount(proc):
            _run(["mount", "-t", "proc", "proc", str(proc)], "mounting /proc in the chroot")

    def _unmount(self) -> None:
        _umount(self.root / "proc")


def _cred(c: Credential) -> dict[str, str]:
    return {"endpoint": c.endpoint, "username": c.username, "password": c.password,
            "number": c.number}  # fmt: skip


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().strip()), 0)
    except (ValueError, ProcessLookupError, FileNotFoundError):
        return False
    return True


def _umount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def _run(cmd: Sequence[str], what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        raise LabError(f"{what} failed ({proc.returncode}): " + " | ".join(tail))
    return proc.stdout


def endpoint_name(number: str) -> str:
    """A line's SIP user name: its E.164 number without the '+'."""
    return number.lstrip("+")


def render_lines(lines: Iterable[Line], creds: Sequence[Credential]) -> str:
    """pjsip sections for each line (and Phone2Go licence), with its emergency centres."""
    by_endpoint = {c.endpoint: c for c in creds}
    out = ["; Written by `callctl pbx up`: one endpoint per line and licence. Do not edit."]
    for line in lines:
        centres = default_emergency_plan().centres_for_address(line.install_address)
        for number in (line.number, *line.licences):
            name = endpoint_name(number)
            cred = by_endpoint[name]
            out.append(f"""
[{name}](line-endpoint)
auth = {name}
aors = {name}
callerid = <{number}>
set_var = CALLCTL_LINE={line.number}
set_var = CALLCTL_PSAP={centres.psap}
set_var = CALLCTL_CIC={centres.cic}
[{name}](line-auth)
username = {cred.username}
password = {cred.password}
[{name}](line-aor)
""")
    return "".join(out)
