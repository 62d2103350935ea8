"""R9: the province of a Belgian postal code, and the emergency centres serving it.

Ranges (rules.md R9): 1000–1299 Brussels, 1300–1499 Brabant wallon, 1500–1999 and
3000–3499 Vlaams-Brabant, 2000–2999 Antwerpen, 3500–3999 Limburg, 4000–4999 Liège,
5000–5999 Namur, 6000–6599 and 7000–7999 Hainaut, 6600–6999 Luxembourg, 8000–8999
West-Vlaanderen, 9000–9999 Oost-Vlaanderen.
"""

from __future__ import annotations

from typing import Any

import pytest

from callctl.core.emergency import Centres, EmergencyDataError, parse_emergency_plan
from callctl.core.lines import Address
from callctl.data import default_emergency_plan

PLAN = default_emergency_plan()

# Every boundary of every R9 range.
BOUNDARIES = {
    "1000": "brussels",
    "1299": "brussels",
    "1300": "brabant-wallon",
    "1499": "brabant-wallon",
    "1500": "vlaams-brabant",
    "1999": "vlaams-brabant",
    "2000": "antwerpen",
    "2999": "antwerpen",
    "3000": "vlaams-brabant",
    "3499": "vlaams-brabant",
    "3500": "limburg",
    "3999": "limburg",
    "4000": "liege",
    "4999": "liege",
    "5000": "namur",
    "5999": "namur",
    "6000": "hainaut",
    "6599": "hainaut",
    "6600": "luxembourg",
    "6999": "luxembourg",
    "7000": "hainaut",
    "7999": "hainaut",
    "8000": "west-vlaanderen",
    "8999": "west-vlaanderen",
    "9000": "oost-vlaanderen",
    "9999": "oost-vlaanderen",
}


@pytest.mark.parametrize(("code", "province"), sorted(BOUNDARIES.items()))
def test_r9_range_boundaries(code: str, province: str) -> None:
    assert PLAN.province_of_postal_code(code) == province


@pytest.mark.parametrize(
    "code",
    [
        "0999",  # below the first range
        "0000",
        "999",  # too short
        "12a4",  # not digits
        "",
        " ",
        "10000",  # too long
        "1 000",
        "-100",
        "+100",
        "１０００",  # full-width digits are not ASCII
        "١٠٠٠",  # Arabic-Indic digits
        "1e03",
    ],
)
def test_r9_invalid_postal_codes(code: str) -> None:
    assert PLAN.province_of_postal_code(code) is None


def test_r9_surrounding_whitespace_is_ignored() -> None:
    assert PLAN.province_of_postal_code(" 1300\n") == "brabant-wallon"


def test_r9_every_code_from_1000_to_9999_is_in_exactly_one_range() -> None:
    for value in range(1000, 10000):
        matches = [p for first, last, p in PLAN.postal_ranges if first <= value <= last]
        assert len(matches) == 1, value


def test_r9_centres() -> None:
    """112/100: the province's 112 centre (Brabant wallon → Hainaut); 101: its own CIC."""
    assert PLAN.centres("brabant-wallon") == Centres(
        "brabant-wallon", "psap-112-hainaut", "cic-101-brabant-wallon"
    )
    assert PLAN.centres("brussels") == Centres("brussels", "psap-112-brussels", "cic-101-brussels")
    for province in set(BOUNDARIES.values()) - {"brabant-wallon"}:
        assert PLAN.centres(province) == Centres(
            province, f"psap-112-{province}", f"cic-101-{province}"
        )


def test_r9_ten_112_centres_eleven_cics() -> None:
    provinces = set(BOUNDARIES.values())
    assert len(provinces) == 11
    assert len({PLAN.centres(p).psap for p in provinces}) == 10
    assert len({PLAN.centres(p).cic for p in provinces}) == 11


def test_r9_trunk_for() -> None:
    centres = PLAN.centres("liege")
    assert PLAN.trunk_for("112", centres) == "psap-112-liege"
    assert PLAN.trunk_for("100", centres) == "psap-112-liege"
    assert PLAN.trunk_for("101", centres) == "cic-101-liege"


def test_r9_centres_for_address_falls_back_to_the_default_province() -> None:
    assert PLAN.centres_for_address(Address("Rue", "1348", "Louvain-la-Neuve")).province == (
        "brabant-wallon"
    )
    for address in (None, Address("Rue", "0999", "?"), Address("Rue", "", "?")):
        assert PLAN.centres_for_address(address).province == PLAN.default_province


def _data() -> dict[str, Any]:
    return {
        "psap_trunk_prefix": "psap-112",
        "cic_trunk_prefix": "cic-101",
        "default_province": "a",
        "postal_ranges": [{"range": [1000, 1999], "province": "a"}],
        "psap_centre": {"a": "a"},
    }


def test_parse_emergency_plan() -> None:
    plan = parse_emergency_plan(_data())
    assert plan.province_of_postal_code("1500") == "a"
    assert plan.province_of_postal_code("2000") is None


@pytest.mark.parametrize(
    "change",
    [
        {"postal_ranges": [{"range": [1000, 1999], "province": "b"}]},  # b has no centre
        {"default_province": "b"},
        {"postal_ranges": [{"range": [1000], "province": "a"}]},
        {"postal_ranges": [{"range": ["x", 2], "province": "a"}]},
        {"psap_centre": None},
    ],
)
def test_parse_emergency_plan_errors(change: dict[str, Any]) -> None:
    with pytest.raises(EmergencyDataError, match="emergency data"):
        parse_emergency_plan({**_data(), **change})


def test_parse_emergency_plan_missing_key() -> None:
    data = _data()
    del data["cic_trunk_prefix"]
    with pytest.raises(EmergencyDataError, match="cic_trunk_prefix"):
        parse_emergency_plan(data)
