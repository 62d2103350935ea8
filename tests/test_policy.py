"""The route decision for one call (``callctl.core.policy.decide``): R1, R2, R5, R7, R9.

Pure: a classification, a line (or None), the line's usage counters, the shipped tariff and
the shipped emergency plan in; a :class:`Decision` out. The AGI answer format is the one
``dialplan/extensions.conf`` splits: ``action,trunk,number,limit_ms,sip_code,announcement,
withhold``.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from callctl.core.classify import Classification, Classifier
from callctl.core.lines import Address, Line
from callctl.core.policy import (
    BARRED,
    CARRIER,
    INVALID,
    REFUSALS,
    UNAVAILABLE,
    Decision,
    decide,
    max_duration,
    refuse,
)
from callctl.core.rating import Usage
from callctl.data import default_emergency_plan, default_tariff

TARIFF = default_tariff()
PLAN = default_emergency_plan()
CLASSIFY = Classifier(TARIFF.numbering)
CAP = TARIFF.fair_use_seconds  # R7: 30 000 minutes
CUTOFF = TARIFF.premium_cutoff_seconds  # R5: 10 minutes
USAGE = Usage("2026-11")

BRUSSELS = Address("Rue de la Loi 16", "1000", "Bruxelles")
CLASSIC = Line("+3222000001", "classic", install_address=BRUSSELS)
KLIK = Line("+3292000003", "klik", install_address=Address("Korenmarkt 1", "9000", "Gent"))
P2G = Line(
    "+3242000004",
    "phone2go",
    install_address=Address("Place Saint-Lambert 18", "4000", "Liège"),
    licences=("+3242000014", "+3242000024"),
)
LINES = {"classic": CLASSIC, "klik": KLIK, "phone2go": P2G}

# One dialled number per group or price key; the group is checked in test_numbers.
NUMBERS = {
    "be_fixed": ("02 123 45 67", "be_fixed"),
    "be_mobile": ("0470 12 34 56", "be_mobile"),
    "zone": ("+33 1 23 45 67 89", "zone"),
    "ma_tr": ("+212 612 345 678", "ma_tr"),
    "international": ("+81 3 1234 5678", "international"),
    "freephone": ("0800 12 345", "freephone"),
    "helpline": ("1813", "helpline"),
    "helpline_070": ("070 245 245", "helpline"),
    "premium_per_minute": ("0900 12 345", "premium"),
    "premium_per_call": ("0901 12 345", "premium"),
    "special_070": ("070 12 34 56", "special"),
    "special_078": ("078 15 15 15", "special"),
    "special_short": ("1207", "special"),
    "special_077": ("077 12 34 56", "special"),
    "emergency": ("112", "emergency"),
    "invalid": ("abc", "invalid"),
}

# (kind, product) → expected: ("route", limit_seconds) or ("refuse", sip_code).
# R5: per-minute premium cut after 10 min, per-call premium unlimited. R7: groups with an
# unlimited allowance in any band (Belgian calls on every product) are limited to the
# fair-use seconds left. R9: Phone2Go may call be_fixed, be_mobile, freephone, emergency and
# helpline only.
Expected = dict[str, tuple[str, int | None]]
ROUTE_ALL: Expected = {
    "classic": ("route", None),
    "klik": ("route", None),
    "phone2go": ("route", None),
}
P2G_BARRED: Expected = {
    "classic": ("route", None),
    "klik": ("route", None),
    "phone2go": ("refuse", 403),
}
FAIR = ("route", CAP)
EXPECTED: dict[str, Expected] = {
    "be_fixed": {"classic": FAIR, "klik": FAIR, "phone2go": FAIR},
    "be_mobile": {"classic": FAIR, "klik": FAIR, "phone2go": FAIR},
    "zone": P2G_BARRED,
    "ma_tr": P2G_BARRED,
    "international": P2G_BARRED,
    "freephone": ROUTE_ALL,
    "helpline": ROUTE_ALL,
    "helpline_070": ROUTE_ALL,
    "premium_per_minute": {
        "classic": ("route", CUTOFF),
        "klik": ("route", CUTOFF),
        "phone2go": ("refuse", 403),
    },
    "premium_per_call": P2G_BARRED,
    "special_070": P2G_BARRED,
    "special_078": P2G_BARRED,
    "special_short": P2G_BARRED,
    "special_077": {  # R5: 077 (M2M) is refused on every product
        "classic": ("refuse", 403),
        "klik": ("refuse", 403),
        "phone2go": ("refuse", 403),
    },
    "invalid": {  # R1: 484, whatever the product
        "classic": ("refuse", 484),
        "klik": ("refuse", 484),
        "phone2go": ("refuse", 484),
    },
}
CASES = [(kind, product) for kind in EXPECTED for product in LINES]


def c(kind: str) -> Classification:
    return CLASSIFY(NUMBERS[kind][0])


def test_numbers_are_classified_as_the_table_says() -> None:
    """R2: each sample number is in the group the cases assume."""
    for kind, (number, group) in NUMBERS.items():
        assert CLASSIFY(number).group == group, kind


def test_the_shipped_limits_are_the_rules_figures() -> None:
    """R5: 600 s premium cut-off; R7: 30 000 minutes of fair use."""
    assert CUTOFF == 600
    assert CAP == 30_000 * 60


@pytest.mark.parametrize(("kind", "product"), CASES)
def test_r2_r5_r7_r9_every_group_on_every_product(kind: str, product: str) -> None:
    cls = c(kind)
    d = decide(cls, LINES[product], USAGE, TARIFF, PLAN)
    action, value = EXPECTED[kind][product]
    assert d.action == action
    assert d.classification is cls
    if action == "route":
        assert d.routed
        assert d.trunk == CARRIER
        assert d.number == cls.dial  # what the classification says to send
        assert d.number is not None
        assert d.limit_seconds == value
        assert (d.sip_code, d.reason, d.refusal, d.announcement, d.centres) == (None,) * 5
    else:
        assert not d.routed
        assert d.sip_code == value
        assert (d.trunk, d.number, d.limit_seconds) == (None, None, None)
        assert d.reason
        assert d.refusal in REFUSALS
        assert d.announcement is not None


def test_r1_invalid_is_484_with_the_classification_reason() -> None:
    cls = c("invalid")
    for line in (CLASSIC, KLIK, P2G, None):
        d = decide(cls, line, USAGE, TARIFF, PLAN)
        assert (d.action, d.sip_code) == ("refuse", INVALID)
        assert d.reason == cls.reason == "letters are not digits ('a' in 'abc')"
        assert d.refusal == "invalid_number"
        assert d.announcement == "cannot-complete-as-dialed"


def test_r5_077_is_refused_with_the_tariff_reason() -> None:
    d = decide(c("special_077"), CLASSIC, USAGE, TARIFF, PLAN)
    assert (d.action, d.sip_code) == ("refuse", BARRED)
    assert d.reason == "M2M numbers (077) are not a voice service"
    assert d.refusal == "number_barred"


@pytest.mark.parametrize(
    "kind", ["zone", "ma_tr", "international", "premium_per_minute", "special_070"]
)
def test_r9_phone2go_refusal_names_the_group(kind: str) -> None:
    cls = c(kind)
    d = decide(cls, P2G, USAGE, TARIFF, PLAN)
    assert (d.action, d.sip_code) == ("refuse", BARRED)
    assert d.reason == f"{cls.group} numbers cannot be called with phone2go"
    assert d.refusal == "group_not_allowed"
    assert d.announcement == "ss-noservice"


def test_r5_premium_limits() -> None:
    """Per-minute premium: cut after 600 s; per-call premium (0901, 0905, 0909): no limit."""
    for number, limit in (
        ("0900 12 345", 600),
        ("0902 12 345", 600),
        ("0903 12 345", 600),
        ("0904 12 345", 600),
        ("0906 12 345", 600),
        ("0907 12 345", 600),
        ("0908 12 345", 600),
        ("0901 12 345", None),
        ("0905 12 345", None),
        ("0909 12 345", None),
    ):
        d = decide(CLASSIFY(number), CLASSIC, USAGE, TARIFF, PLAN)
        assert (d.action, d.limit_seconds) == ("route", limit), number


# ----------------------------------------------------------------------------- R7 fair use


@pytest.mark.parametrize("used", [0, 1, 1000, CAP - 600, CAP - 1])
@pytest.mark.parametrize("kind", ["be_fixed", "be_mobile"])
@pytest.mark.parametrize("product", ["classic", "klik", "phone2go"])
def test_r7_limit_is_the_fair_use_seconds_left(used: int, kind: str, product: str) -> None:
    d = decide(c(kind), LINES[product], Usage("2026-11", 0, used), TARIFF, PLAN)
    assert (d.action, d.limit_seconds) == ("route", CAP - used)


def test_r7_24_belgium_also_limits_belgian_calls() -> None:
    line = replace(CLASSIC, options=("24_belgium",))
    d = decide(c("be_fixed"), line, Usage("2026-11", 0, 100), TARIFF, PLAN)
    assert d.limit_seconds == CAP - 100


def test_r7_groups_without_an_unlimited_allowance_have_no_fair_use_limit() -> None:
    """A Classic zone call draws the bundle, not the fair-use counter: no limit."""
    usage = Usage("2026-11", 0, CAP - 1)
    for kind in ("zone", "ma_tr", "international", "freephone", "special_070"):
        d = decide(c(kind), CLASSIC, usage, TARIFF, PLAN)
        assert (d.action, d.limit_seconds) == ("route", None), kind
    d = decide(c("premium_per_minute"), CLASSIC, usage, TARIFF, PLAN)
    assert d.limit_seconds == CUTOFF  # R5 only


@pytest.mark.parametrize("used", [CAP, CAP + 1, 10 * CAP])
@pytest.mark.parametrize("product", ["classic", "klik", "phone2go"])
def test_r7_cap_reached_refuses_all_but_emergency_and_helpline(used: int, product: str) -> None:
    line = LINES[product]
    usage = Usage("2026-11", 0, used)
    for kind in ("be_fixed", "be_mobile", "freephone"):
        d = decide(c(kind), line, usage, TARIFF, PLAN)
        assert (d.action, d.sip_code) == ("refuse", BARRED), kind
        assert d.reason == "fair-use cap reached: the line is paused until month end"
        assert d.refusal == "fair_use_cap"
    for kind in ("helpline", "helpline_070"):
        d = decide(c(kind), line, usage, TARIFF, PLAN)
        assert (d.action, d.trunk, d.limit_seconds) == ("route", CARRIER, None), kind
    d = decide(c("emergency"), line, usage, TARIFF, PLAN)
    assert d.action == "route"
    assert d.trunk is not None
    assert d.trunk.startswith("psap-112-")


def test_r7_cap_reached_refuses_classic_zone_and_premium_too() -> None:
    usage = Usage("2026-11", 0, CAP)
    for kind in ("zone", "international", "premium_per_minute", "premium_per_call"):
        d = decide(c(kind), CLASSIC, usage, TARIFF, PLAN)
        assert (d.action, d.sip_code) == ("refuse", BARRED), kind


def test_r7_max_duration_never_negative() -> None:
    plan = TARIFF.plan("classic")
    assert max_duration(c("be_fixed"), plan, Usage("2026-11", 0, CAP + 5), TARIFF) == 0


# ----------------------------------------------------------------------------- paused


@pytest.mark.parametrize("product", ["classic", "klik", "phone2go"])
def test_r7_paused_line_refuses_all_but_emergency_and_helpline(product: str) -> None:
    line = replace(LINES[product], paused=True)
    for kind in ("be_fixed", "be_mobile", "freephone"):
        d = decide(c(kind), line, USAGE, TARIFF, PLAN)
        assert (d.action, d.sip_code) == ("refuse", BARRED), kind
        assert d.reason == "the line is paused by the operator"
        assert d.refusal == "line_paused"
    d = decide(c("helpline"), line, USAGE, TARIFF, PLAN)
    assert (d.action, d.trunk) == ("route", CARRIER)
    d = decide(c("emergency"), line, USAGE, TARIFF, PLAN)
    assert d.action == "route"


def test_r9_barring_comes_before_pause_for_phone2go() -> None:
    """Either is a 403; the reason names the stronger one (the product never allows it)."""
    line = replace(P2G, paused=True)
    d = decide(c("zone"), line, USAGE, TARIFF, PLAN)
    assert d.sip_code == BARRED
    assert d.reason == "zone numbers cannot be called with phone2go"


# ----------------------------------------------------------------------------- unknown line


def test_unknown_line_emergency_goes_to_the_default_provinces_centres() -> None:
    """R9: never refused; no address known → the default province (Brussels)."""
    assert PLAN.default_province == "brussels"
    for number, trunk in (
        ("112", "psap-112-brussels"),
        ("100", "psap-112-brussels"),
        ("101", "cic-101-brussels"),
    ):
        d = decide(CLASSIFY(number), None, USAGE, TARIFF, PLAN)
        assert (d.action, d.trunk, d.number) == ("route", trunk, number)
        assert d.centres is not None
        assert d.centres.province == "brussels"


def test_unknown_line_helpline_routed_others_refused() -> None:
    for kind in ("helpline", "helpline_070"):
        d = decide(c(kind), None, USAGE, TARIFF, PLAN)
        assert (d.action, d.trunk, d.number) == ("route", CARRIER, c(kind).dial)
        assert d.limit_seconds is None
    for kind in ("be_fixed", "be_mobile", "zone", "freephone", "premium_per_minute"):
        d = decide(c(kind), None, USAGE, TARIFF, PLAN)
        assert (d.action, d.sip_code) == ("refuse", BARRED), kind
        assert d.reason == "this line is not known to callctl"
        assert d.refusal == "unknown_line"
    # R1 comes first: what cannot be dialled is 484 even from an unknown line.
    assert decide(c("invalid"), None, USAGE, TARIFF, PLAN).sip_code == INVALID


def test_a_line_whose_product_the_tariff_lacks_is_503_but_emergency_still_routes() -> None:
    for line in (
        replace(CLASSIC, product="clic-bureau"),
        replace(KLIK, options=("anytime",)),  # a Classic option on KLIK
    ):
        d = decide(c("be_fixed"), line, USAGE, TARIFF, PLAN)
        assert (d.action, d.sip_code) == ("refuse", UNAVAILABLE)
        assert d.reason is not None
        assert d.reason.startswith("the line's product cannot be used")
        assert d.refusal == "product_unusable"
        assert decide(c("emergency"), line, USAGE, TARIFF, PLAN).routed


# ----------------------------------------------------------------------------- R9 emergency

# Postal code → (112 centre trunk, 101 CIC trunk). Brabant wallon's 112 calls go to Hainaut's
# centre; its police CIC is its own.
CENTRES = {
    "1000": ("psap-112-brussels", "cic-101-brussels"),
    "1300": ("psap-112-hainaut", "cic-101-brabant-wallon"),
    "1500": ("psap-112-vlaams-brabant", "cic-101-vlaams-brabant"),
    "2000": ("psap-112-antwerpen", "cic-101-antwerpen"),
    "3000": ("psap-112-vlaams-brabant", "cic-101-vlaams-brabant"),
    "3500": ("psap-112-limburg", "cic-101-limburg"),
    "4000": ("psap-112-liege", "cic-101-liege"),
    "5000": ("psap-112-namur", "cic-101-namur"),
    "6000": ("psap-112-hainaut", "cic-101-hainaut"),
    "6600": ("psap-112-luxembourg", "cic-101-luxembourg"),
    "7000": ("psap-112-hainaut", "cic-101-hainaut"),
    "8000": ("psap-112-west-vlaanderen", "cic-101-west-vlaanderen"),
    "9000": ("psap-112-oost-vlaanderen", "cic-101-oost-vlaanderen"),
}


@pytest.mark.parametrize("postal_code", sorted(CENTRES))
@pytest.mark.parametrize("product", ["classic", "klik", "phone2go"])
def test_r9_emergency_goes_to_the_install_address_provinces_centres(
    postal_code: str, product: str
) -> None:
    psap, cic = CENTRES[postal_code]
    line = replace(LINES[product], install_address=Address("Rue 1", postal_code, "Ville"))
    for number, trunk in (("112", psap), ("100", psap), ("101", cic)):
        d = decide(CLASSIFY(number), line, USAGE, TARIFF, PLAN)
        assert (d.action, d.trunk, d.number) == ("route", trunk, number)
        assert d.limit_seconds is None  # never cut
        assert d.sip_code is None
        assert d.centres is not None
        assert (d.centres.psap, d.centres.cic) == (psap, cic)


def test_r9_brabant_wallon_1300() -> None:
    line = replace(CLASSIC, install_address=Address("Grand-Place 1", "1300", "Wavre"))
    assert decide(CLASSIFY("112"), line, USAGE, TARIFF, PLAN).trunk == "psap-112-hainaut"
    assert decide(CLASSIFY("101"), line, USAGE, TARIFF, PLAN).trunk == "cic-101-brabant-wallon"


@pytest.mark.parametrize("dialled", ["112", "+32112", "0032112", "#31#112", "*31#112", "+32 112"])
def test_r2_r9_every_form_of_112_reaches_the_psap(dialled: str) -> None:
    d = decide(CLASSIFY(dialled), KLIK, USAGE, TARIFF, PLAN)
    assert (d.action, d.trunk, d.number) == ("route", "psap-112-oost-vlaanderen", "112")


def test_r9_emergency_is_never_refused() -> None:
    """Paused, over the cap, unknown product, Phone2Go, no or a bad address: still routed."""
    capped = Usage("2026-11", 0, 10 * CAP)
    for line in (
        replace(CLASSIC, paused=True),
        replace(CLASSIC, product="nothing"),
        P2G,
        replace(CLASSIC, install_address=None),
        replace(CLASSIC, install_address=Address("?", "0999", "?")),
        None,
    ):
        d = decide(CLASSIFY("112"), line, capped, TARIFF, PLAN)
        assert d.action == "route", line
        assert d.trunk is not None


def test_r9_emergency_without_a_usable_address_uses_the_default_province() -> None:
    for address in (None, Address("?", "0999", "?"), Address("?", "12a4", "?")):
        line = replace(CLASSIC, install_address=address)
        assert decide(CLASSIFY("112"), line, USAGE, TARIFF, PLAN).trunk == "psap-112-brussels"


# ----------------------------------------------------------------------------- AGI answer


def agi(dialled: str, line: Line | None = CLASSIC, usage: Usage = USAGE) -> str:
    return decide(CLASSIFY(dialled), line, usage, TARIFF, PLAN).agi_value()


def test_agi_value_format() -> None:
    """action,trunk,number,limit_ms,sip_code,announcement,withhold (dialplan ARRAY())."""
    assert agi("02 123 45 67") == f"route,carrier,+3221234567,{CAP * 1000},,,0"
    assert agi("+33 1 23 45 67 89") == "route,carrier,+33123456789,0,,,0"
    assert agi("0900 12 345") == "route,carrier,+3290012345,600000,,,0"
    assert agi("0901 12 345") == "route,carrier,+3290112345,0,,,0"
    assert agi("1207") == "route,carrier,1207,0,,,0"
    assert agi("1813") == "route,carrier,1813,0,,,0"
    assert agi("112") == "route,psap-112-brussels,112,0,,,0"
    assert agi("101") == "route,cic-101-brussels,101,0,,,0"
    assert agi("abc") == "refuse,,,0,484,cannot-complete-as-dialed,0"
    assert agi("077 12 34 56") == "refuse,,,0,403,ss-noservice,0"
    assert agi("02 123 45 67", replace(CLASSIC, product="x")) == (
        "refuse,,,0,503,all-circuits-busy-now,0"
    )
    assert agi("02 123 45 67", usage=Usage("2026-11", 0, CAP - 7)) == (
        "route,carrier,+3221234567,7000,,,0"
    )
    for value in (agi("02 123 45 67"), agi("abc"), agi("112")):
        assert len(value.split(",")) == 7


def test_agi_value_withhold() -> None:
    """#31# withholds the caller's number, except on emergency calls (R1, R9)."""
    assert agi("#31#02 123 45 67") == f"route,carrier,+3221234567,{CAP * 1000},,,1"
    assert agi("*31#0470 12 34 56") == f"route,carrier,+32470123456,{CAP * 1000},,,1"
    assert agi("#31#112") == "route,psap-112-brussels,112,0,,,0"
    assert agi("#31#101") == "route,cic-101-brussels,101,0,,,0"
    assert agi("#31#0900 12 345", P2G) == "refuse,,,0,403,ss-noservice,1"
    d = decide(CLASSIFY("#31#112"), CLASSIC, USAGE, TARIFF, PLAN)
    assert d.classification.clir
    assert not d.withhold_caller_id


def test_agi_value_limit_is_at_least_one_second() -> None:
    d = Decision("route", c("be_fixed"), trunk=CARRIER, number="+3221234567", limit_seconds=0)
    assert d.agi_value() == "route,carrier,+3221234567,1000,,,0"


def test_a_busy_licence_is_486_and_every_refusal_code_is_known() -> None:
    d = decide(c("be_fixed"), P2G, USAGE, TARIFF, PLAN, device_busy=True)
    assert (d.action, d.sip_code, d.refusal) == ("refuse", 486, "licence_busy")
    with pytest.raises(ValueError, match="unknown refusal code"):
        refuse(c("be_fixed"), BARRED, "because", "free text is not a code")
