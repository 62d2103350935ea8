"""`callctl pbx audit`: the test PBX as a SIP scanner sees it, with sipvicious.

Scanners find a PBX on the internet within minutes of it answering on 5060, then try to
enumerate its accounts and guess their passwords; the prize is free calls to premium
international numbers. This module runs the scanner attackers use, sipvicious (``svmap``,
``svwar``, ``svcrack``, as subprocesses: it has no library API or types), against the lab
PBX and reads what each tool printed into an :class:`AuditReport`:

- ``svmap`` must see the PBX, with the configured User-Agent (not Asterisk's version);
- ``svwar`` with REGISTER, INVITE and OPTIONS must find no extension among names that
  include every real endpoint (lines, licences, trunks) and common guesses;
- ``svcrack`` must not find a line's password with a wordlist.

:class:`Leak` names the misconfigurations known to make the PBX enumerable, and
:func:`weaken` renders each one into ``pjsip.conf``; :func:`weakened` installs one into the
running lab and restores the good configuration afterwards. The live tests use them to
prove that the audit fails when a leak is there (``docs/security.md``).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from callctl.pbx.lab import Lab

METHODS = ("REGISTER", "INVITE", "OPTIONS")
DEFAULT_TARGET = "127.0.0.1:5060"
# Names a scanner tries first: defaults of PBX distributions and of trunks.
COMMON_NAMES = (
    "100", "101", "200", "1000", "1001", "2000", "admin", "test", "guest", "user",
    "operator", "asterisk", "sip", "trunk", "provider", "carrier", "voip", "anonymous",
)  # fmt: skip
COMMON_PASSWORDS = (
    "1234", "12345", "123456", "12345678", "password", "secret", "admin", "test",
    "asterisk", "voip", "sip", "changeme", "0000", "1111", "qwerty", "letmein",
)  # fmt: skip
ANONYMOUS_MODULE = "res_pjsip_endpoint_identifier_anonymous.so"
SVCRACK_EXIT_ERROR = 30  # sipvicious: no response, or the scan could not run


class AuditError(RuntimeError):
    """sipvicious cannot be run here, or a tool did something the audit cannot read."""


class Leak(StrEnum):
    """A known misconfiguration that lets a scanner enumerate accounts (and its fix)."""

    ANONYMOUS = "anonymous-endpoint"
    UNAUTHENTICATED_OPTIONS = "unauthenticated-options"
    REALM_MISMATCH = "realm-mismatch"
    TRUNK_BY_NAME = "trunk-identified-by-name"


@dataclass(frozen=True, slots=True)
class Device:
    """A SIP device svmap saw: where, and the User-Agent (or Server) it announced."""

    address: str
    user_agent: str


@dataclass(frozen=True, slots=True)
class Finding:
    """Something a scanner learnt that it should not have."""

    check: str  # "svwar INVITE", "svcrack"
    subject: str  # the extension or user name concerned
    detail: str  # what the tool says: "reqauth", "noauth", "weird", "password found"

    def __str__(self) -> str:
        return f"{self.check}: {self.subject} ({self.detail})"


@dataclass(frozen=True, slots=True)
class ToolRun:
    """One sipvicious run: its command (no secret in it), exit status and duration."""

    tool: str
    args: tuple[str, ...]
    returncode: int
    seconds: float


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What the audit found. ``problems`` are checks that could not be made (the PBX did not
    answer, svmap did not see it): an audit with problems proves nothing."""

    target: str
    devices: tuple[Device, ...] = ()
    findings: tuple[Finding, ...] = ()
    problems: tuple[str, ...] = ()
    runs: tuple[ToolRun, ...] = field(default=(), repr=False)

    @property
    def clean(self) -> bool:
        return not self.findings and not self.problems

    def checks(self) -> set[str]:
        """The checks that found something (``svwar OPTIONS``, ``svcrack``…)."""
        return {f.check for f in self.findings}

    def render(self) -> str:
        """The report as text, for ``callctl pbx audit``; it never holds a password."""
        out = [f"SIP security audit of {self.target}"]
        for device in self.devices:
            out.append(f"  svmap: {device.address} answers as {device.user_agent!r}")
        for tool in dict.fromkeys(run.tool for run in self.runs):
            mine = [run for run in self.runs if run.tool == tool]
            out.append(f"  {tool}: {len(mine)} run(s), {sum(r.seconds for r in mine):.1f} s")
        out.extend(f"  problem: {p}" for p in self.problems)
        out.extend(f"  FINDING {f}" for f in self.findings)
        if self.clean:
            out.append("result: nothing found")
        elif self.findings:
            out.append(f"result: {len(self.findings)} finding(s)")
        else:
            out.append("result: incomplete, the audit could not run every check")
        return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- parsing


@dataclass(frozen=True, slots=True)
class Response:
    """A final SIP response svwar received: what a scanner compares between names."""

    user: str  # the user of its From header: the name svwar tried
    status: str  # "401 Unauthorized"
    realm: str | None  # of its digest challenge, if any

    def __str__(self) -> str:
        return self.status + (f' (realm "{self.realm}")' if self.realm else "")


def parse_table(stdout: str) -> list[tuple[str, ...]]:
    """The rows of the result table sipvicious prints (its header row left out)."""
    rows = [
        tuple(cell.strip() for cell in line.strip().strip("|").split("|"))
        for line in stdout.splitlines()
        if line.startswith("|")
    ]
    return rows[1:]


def parse_svmap(stdout: str) -> list[Device]:
    return [Device(row[0], row[1]) for row in parse_table(stdout) if len(row) == 2]


def parse_svwar(method: str, stdout: str) -> list[Finding]:
    return [Finding(f"svwar {method}", row[0], row[1]) for row in parse_table(stdout)
            if len(row) == 2]  # fmt: skip


def parse_svcrack(stdout: str) -> list[Finding]:
    """A cracked password is named by its user only: the report never carries it."""
    return [Finding("svcrack", row[0], "password found") for row in parse_table(stdout)
            if len(row) == 2]  # fmt: skip


def parse_responses(stdout: str) -> list[Response]:
    """The final responses in svwar's ``--debug`` output (it prints each packet it receives
    as a Python bytes literal); provisional responses and requests are left out."""
    out = []
    for line in stdout.splitlines():
        if not line.startswith(("b'", 'b"')):
            continue
        packet = ast.literal_eval(line)
        if not isinstance(packet, bytes):
            continue
        text = packet.decode("utf-8", "replace")
        status = re.match(r"SIP/2\.0 ([2-6]\d\d[^\r\n]*)", text)
        user = re.search(r"^(?:From|f):[^\r\n]*?<?sips?:([^@;>\s]+)@", text, re.MULTILINE)
        if status is None or user is None:
            continue
        realm = re.search(r'^WWW-Authenticate:[^\r\n]*realm="([^"]*)"', text,
                          re.MULTILINE | re.IGNORECASE)  # fmt: skip
        out.append(Response(user.group(1), status.group(1).strip(),
                            realm.group(1) if realm else None))  # fmt: skip
    return out


def compare(method: str, name: str, responses: Sequence[Response]) -> Finding | str | None:
    """Whether ``name`` was answered unlike the unknown user svwar asks first: a finding,
    a problem (a string: the comparison could not be made), or None (the same answer).

    svwar 0.3.8 cannot tell this itself on a PBX that challenges everybody: it stops at the
    first response equal to the unknown user's 401 ("unknown response"), and it compares
    status lines only, so a challenge in another realm goes unnoticed."""
    mine = [r for r in responses if r.user == name]
    others = [r for r in responses if r.user != name]
    if not mine or not others:
        who = "an unknown user" if not others else name
        return f"svwar {method}: no final response for {who}"
    base, got = others[0], mine[-1]
    if (got.status, got.realm) == (base.status, base.realm):
        return None
    return Finding(f"svwar {method}", name, f"answered {got} where an unknown user gets {base}")


def tool_error(stderr: str) -> str | None:
    """The first error or critical line a tool logged, if any."""
    for line in stderr.splitlines():
        if re.match(r"(ERROR|CRITICAL):", line):
            return line.split(":", 2)[-1].strip()
    return None


# ---------------------------------------------------------------------------- running


def split_target(target: str) -> tuple[str, str]:
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise AuditError(f"target {target!r} is not host:port")
    return host, port


def sipvicious(tool: str) -> str:
    """The path of a sipvicious command (``svmap``…), beside this Python first."""
    name = f"sipvicious_{tool}"
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise AuditError(f"{name} not found: install the test extras (scripts/bootstrap test)")
    return found


@dataclass
class Auditor:
    """Runs sipvicious against ``target`` and collects what it found. svwar runs once per
    name (see :func:`compare`), ``workers`` at a time."""

    target: str = DEFAULT_TARGET
    timeout: float = 120
    workers: int = 6
    runs: list[ToolRun] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def _run(self, tool: str, args: Sequence[str]) -> subprocess.CompletedProcess[str]:
        host, port = split_target(self.target)
        argv = [*args, "-p", port, host]
        start = time.monotonic()
        try:
            proc = subprocess.run(
                [sipvicious(tool), *argv], capture_output=True, text=True, check=False,
                timeout=self.timeout, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise AuditError(f"{tool} did not finish within {self.timeout:.0f} s") from exc
        self.runs.append(ToolRun(tool, tuple(argv), proc.returncode,
                                 time.monotonic() - start))  # fmt: skip
        return proc

    def svmap(self) -> list[Device]:
        proc = self._run("svmap", [])
        devices = parse_svmap(proc.stdout)
        if not devices:
            self.problems.append(f"svmap does not see a SIP device at {self.target}")
        return devices

    def svwar(self, method: str, names: Iterable[str]) -> list[Finding]:
        """Each name with ``method``, each in its own svwar run."""
        with ThreadPoolExecutor(self.workers) as pool:
            results = list(pool.map(lambda name: self._svwar_one(method, name), names))
        return [f for found in results for f in found]

    def _svwar_one(self, method: str, name: str) -> list[Finding]:
        """``--force``: svwar gives up by itself when an unknown user is asked to
        authenticate, which is exactly what a good PBX does."""
        with tempfile.TemporaryDirectory(prefix="callctl-audit-") as work:
            dictionary = Path(work) / "names.txt"
            dictionary.write_text(name + "\n")
            proc = self._run("svwar", ["--force", "--debug", "-m", method, "-d",
                                       str(dictionary), "--maximumtime", "5"])  # fmt: skip
        found = parse_svwar(method, proc.stdout)
        verdict = compare(method, name, parse_responses(proc.stdout))
        if isinstance(verdict, str):
            error = tool_error(proc.stderr)
            self.problems.append(verdict + (f" ({error})" if error else ""))
        elif verdict is not None and not found:
            found = [verdict]
        elif verdict is not None:  # svwar's own word, with what differed
            found = [Finding(f.check, f.subject, f"{f.detail}: {verdict.detail}") for f in found]
        return found

    def svcrack(self, user: str, passwords: Iterable[str]) -> list[Finding]:
        with tempfile.TemporaryDirectory(prefix="callctl-audit-") as work:
            wordlist = Path(work) / "words.txt"
            wordlist.touch(mode=0o600)
            wordlist.write_text("".join(f"{p}\n" for p in passwords))
            proc = self._run("svcrack", ["-u", user, "-d", str(wordlist),
                                         "--maximumtime", "5"])  # fmt: skip
        findings = parse_svcrack(proc.stdout)
        if proc.returncode == SVCRACK_EXIT_ERROR:
            self.problems.append(f"svcrack {user} did not complete: exit {proc.returncode}")
        return findings

    def report(self, devices: Sequence[Device], findings: Iterable[Finding]) -> AuditReport:
        return AuditReport(self.target, tuple(devices), tuple(findings), tuple(self.problems),
                           tuple(self.runs))  # fmt: skip


def audit(
    names: Iterable[str],
    crack_user: str | None,
    passwords: Iterable[str] = COMMON_PASSWORDS,
    *,
    target: str = DEFAULT_TARGET,
    user_agent: str | None = None,
    methods: Sequence[str] = METHODS,
) -> AuditReport:
    """svmap, then svwar with each method over ``names``, then svcrack of ``crack_user``."""
    auditor = Auditor(target)
    devices = auditor.svmap()
    if user_agent is not None and devices and {d.user_agent for d in devices} != {user_agent}:
        seen = ", ".join(sorted({d.user_agent for d in devices}))
        auditor.problems.append(f"svmap sees User-Agent {seen!r}, not {user_agent!r}")
    names = list(dict.fromkeys(names))
    findings = [f for method in methods for f in auditor.svwar(method, names)]
    if crack_user is not None:
        findings += auditor.svcrack(crack_user, passwords)
    return auditor.report(devices, findings)


# ---------------------------------------------------------------------------- the lab


def near_misses(password: str) -> list[str]:
    """Guesses one step from ``password``: a PBX comparing loosely would accept one."""
    swapped = password.swapcase()
    flipped = password[:-1] + ("A" if password[-1] != "A" else "B")
    return [m for m in dict.fromkeys(
        (password[:-1], password[1:], password + "x", swapped, flipped, password[:8])
    ) if m != password]  # fmt: skip


def trunk_names(pjsip_conf: str) -> list[str]:
    """The trunks of a pjsip.conf: endpoints made from the ``trunk-endpoint`` template."""
    return re.findall(r"^\[([^\]]+)\]\(trunk-endpoint\)", pjsip_conf, flags=re.MULTILINE)


def user_agent(pjsip_conf: str) -> str | None:
    match = re.search(r"^user_agent\s*=\s*(.+?)\s*$", pjsip_conf, flags=re.MULTILINE)
    return match.group(1) if match else None


def lab_names(lab: Lab) -> list[str]:
    """Every endpoint of the lab (lines, licences, trunks), their neighbours and common
    names: the audit is white-box, it tries the names that exist."""
    endpoints = [c.endpoint for c in lab.credentials().values()]
    neighbours = [str(int(e) + d) for e in endpoints if e.isdigit() for d in (-1, 1)]
    trunks = trunk_names((lab.dialplan / "pjsip.conf").read_text())
    return list(dict.fromkeys([*endpoints, *trunks, *neighbours, *COMMON_NAMES]))


def audit_lab(lab: Lab, *, target: str = DEFAULT_TARGET, extra_passwords: Sequence[str] = (),
              methods: Sequence[str] = METHODS) -> AuditReport:  # fmt: skip
    """The whole audit of the running lab; svcrack tries common passwords and near misses of
    the first line's real one (never the real one itself)."""
    creds = sorted(lab.credentials().values(), key=lambda c: c.number)
    if not creds:
        raise AuditError(f"no SIP accounts in {lab.credentials_file}: is the lab up?")
    first = creds[0]
    passwords = [p for p in (*COMMON_PASSWORDS, first.endpoint, *extra_passwords,
                             *near_misses(first.password)) if p != first.password]  # fmt: skip
    return audit(lab_names(lab), first.username, passwords, target=target,
                 user_agent=user_agent((lab.dialplan / "pjsip.conf").read_text()),
                 methods=methods)  # fmt: skip


# ---------------------------------------------------------------------------- leaks


def weaken(pjsip_conf: str, leak: Leak) -> str:
    """``pjsip.conf`` with one known leak put back in (for the audit's negative controls)."""
    replacements = {
        Leak.ANONYMOUS: ("endpoint_identifier_order = ip,username\n",
                         "endpoint_identifier_order = ip,username,anonymous\n"),
        Leak.UNAUTHENTICATED_OPTIONS: ("allow_unauthenticated_options = no\n",
                                       "allow_unauthenticated_options = yes\n"),
        Leak.REALM_MISMATCH: ("auth_type = digest\nrealm = callctl\n",
                              "auth_type = digest\nrealm = callctl-lines\n"),
        Leak.TRUNK_BY_NAME: ("context = from-trunk\nidentify_by = ip\n",
                             "context = from-trunk\nidentify_by = username,ip\n"),
    }  # fmt: skip
    old, new = replacements[leak]
    if pjsip_conf.count(old) != 1:
        raise AuditError(f"cannot put {leak} into pjsip.conf: {old.strip()!r} is not there once")
    text = pjsip_conf.replace(old, new)
    if leak is Leak.ANONYMOUS:  # an endpoint for whoever does not authenticate
        text += "\n[anonymous](line-endpoint)\n"
    return text


@contextmanager
def weakened(lab: Lab, leak: Leak) -> Iterator[None]:
    """Install ``leak`` into the running lab and reload; restore the configuration (and
    reload) afterwards, whatever happens inside."""
    conf = lab.etc / "pjsip.conf"
    good = conf.read_text()
    try:
        conf.write_text(weaken(good, leak))
        if leak is Leak.ANONYMOUS:
            lab.cli(f"module load {ANONYMOUS_MODULE}")
        lab.cli("core reload")
        yield
    finally:
        conf.write_text(good)
        if leak is Leak.ANONYMOUS and ANONYMOUS_MODULE in lab.cli("module show like anonymous"):
            lab.cli(f"module unload {ANONYMOUS_MODULE}")
        lab.cli("core reload")


def forget_registrations(lab: Lab, endpoint: str) -> list[str]:
    """Remove the contacts registered to ``endpoint``'s AOR (the registrar keeps them in
    Asterisk's database): svcrack registers its own address when it finds a password."""
    listing = lab.cli("database show registrar/contact")
    keys = re.findall(rf"^/registrar/contact/({re.escape(endpoint)};@\w+):", listing,
                      flags=re.MULTILINE)  # fmt: skip
    for key in keys:
        lab.cli(f"database del registrar/contact {key}")
    return keys
