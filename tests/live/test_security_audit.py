"""The SIP security audit against the real test PBX, and the proof that it can fail.

What a scanner on the internet does to a PBX within minutes of finding it: ``svmap`` sees
it, ``svwar`` tries names with REGISTER, INVITE and OPTIONS to learn which accounts exist,
``svcrack`` guesses their passwords. With every endpoint authenticated the audit finds
nothing. Then, for each leak known to make accounts enumerable, a deliberately weakened
``pjsip.conf`` is installed and reloaded, the audit must report it, and the good
configuration is restored (and reloaded) whatever happens: an audit that cannot fail
proves nothing. Last, the lines' generated passwords: long, unique, in a 0600 file, never
printed by ``callctl pbx up`` and never in callctl's or Asterisk's logs.

Run with the lock:
``flock /tmp/callctl-live.lock .venv/bin/pytest tests/live/test_security_audit.py``.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from callctl.pbx.audit import (
    METHODS,
    Auditor,
    AuditReport,
    Finding,
    Leak,
    audit_lab,
    forget_registrations,
    lab_names,
    trunk_names,
    weakened,
)
from callctl.pbx.lab import Credential, Lab
from callctl.pbx.sipp import FarEnd, SippResult, UacCall
from tests.live.conftest import CLASSIC, PHONE2GO_LICENCE, Callctl, run_cli

LINE, LICENCE = CLASSIC.lstrip("+"), PHONE2GO_LICENCE.lstrip("+")
TRUNKS = ("carrier", "psap-112-brussels")
# The names tried under each leak: two real accounts, two trunks, and names that do not exist.
SAMPLE = (LINE, LICENCE, *TRUNKS, "3222000003", "100", "anonymous")

# leak → (check, name) pairs the audit must report
EXPECTED: dict[Leak, set[tuple[str, str]]] = {
    Leak.ANONYMOUS: {(f"svwar {m}", n) for m in METHODS for n in (LINE, LICENCE)},
    Leak.UNAUTHENTICATED_OPTIONS: {("svwar OPTIONS", n) for n in (LINE, LICENCE)},
    Leak.REALM_MISMATCH: {(f"svwar {m}", n) for m in METHODS for n in (LINE, LICENCE)},
    Leak.TRUNK_BY_NAME: {(f"svwar {m}", n) for m in METHODS for n in TRUNKS},
}


def svwar_sample() -> AuditReport:
    auditor = Auditor()
    findings = [f for method in METHODS for f in auditor.svwar(method, SAMPLE)]
    return auditor.report([], findings)


def pairs(findings: tuple[Finding, ...]) -> set[tuple[str, str]]:
    return {(f.check, f.subject) for f in findings}


@pytest.fixture(scope="module")
def report(lab: Lab) -> AuditReport:
    """The whole audit of the good configuration (about 50 s)."""
    return audit_lab(lab)


# ---------------------------------------------------------------- the good configuration


def test_svmap_sees_the_pbx_with_its_configured_user_agent(report: AuditReport) -> None:
    """Seen (else the rest proves nothing), as ``callctl-pbx``: no Asterisk version."""
    assert [(d.address, d.user_agent) for d in report.devices] == [
        ("127.0.0.1:5060", "callctl-pbx")
    ]


def test_svwar_tries_every_real_account_and_trunk(lab: Lab, report: AuditReport) -> None:
    names = lab_names(lab)
    endpoints = {c.endpoint for c in lab.credentials().values()}
    assert {"3222000001", "3242000004", "3242000014", "3265000005"} <= endpoints
    assert endpoints | set(trunk_names((lab.etc / "pjsip.conf").read_text())) <= set(names)
    assert sum(run.tool == "svwar" for run in report.runs) == len(METHODS) * len(names)


@pytest.mark.parametrize("method", METHODS)
def test_svwar_finds_no_extension(report: AuditReport, method: str) -> None:
    assert [f for f in report.findings if f.check == f"svwar {method}"] == []
    assert [p for p in report.problems if p.startswith(f"svwar {method}")] == []


def test_svcrack_does_not_find_a_line_password(report: AuditReport) -> None:
    """Common passwords, the account's own name and near misses of its real password."""
    assert [f for f in report.findings if f.check == "svcrack"] == []
    assert [run.returncode for run in report.runs if run.tool == "svcrack"] == [0]


def test_the_audit_is_clean(report: AuditReport) -> None:
    assert report.clean, report.render()
    assert report.render().endswith("result: nothing found\n")


def test_svcrack_finds_a_password_in_its_wordlist(lab: Lab, creds: dict[str, Credential]) -> None:
    """Positive control: svcrack really authenticates, through the whole wordlist (the
    password is last), and the report names the account, never the password."""
    cred = creds[PHONE2GO_LICENCE]
    auditor = Auditor()
    try:
        found = auditor.svcrack(cred.username, ["1234", "password", cred.endpoint, cred.password])
    finally:
        forgotten = forget_registrations(lab, cred.endpoint)  # svcrack registered itself
    assert found == [Finding("svcrack", cred.endpoint, "password found")]
    assert cred.password not in auditor.report([], found).render()
    assert len(forgotten) == 1
    assert f"{cred.endpoint}/sip:" not in lab.cli("pjsip show contacts")


# ---------------------------------------------------------------- negative controls


@pytest.mark.parametrize("leak", list(Leak))
def test_the_audit_reports_each_known_leak(lab: Lab, leak: Leak) -> None:
    good = (lab.etc / "pjsip.conf").read_text()
    with weakened(lab, leak):
        found = svwar_sample()
    assert (lab.etc / "pjsip.conf").read_text() == good
    assert EXPECTED[leak] <= pairs(found.findings), found.render()
    if leak is Leak.UNAUTHENTICATED_OPTIONS:
        assert found.checks() == {"svwar OPTIONS"}


def test_after_the_leaks_the_audit_is_clean_again(lab: Lab) -> None:
    """The restore really reloaded: no anonymous endpoint, nothing found."""
    del lab
    again = svwar_sample()
    assert again.clean, again.render()


# ---------------------------------------------------------------- passwords


def test_line_passwords_are_long_unique_and_private(lab: Lab, creds: dict[str, Credential]) -> None:
    passwords = [c.password for c in creds.values()]
    assert len(passwords) == 7
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) >= 24 and len(set(p)) >= 12 for p in passwords)
    assert stat.S_IMODE(lab.credentials_file.stat().st_mode) == 0o600
    lines_conf = lab.etc / "pjsip_lines.conf"
    assert stat.S_IMODE(lines_conf.stat().st_mode) == 0o640
    text = lines_conf.read_text()
    assert all(text.count(f"password = {p}\n") == 1 for p in passwords)


def test_pbx_up_names_the_credentials_file_not_the_passwords(
    lab: Lab, creds: dict[str, Credential]
) -> None:
    proc = run_cli("pbx", "up")  # on a running lab: reloads, keeps the passwords
    assert str(lab.credentials_file) in proc.stdout
    for cred in creds.values():
        assert cred.password not in proc.stdout + proc.stderr
    assert lab.credentials() == creds


@pytest.fixture
def session_logs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], list[Path]]:
    """The log files the tests of this session wrote so far (``callctl serve``'s…)."""
    return lambda: list(tmp_path_factory.getbasetemp().rglob("*.log"))


@pytest.fixture
def authenticated_call(
    lines_db: str,
    start_callctl: Callable[..., Callctl],
    far_ends: Callable[..., FarEnd],
    call: Callable[..., SippResult],
) -> Callctl:
    """A real call from a line, with its password, through callctl (then stopped)."""
    server = start_callctl(lines_db)
    far_ends("carrier")
    assert call(CLASSIC, UacCall("022345678", hold_ms=300)).returncode == 0
    server.stop()
    return server


def test_passwords_are_never_logged(
    lab: Lab, authenticated_call: Callctl, session_logs: Callable[[], list[Path]]
) -> None:
    """After a real authenticated call (and the audit's wrong guesses above): callctl's
    serve logs of the whole session, and Asterisk's messages and security logs."""
    creds = lab.credentials()
    asterisk_logs = lab.root / "var" / "log" / "asterisk"
    security = (asterisk_logs / "security.log").read_text(errors="replace")
    assert "ChallengeResponseFailed" in security or "InvalidPassword" in security
    assert "SuccessfulAuth" in security
    logs = [*asterisk_logs.rglob("*"), *session_logs()]
    serve_logs = [p for p in logs if p.name.startswith("callctl-serve-")]
    assert authenticated_call.log in serve_logs
    checked = 0
    for path in logs:
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        checked += 1
        for cred in creds.values():
            assert cred.password not in text, f"{cred.endpoint}'s password is in {path}"
    assert checked >= 3
