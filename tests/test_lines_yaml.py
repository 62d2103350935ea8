"""The lines file (docs/lines.md): the shipped example, and errors that name line and key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callctl.core.lines import Address, Line
from callctl.core.tariff import Tariff
from callctl.data import default_tariff
from callctl.store.lines_yaml import LinesFileError, parse_lines_yaml

DOCS = Path(__file__).resolve().parent.parent / "docs"
EXAMPLE = DOCS / "examples" / "lines.yaml"

ADDRESS = "    install_address: {street: Rue Haute 1, postal_code: '1000', city: Bruxelles}\n"
CLASSIC = "  - number: '+3222345601'\n    product: classic\n" + ADDRESS


@pytest.fixture(scope="module")
def tariff() -> Tariff:
    return default_tariff()


def parse(text: str, tariff: Tariff) -> list[Line]:
    return parse_lines_yaml(text, tariff)


def test_the_example_parses(tariff: Tariff) -> None:
    classic, klik, p2g = parse(EXAMPLE.read_text("utf-8"), tariff)
    assert classic == Line(
        "+3222345601",
        "classic",
        ("anytime",),
        Address("Rue de la Loi 16", "1000", "Bruxelles"),
    )
    assert (klik.product, klik.options) == ("klik", ())
    assert klik.site_networks == ("198.51.100.0/28", "2001:db8:42::/48")
    assert p2g.product == "phone2go"
    assert p2g.licences == ("+3242345611", "+3242345612")
    assert p2g.install_address == Address("Place Saint-Lambert 18", "4000", "Liège")
    assert not any(line.paused for line in (classic, klik, p2g))


def test_the_docs_show_the_example_file() -> None:
    doc = (DOCS / "lines.md").read_text("utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", doc, flags=re.DOTALL)
    assert blocks == [EXAMPLE.read_text("utf-8")]


def test_values_are_normalised_and_defaults_apply(tariff: Tariff) -> None:
    text = (
        "lines:\n"
        "  - number: '+32 2 234.56-01'\n"
        "    product: classic\n"
        "    options: [24_belgium, anytime]\n"
        "    install_address: {street: ' Rue Haute 1 ', postal_code: 1000, city: Bruxelles}\n"
        "    site_networks: [192.0.2.10/24, '2001:db8::1/64']\n"
        "    paused: true\n"
    )
    (line,) = parse(text, tariff)
    assert line == Line(
        "+3222345601",
        "classic",
        ("24_belgium", "anytime"),
        Address("Rue Haute 1", "1000", "Bruxelles"),
        site_networks=("192.0.2.0/24", "2001:db8::/64"),
        paused=True,
    )
    assert parse("lines: []\n", tariff) == []


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("    colour: blue\n", "lines[0] (+3222345601, file line 2): colour: unknown key"),
        ("    options: anytime\n", "lines[0] (+3222345601, file line 2): options: must be a list"),
        ("    options: [anytime, anytime]\n", "options: an option is listed twice"),
        ("    options: [international_calling]\n", "options: option 'international_calling'"),
        ("    site_networks: [192.0.2.300/24]\n", "site_networks: '192.0.2.300/24' is not a"),
        ("    site_networks: 192.0.2.0/24\n", "site_networks: must be a list of text"),
        ("    licences: ['+3242345611']\n", "licences: only phone2go lines have licences"),
        ("    paused: 'yes'\n", "paused: must be true or false"),
        ("    paused: false\n    paused: true\n", "found the key 'paused' twice"),
    ],
)
def test_errors_in_a_classic_line_name_it_and_the_key(
    tariff: Tariff, entry: str, expected: str
) -> None:
    with pytest.raises(LinesFileError) as caught:
        parse("lines:\n" + CLASSIC + entry, tariff)
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "  - number: +3222345601\n    product: classic\n" + ADDRESS,
            "lines[0] (no number, file line 2): number: must be a number as text in E.164 "
            "(quote it",
        ),
        ("  - number: '3222345601'\n", "number: '3222345601' is not in E.164"),
        ("  - number: '+32 2 FLOWERS'\n", "is not in E.164"),
        ("  - number: '+3212'\n", "number: '+3212' is not a possible phone number"),
        ("  - number: '+32'\n", "number: '+32' is not a phone number: The string supplied"),
        ("  - product: classic\n" + ADDRESS, "lines[0] (no number, file line 2): number: required"),
        ("  - number: '+3222345601'\n    product: classic\n", "install_address: required"),
        ("  - number: '+3222345601'\n" + ADDRESS, "product: required"),
        ("  - number: '+3222345601'\n    product: voip\n" + ADDRESS, "product: must be one of"),
        (
            "  - number: '+3222345601'\n    product: phone2go\n    options: [anytime]\n" + ADDRESS,
            "options: phone2go takes no options",
        ),
        (
            "  - number: '+3222345601'\n    product: phone2go\n"
            "    licences: ['+32 2 12']\n" + ADDRESS,
            "licences: '+32 2 12' is not a possible phone number",
        ),
        (
            "  - number: '+3222345601'\n    product: classic\n    install_address: Bruxelles\n",
            "install_address: must be a mapping",
        ),
        (
            "  - number: '+3222345601'\n    product: classic\n"
            "    install_address: {street: a, postal_code: '1000', city: b, country: BE}\n",
            "install_address.country: unknown key",
        ),
        (
            "  - number: '+3222345601'\n    product: classic\n"
            "    install_address: {street: a, postal_code: '100', city: b}\n",
            "install_address.postal_code: must be 4 digits",
        ),
        (
            "  - number: '+3222345601'\n    product: classic\n"
            "    install_address: {street: a, postal_code: '1000'}\n",
            "install_address.city: required text",
        ),
        ("  - just text\n", "lines[0] (no number, file line 2): a line must be a mapping"),
    ],
)
def test_errors_name_the_line_and_the_key(tariff: Tariff, entry: str, expected: str) -> None:
    with pytest.raises(LinesFileError) as caught:
        parse("lines:\n" + entry, tariff)
    assert expected in str(caught.value)


def test_a_number_may_appear_once(tariff: Tariff) -> None:
    second = CLASSIC.replace("product: classic", "product: klik")
    with pytest.raises(LinesFileError) as caught:
        parse("lines:\n" + CLASSIC + second, tariff)
    assert str(caught.value) == (
        "lines[1] (+3222345601, file line 5): number: +3222345601 is already "
        "a line at lines[0] (+3222345601)"
    )

    p2g = (
        "  - number: '+3242345603'\n    product: phone2go\n"
        "    licences: ['+32 2 234 56 01']\n" + ADDRESS
    )
    with pytest.raises(LinesFileError, match=r"lines\[1\] \(\+3242345603.*licences: "):
        parse("lines:\n" + CLASSIC + p2g, tariff)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "must be a mapping with a 'lines:' list"),
        ("- number: '+3222345601'\n", "must be a mapping with a 'lines:' list"),
        ("line: []\n", "unknown top-level key 'line'"),
        ("lines: {}\n", "'lines' must be a list"),
        ("lines:\n  - number: '+32\n", "not valid YAML"),
        ("lines: [\n", "not valid YAML"),
    ],
)
def test_errors_in_the_file_as_a_whole(tariff: Tariff, text: str, expected: str) -> None:
    with pytest.raises(LinesFileError, match=re.escape(expected)):
        parse(text, tariff)
