"""The SIP security audit (``callctl.pbx.audit``) without a PBX: reading sipvicious' output,
the leak variants of ``pjsip.conf``, the names and passwords it tries, and the lab's
generated line passwords (long, from ``secrets``, one per line, in a 0600 file).

The audit against the real PBX, and the proof that it fails on each leak, are in
``tests/live/test_security_audit.py``.
"""

from __future__ import annotations

import io
import math
import secrets
import stat
from collections import Counter
from pathlib import Path

import pytest

from callctl.cli import live_cmd
from callctl.cli.live_cmd import EXIT_FINDINGS, EXIT_INCOMPLETE
from callctl.cli.main import main
from callctl.data import default_tariff
from callctl.pbx.audit import (
    COMMON_PASSWORDS,
    AuditError,
    AuditReport,
    Device,
    Finding,
    Leak,
    Response,
    compare,
    lab_names,
    near_misses,
    parse_responses,
    parse_svcrack,
    parse_svmap,
    parse_svwar,
    split_target,
    tool_error,
    trunk_names,
    user_agent,
    weaken,
)
from callctl.pbx.lab import Lab
from callctl.store.lines_yaml import parse_lines_yaml

DIALPLAN = Path(__file__).resolve().parents[1] / "dialplan"
PJSIP = (DIALPLAN / "pjsip.conf").read_text()
LAB_LINES = parse_lines_yaml((DIALPLAN / "lab-lines.yaml").read_text("utf-8"), default_tariff())

# What sipvicious 0.3.8 prints on stdout (its pptable), captured from runs against the lab.
SVMAP_OUT = """\
+----------------+-------------+
| SIP Device     | User Agent  |
+================+=============+
| 127.0.0.1:5060 | callctl-pbx |
+----------------+-------------+
"""
SVWAR_OUT = """\
+------------+----------------+
| Extension  | Authentication |
+============+================+
| 3222000001 | reqauth        |
+------------+----------------+
| carrier    | noauth         |
+------------+----------------+
"""
SVCRACK_OUT = """\
+------------+-------------------+
| Extension  | Password          |
+============+===================+
| 3222000001 | hunter2-not-real  |
+------------+-------------------+
"""


def debug_packet(user: str, status: str, realm: str | None = "callctl") -> str:
    """A response as svwar --debug prints it: its source, then a bytes literal."""
    challenge = f'WWW-Authenticate: Digest realm="{realm}",nonce="1795678507/45d6"\r\n'
    text = (
        f"SIP/2.0 {status}\r\nVia: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n"
        f'From: "{user}" <sip:{user}@127.0.0.1>;tag=3332\r\n'
        f'To: "{user}" <sip:{user}@127.0.0.1>;tag=z9hG4bK-1\r\nCSeq: 1 INVITE\r\n'
        + (challenge if realm else "")
        + "Server: callctl-pbx\r\nContent-Length:  0\r\n\r\n"
    )
    return f"('127.0.0.1', 5060)\n{text.encode()!r}\n"


def sections_with(text: str, option: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(option)]


# ----------------------------------------------------------------------------- parsing


def test_svmap_table() -> None:
    assert parse_svmap(SVMAP_OUT) == [Device("127.0.0.1:5060", "callctl-pbx")]


def test_svwar_table() -> None:
    assert parse_svwar("INVITE", SVWAR_OUT) == [
        Finding("svwar INVITE", "3222000001", "reqauth"),
        Finding("svwar INVITE", "carrier", "noauth"),
    ]


def test_svcrack_finding_never_carries_the_password() -> None:
    (finding,) = parse_svcrack(SVCRACK_OUT)
    assert finding == Finding("svcrack", "3222000001", "password found")
    report = AuditReport("127.0.0.1:5060", findings=(finding,))
    assert "hunter2" not in report.render()
    assert "hunter2" not in repr(report)


@pytest.mark.parametrize("parse", [parse_svmap, parse_svcrack])
def test_nothing_found_is_an_empty_list(parse: object) -> None:
    assert callable(parse)
    assert parse("no results\n") == []
    assert parse("") == []


def test_responses_from_svwar_debug_output() -> None:
    stdout = (
        debug_packet("3538029800", "401 Unauthorized")
        + debug_packet("3222000001", "100 Trying", realm=None)
        + debug_packet("3222000001", "401 Unauthorized", realm="callctl-lines")
        + SVWAR_OUT
    )
    assert parse_responses(stdout) == [
        Response("3538029800", "401 Unauthorized", "callctl"),
        Response("3222000001", "401 Unauthorized", "callctl-lines"),
    ]


def test_a_name_answered_like_an_unknown_user_is_no_finding() -> None:
    same = [Response("3538029800", "401 Unauthorized", "callctl"),
            Response("3222000001", "401 Unauthorized", "callctl")]  # fmt: skip
    assert compare("REGISTER", "3222000001", same) is None


@pytest.mark.parametrize(
    "got",
    [
        Response("3222000001", "401 Unauthorized", "callctl-lines"),  # realm mismatch
        Response("3222000001", "200 OK", None),  # unauthenticated OPTIONS
        Response("3222000001", "403 Forbidden", None),
    ],
)
def test_a_name_answered_otherwise_is_a_finding(got: Response) -> None:
    base = Response("3538029800", "401 Unauthorized", "callctl")
    finding = compare("OPTIONS", "3222000001", [base, got])
    assert isinstance(finding, Finding)
    assert finding.check == "svwar OPTIONS"
    assert finding.subject == "3222000001"
    assert finding.detail == f"answered {got} where an unknown user gets {base}"


def test_no_response_is_a_problem_not_a_pass() -> None:
    base = Response("3538029800", "401 Unauthorized", "callctl")
    assert compare("INVITE", "3222000001", [base]) == (
        "svwar INVITE: no final response for 3222000001"
    )
    assert compare("INVITE", "3222000001", []) == (
        "svwar INVITE: no final response for an unknown user"
    )


def test_tool_error() -> None:
    stderr = "WARNING:root:found nothing\nERROR:TakeASip:No server response - are you sure\n"
    assert tool_error(stderr) == "No server response - are you sure"
    assert tool_error("WARNING:root:found nothing\n") is None


def test_split_target() -> None:
    assert split_target("127.0.0.1:5060") == ("127.0.0.1", "5060")
    for bad in ("127.0.0.1", ":5060", "host:port"):
        with pytest.raises(AuditError, match="host:port"):
            split_target(bad)


def test_report_rendering_and_verdict() -> None:
    clean = AuditReport("t:5060", devices=(Device("t:5060", "callctl-pbx"),))
    assert clean.clean
    assert clean.render().endswith("result: nothing found\n")
    found = AuditReport("t:5060", findings=(Finding("svwar OPTIONS", "3222000001", "noauth"),))
    assert not found.clean
    assert found.checks() == {"svwar OPTIONS"}
    assert "FINDING svwar OPTIONS: 3222000001 (noauth)" in found.render()
    blind = AuditReport("t:5060", problems=("svmap does not see a SIP device at t:5060",))
    assert not blind.clean
    assert "incomplete" in blind.render()


# ----------------------------------------------------------------------------- leaks


def test_the_shipped_config_has_every_fix() -> None:
    """The good configuration: what each leak variant undoes."""
    assert sections_with(PJSIP, "endpoint_identifier_order") == [
        "endpoint_identifier_order = ip,username"
    ]
    assert sections_with(PJSIP, "allow_unauthenticated_options") == [
        "allow_unauthenticated_options = no"
    ]
    assert set(sections_with(PJSIP, "realm")) == {"realm = callctl"}
    assert sections_with(PJSIP, "default_realm") == ["default_realm = callctl"]
    assert "[anonymous]" not in PJSIP
    assert "res_pjsip_endpoint_identifier_anonymous" not in (DIALPLAN / "modules.conf").read_text()


@pytest.mark.parametrize(
    ("leak", "removed", "added"),
    [
        (Leak.ANONYMOUS, "endpoint_identifier_order = ip,username",
         "endpoint_identifier_order = ip,username,anonymous"),
        (Leak.UNAUTHENTICATED_OPTIONS, "allow_unauthenticated_options = no",
         "allow_unauthenticated_options = yes"),
        (Leak.REALM_MISMATCH, "realm = callctl", "realm = callctl-lines"),
        (Leak.TRUNK_BY_NAME, "identify_by = ip", "identify_by = username,ip"),
    ],
)  # fmt: skip
def test_each_leak_changes_one_option(leak: Leak, removed: str, added: str) -> None:
    weak = weaken(PJSIP, leak)
    before, after = Counter(PJSIP.splitlines()), Counter(weak.splitlines())
    assert before - after == Counter({removed: 1})
    extra = after - before
    assert extra[added] == 1
    if leak is Leak.ANONYMOUS:
        assert extra == Counter({added: 1, "[anonymous](line-endpoint)": 1, "": 1})
    else:
        assert extra == Counter({added: 1})


def test_a_leak_that_cannot_be_placed_is_an_error() -> None:
    with pytest.raises(AuditError, match="realm-mismatch"):
        weaken(PJSIP.replace("realm = callctl\n", "realm = other\n"), Leak.REALM_MISMATCH)


# ----------------------------------------------------------------------------- names


def test_trunks_and_user_agent_of_the_shipped_config() -> None:
    trunks = trunk_names(PJSIP)
    assert "carrier" in trunks
    assert len(trunks) == 22  # the carrier, 10 PSAPs, 11 CICs
    assert user_agent(PJSIP) == "callctl-pbx"


def lab_in(tmp_path: Path) -> Lab:
    lab = Lab(root=tmp_path, dialplan=DIALPLAN)
    lab._credentials(LAB_LINES)
    return lab


def test_the_names_tried_cover_every_endpoint(tmp_path: Path) -> None:
    lab = lab_in(tmp_path)
    names = lab_names(lab)
    endpoints = {c.endpoint for c in lab.credentials().values()}
    assert endpoints == {"3222000001", "3222000002", "3292000003", "3242000004", "3242000014",
                         "3242000024", "3265000005"}  # fmt: skip
    assert endpoints | set(trunk_names(PJSIP)) <= set(names)
    assert {"3222000000", "3222000003", "100", "1000", "anonymous"} <= set(names)
    assert len(names) == len(set(names))


def test_near_misses_are_near_and_never_the_password() -> None:
    password = "Zq3_vT9kLm2xWc8RbN4pYs7hGf1dJe6A"
    misses = near_misses(password)
    assert password not in misses
    assert len(misses) >= 5
    assert all(abs(len(m) - len(password)) <= 1 for m in misses if m != password[:8])
    assert "secretB" in near_misses("secretA")
    assert "secretA" not in near_misses("secretA")


# ----------------------------------------------------------------------------- passwords


def test_line_passwords_are_long_random_unique_and_private(tmp_path: Path) -> None:
    lab = lab_in(tmp_path)
    creds = lab.credentials()
    passwords = [c.password for c in creds.values()]
    assert len(creds) == 7  # five lines, two Phone2Go licences
    assert len(set(passwords)) == len(passwords)
    for password in passwords:
        assert len(password) >= 24
        assert password not in COMMON_PASSWORDS
        # 32 characters of the 64-symbol URL-safe alphabet: about 192 bits.
        assert len(password) * math.log2(64) >= 128
        assert len(set(password)) >= 12  # not a repeated pattern
    assert stat.S_IMODE(lab.credentials_file.stat().st_mode) == 0o600


def test_passwords_come_from_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int | None] = []

    def token_urlsafe(nbytes: int | None = None) -> str:
        asked.append(nbytes)
        return f"generated-{len(asked):02d}-" + "x" * 30

    monkeypatch.setattr(secrets, "token_urlsafe", token_urlsafe)
    lab = lab_in(tmp_path)
    assert len(asked) == 7
    assert all(n is not None and n >= 24 for n in asked)
    assert {c.password for c in lab.credentials().values()} == {
        f"generated-{i:02d}-" + "x" * 30 for i in range(1, 8)
    }


def test_passwords_are_kept_across_runs(tmp_path: Path) -> None:
    lab = lab_in(tmp_path)
    first = lab.credentials()
    lab._credentials(LAB_LINES)
    assert lab.credentials() == first


# ----------------------------------------------------------------------------- the command


@pytest.mark.parametrize(
    ("report", "code", "last_line"),
    [
        (AuditReport("127.0.0.1:5060", devices=(Device("127.0.0.1:5060", "callctl-pbx"),)),
         0, "result: nothing found"),
        (AuditReport("127.0.0.1:5060", findings=(Finding("svwar OPTIONS", "carrier", "noauth"),)),
         EXIT_FINDINGS, "result: 1 finding(s)"),
        (AuditReport("127.0.0.1:5060", problems=("svmap does not see a SIP device",)),
         EXIT_INCOMPLETE, "result: incomplete, the audit could not run every check"),
    ],
)  # fmt: skip
def test_callctl_pbx_audit_prints_the_report_and_exits_on_findings(
    monkeypatch: pytest.MonkeyPatch, report: AuditReport, code: int, last_line: str
) -> None:
    asked: list[list[str]] = []

    def fake_audit(lab: Lab, *, extra_passwords: list[str]) -> AuditReport:
        del lab
        asked.append(extra_passwords)
        return report

    monkeypatch.setattr(Lab, "running", lambda self: True)
    monkeypatch.setattr(live_cmd, "audit_lab", fake_audit)
    out = io.StringIO()
    assert main(["pbx", "audit"], out) == code
    assert out.getvalue().splitlines()[-1] == last_line
    assert asked == [[]]


def test_callctl_pbx_audit_reads_a_wordlist(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    words = tmp_path / "words.txt"
    words.write_text("Summer2026!\nvoicepro\n")
    asked: list[list[str]] = []

    def fake_audit(lab: Lab, *, extra_passwords: list[str]) -> AuditReport:
        del lab
        asked.append(extra_passwords)
        return AuditReport("127.0.0.1:5060")

    monkeypatch.setattr(Lab, "running", lambda self: True)
    monkeypatch.setattr(live_cmd, "audit_lab", fake_audit)
    assert main(["pbx", "audit", "--wordlist", str(words)], io.StringIO()) == 0
    assert asked == [["Summer2026!", "voicepro"]]


def test_callctl_pbx_audit_needs_a_running_pbx(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(Lab, "running", lambda self: False)
    assert main(["pbx", "audit"], io.StringIO()) == 1
    assert "not running: callctl pbx up" in capsys.readouterr().err
