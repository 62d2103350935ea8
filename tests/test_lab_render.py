"""The test PBX's generated configuration (``callctl.pbx.lab``), without running anything.

``render_lines`` writes ``pjsip_lines.conf``: one endpoint per line and per Phone2Go
licence, each carrying the line it belongs to (CALLCTL_LINE: the line is who authenticated)
and the emergency centres of the line's installation address (R9), so that the dialplan's
fallback reaches the right centre even when callctl is down.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callctl.core.lines import Address, Line
from callctl.data import default_emergency_plan
from callctl.pbx.lab import Credential, Lab, LabError, endpoint_name, render_lines

DIALPLAN = Path(__file__).resolve().parents[1] / "dialplan"
LAB = Lab(root=Path("/nonexistent/callctl-lab"), dialplan=DIALPLAN)

LINES = (
    Line("+3222000001", "classic", install_address=Address("Rue de la Loi 16", "1000", "BXL")),
    Line("+3210000002", "klik", install_address=Address("Grand-Place 1", "1300", "Wavre")),
    Line(
        "+3242000004",
        "phone2go",
        install_address=Address("Place Saint-Lambert 18", "4000", "Liège"),
        licences=("+3242000014", "+3242000024"),
    ),
    Line("+3265000005", "classic", install_address=None, paused=True),
)
# endpoint → (line, psap, cic)
EXPECTED = {
    "3222000001": ("+3222000001", "psap-112-brussels", "cic-101-brussels"),
    "3210000002": ("+3210000002", "psap-112-hainaut", "cic-101-brabant-wallon"),
    "3242000004": ("+3242000004", "psap-112-liege", "cic-101-liege"),
    "3242000014": ("+3242000004", "psap-112-liege", "cic-101-liege"),
    "3242000024": ("+3242000004", "psap-112-liege", "cic-101-liege"),
    "3265000005": ("+3265000005", "psap-112-brussels", "cic-101-brussels"),  # no address
}


def credentials() -> list[Credential]:
    return [
        Credential(endpoint_name(n), endpoint_name(n), f"secret-of-{endpoint_name(n)}", n)
        for line in LINES
        for n in (line.number, *line.licences)
    ]


def sections(text: str) -> dict[tuple[str, str], list[str]]:
    """``[name](template)`` → its option lines."""
    out: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        header = re.fullmatch(r"\[([^\]]+)\]\(([^)]+)\)", line)
        if header:
            key = (header.group(1), header.group(2))
            assert key not in out, f"section {key} twice"
            current = out[key] = []
        elif line and not line.startswith(";"):
            assert current is not None, f"option outside a section: {line}"
            current.append(line)
    return out


TEXT = render_lines(LINES, credentials())
SECTIONS = sections(TEXT)


def test_one_endpoint_auth_and_aor_per_line_and_licence() -> None:
    names = {name for name, _ in SECTIONS}
    assert names == set(EXPECTED)
    for template in ("line-endpoint", "line-auth", "line-aor"):
        assert {name for name, t in SECTIONS if t == template} == set(EXPECTED)
    assert len(SECTIONS) == 3 * len(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_endpoint_carries_its_line_and_centres(name: str) -> None:
    line, psap, cic = EXPECTED[name]
    assert SECTIONS[(name, "line-endpoint")] == [
        f"auth = {name}",
        f"aors = {name}",
        f"callerid = <+{name}>",
        f"set_var = CALLCTL_LINE={line}",
        f"set_var = CALLCTL_PSAP={psap}",
        f"set_var = CALLCTL_CIC={cic}",
    ]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_auth_has_its_own_password_only(name: str) -> None:
    assert SECTIONS[(name, "line-auth")] == [
        f"username = {name}",
        f"password = secret-of-{name}",
    ]
    assert SECTIONS[(name, "line-aor")] == []
    mine = "\n".join(option for (n, _), options in SECTIONS.items() if n == name
                     for option in options)  # fmt: skip
    for other in set(EXPECTED) - {name}:
        assert f"secret-of-{other}" not in mine


def test_every_password_appears_once() -> None:
    for cred in credentials():
        assert TEXT.count(cred.password) == 1


def test_centres_come_from_the_emergency_plan() -> None:
    plan = default_emergency_plan()
    for line in LINES:
        centres = plan.centres_for_address(line.install_address)
        for number in (line.number, *line.licences):
            _, psap, cic = EXPECTED[endpoint_name(number)]
            assert (centres.psap, centres.cic) == (psap, cic)


def test_no_lines_is_only_the_header() -> None:
    assert render_lines([], []).startswith("; Written by `callctl pbx up`")
    assert sections(render_lines([], [])) == {}


def test_a_line_without_a_credential_is_an_error() -> None:
    with pytest.raises(KeyError):
        render_lines(LINES, credentials()[1:])


def test_endpoint_name() -> None:
    assert endpoint_name("+3222000001") == "3222000001"


# ----------------------------------------------------------------------------- trunks


def test_trunk_address_of_the_carrier_and_a_psap() -> None:
    """Lab addresses (pjsip.conf): carrier 127.0.0.2, 112 centres 127.0.1.N, CICs 127.0.2.N."""
    assert LAB.trunk_address("carrier") == "127.0.0.2:5060"
    assert LAB.trunk_address("psap-112-brussels") == "127.0.1.6:5060"
    assert LAB.trunk_address("psap-112-hainaut") == "127.0.1.7:5060"
    assert LAB.trunk_address("cic-101-brabant-wallon") == "127.0.2.11:5060"


def test_trunk_address_of_an_unknown_trunk() -> None:
    for trunk in ("psap-112-brabant-wallon", "nowhere", "carrier.*", ""):
        with pytest.raises(LabError, match="no trunk"):
            LAB.trunk_address(trunk)


def test_every_centre_the_plan_can_choose_is_a_trunk_with_its_own_address() -> None:
    """R9: whatever province callctl picks, pjsip.conf has that trunk."""
    plan = default_emergency_plan()
    provinces = {p for _, _, p in plan.postal_ranges} | {plan.default_province}
    trunks = {t for p in provinces for t in (plan.centres(p).psap, plan.centres(p).cic)}
    addresses = [LAB.trunk_address(t) for t in sorted(trunks)]
    assert len(set(addresses)) == len(addresses) == 21  # 10 psaps, 11 cics
    assert LAB.trunk_address("carrier") not in addresses


def test_a_chroot_is_patched_only_with_the_patches_of_its_dialplan(tmp_path: Path) -> None:
    """`pbx up` rebuilds Asterisk's patched module when the chroot lacks the current patches."""
    dialplan = tmp_path / "dialplan"
    (dialplan / "patches").mkdir(parents=True)
    patch = dialplan / "patches" / "0001-fix.patch"
    patch.write_text("--- a/x\n+++ b/x\n")
    lab = Lab(root=tmp_path / "root", dialplan=dialplan)
    (tmp_path / "root").mkdir()
    assert not lab.patched  # built before any patch
    (tmp_path / "root" / "callctl-lab-patches").write_text(lab.patches_digest() + "\n")
    assert lab.patched
    patch.write_text("--- a/x\n+++ b/x\n@@ changed @@\n")
    assert not lab.patched  # a changed patch is applied again


def test_the_shipped_patches_are_named_in_their_readme() -> None:
    patches = Lab().patches
    readme = (patches / "README.md").read_text()
    for patch in patches.glob("*.patch"):
        assert f"`{patch.name}`" in readme
        assert patch.read_text().count("\n+++ b/") >= 1  # a unified diff for `patch -p1`
