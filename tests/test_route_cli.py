"""`callctl route` on the captured INVITE library (R9): the decision of each file, offline.

Expectations are those of tests/invites/README.md, i.e. what R9 makes of each request.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from callctl.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
INVITES = ROOT / "tests" / "invites"
LINES = ROOT / "docs" / "examples" / "lines.yaml"

UNTRUSTED_LIEGE = ("psap-112-liege", False, "declared_address", "liege")
CASES = {
    "desktop-onsite-112": ("psap-112-liege", True, "site", "liege"),
    "desktop-clir-112": ("psap-112-liege", True, "site", "liege"),
    "desktop-offsite-112": UNTRUSTED_LIEGE,
    "desktop-ipv6-112": UNTRUSTED_LIEGE,
    "desktop-hostname-via-112": UNTRUSTED_LIEGE,
    "mobile-grandplace-112": ("psap-112-brussels", True, "device", "brussels"),
    "mobile-grandplace-100": ("psap-112-brussels", True, "device", "brussels"),
    "mobile-zaventem-112": ("psap-112-vlaams-brabant", True, "device", "vlaams-brabant"),
    "mobile-wavre-112": ("psap-112-hainaut", True, "device", "brabant-wallon"),
    "mobile-wavre-101": ("cic-101-brabant-wallon", True, "device", "brabant-wallon"),
    "mobile-leuven-112": ("psap-112-vlaams-brabant", True, "device", "vlaams-brabant"),
    "mobile-mons-112": ("psap-112-hainaut", True, "device", "hainaut"),
    "mobile-civic-be-112": ("psap-112-namur", True, "device", "namur"),
    "mobile-two-refs-112": ("psap-112-brussels", True, "device", "brussels"),
    "mobile-compact-forms-112": ("psap-112-brussels", True, "device", "brussels"),
    "mobile-lf-line-ends-112": ("psap-112-brussels", True, "device", "brussels"),
    "mobile-no-usage-rules-112": ("psap-112-brussels", True, "device", "brussels"),
    "mobile-lille-112": UNTRUSTED_LIEGE,
    "mobile-foreign-mcc-112": UNTRUSTED_LIEGE,
    "mobile-wifi-112": UNTRUSTED_LIEGE,
    "mobile-no-pani-112": UNTRUSTED_LIEGE,
    "mobile-routing-no-112": UNTRUSTED_LIEGE,
    "mobile-routing-absent-112": UNTRUSTED_LIEGE,
    "mobile-civic-fr-112": UNTRUSTED_LIEGE,
    "mobile-cid-missing-112": UNTRUSTED_LIEGE,
    "mobile-broken-xml-112": UNTRUSTED_LIEGE,
    "mobile-billion-laughs-112": UNTRUSTED_LIEGE,
    "mobile-external-entity-112": UNTRUSTED_LIEGE,
    "mobile-wrong-srs-112": UNTRUSTED_LIEGE,
    "mobile-out-of-range-112": UNTRUSTED_LIEGE,
    "mobile-oversized-pidf-112": UNTRUSTED_LIEGE,
    "p2g-second-device-112": UNTRUSTED_LIEGE,
    "voicepro-112": ("psap-112-brussels", True, "declared_address", "brussels"),
}


def route(name: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """The command in this process (fast); one test below runs it as a real process."""
    argv = ["route", "--lines", str(LINES), *extra, str(INVITES / f"{name}.sip")]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv, out=out)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def test_route_runs_as_a_command() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "callctl", "route", "--lines", str(LINES), "--json",
         str(INVITES / "mobile-grandplace-112.sip")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["target"] == "psap-112-brussels"


def test_every_emergency_file_is_covered() -> None:
    emergency = {p.stem for p in INVITES.glob("*.sip") if p.stem.endswith(("-112", "-100", "-101"))}
    assert emergency == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_emergency_call_is_never_refused_and_goes_to_the_right_centre(name: str) -> None:
    proc = route(name, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    target, trusted, source, province = CASES[name]
    assert out["action"] == "route"
    assert out["group"] == "emergency"
    assert out["sip_code"] is None
    assert (out["target"], out["location_trusted"], out["location_source"], out["province"]) == (
        target, trusted, source, province,
    )  # fmt: skip
    assert out["reasons"]  # trusted or not, the record says why
    assert out["withhold_caller_id"] is False  # R9: the number is always presented


def test_untrusted_location_lists_every_failed_condition() -> None:
    out = json.loads(route("mobile-wifi-112", "--json").stdout)
    assert any("not on a mobile network" in r for r in out["reasons"])
    bomb = json.loads(route("mobile-billion-laughs-112", "--json").stdout)
    assert any("DTD" in r for r in bomb["reasons"])


@pytest.mark.parametrize(
    ("name", "action", "target", "code"),
    [
        ("p2g-first-device-call", "route", "carrier", None),
        ("p2g-device-id-only", "route", "carrier", None),
        ("p2g-second-device-helpline", "route", "carrier", None),
        ("p2g-international-refused", "refuse", None, 403),  # R9 restriction
        ("p2g-premium-refused", "refuse", None, 403),
    ],
)
def test_phone2go_restrictions(
    name: str, action: str, target: str | None, code: int | None
) -> None:
    out = json.loads(route(name, "--json").stdout)
    assert (out["action"], out["target"], out["sip_code"]) == (action, target, code)
    assert out["location_trusted"] is None  # not an emergency call


@pytest.mark.parametrize("name", sorted(p.stem for p in INVITES.glob("bad-*.sip")))
def test_not_a_sip_request_is_a_clear_error(name: str) -> None:
    proc = route(name, "--json")
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert "not a SIP request" in proc.stderr


def test_text_output_reads_well() -> None:
    text = route("mobile-lille-112").stdout
    assert "emergency -> psap-112-liege" in text
    assert "NOT trusted" in text
    assert "not in Belgium" in text
