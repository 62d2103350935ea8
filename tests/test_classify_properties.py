"""Properties of classification that hold for every input (R1, R2)."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callctl.core.classify import Classification, Classifier
from callctl.core.tariff import GROUPS
from callctl.data import default_tariff

NUMBERING = default_tariff().numbering
SEPARATORS = " ./-()"  # R1
DIGITS = "0123456789"

# Classify the same number in several forms: the fixture is session-wide, so hypothesis may
# share it between examples.
PROPERTY_SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ------------------------------------------------------------------------------ strategies

# Pieces a caller (or a broken PBX) might type: digits, R1 separators and prefixes, URI bits,
# letters, control characters, non-ASCII digits and emoji.
_ANY_PIECES = [
    *DIGITS,
    *SEPARATORS,
    "+", "00", "0032", "+32", "0", "32", "#31#", "*31#", "#", "*",
    "tel:", "sip:", "sips:", "@host", ";user=phone", ";phone-context=+32", "%23", "%2A", "%",
    "112", "0800", "0900", "070", "0475", "+212", "+90", "+1", "+44", "+800",
    "A", "x", "FLOWERS", "\t", "\n", "\x00", "\x7f", "\u00a0", "\u0663", "\uff11", "\U0001f4de",
]  # fmt: skip
dialish = st.lists(st.sampled_from(_ANY_PIECES), max_size=25).map("".join)

# Only what a keypad or a dialler produces (no URIs, no letters): for the #31# property.
_KEYPAD_PIECES = [
    *DIGITS,
    *SEPARATORS,
    "+", "00", "0032", "+32", "0", "112", "0800", "0900", "070", "0475", "+212", "+90", "+1",
]  # fmt: skip
keypad = st.lists(st.sampled_from(_KEYPAD_PIECES), max_size=25).map("".join)


@st.composite
def belgian_nsn(draw: st.DrawFn) -> str:
    """A Belgian national significant number (no leading 0), 7-12 digits.

    Half of them are built from the tariff's national prefixes at an allowed length (so
    mostly valid); the others are random digits. Seven digits or more keeps them apart from
    the short numbers (3-6 digits), whose national form has no 0 before it.
    """
    if draw(st.booleans()):
        rng = draw(st.sampled_from(NUMBERING.national))
        prefix = draw(st.sampled_from(rng.prefixes))
        length = draw(st.sampled_from(sorted(rng.lengths)))
        rest = draw(st.text(DIGITS, min_size=length - len(prefix), max_size=length - len(prefix)))
        national = prefix + rest
        assert national.startswith("0")
        return national[1:]
    first = draw(st.sampled_from("123456789"))
    return first + draw(st.text(DIGITS, min_size=6, max_size=11))


# Numbers of every group but invalid, written without separators (R2).
VALID_NUMBERS = [
    "112", "+32112", "0032101", "1813", "116000", "070245245", "+3226499555", "080032123",
    "080012345", "090512345", "070234567", "077123456", "078152535", "1207", "116111",
    "025112233", "080861234", "0475123456", "+32450123456", "00320475123456",
    "+33123456789", "004915123456789", "+12015550123", "+441481256789",
    "+212522123456", "+212530123456", "+212661234567", "+902123456789", "+905321234567",
    "+38512345678", "+18002345678", "+33891123456", "+80012345678", "+441110000000",
]  # fmt: skip


@st.composite
def digit_strings(draw: st.DrawFn) -> str:
    """A table number, or random digits with an optional +, 00 or 0 in front."""
    if draw(st.booleans()):
        return draw(st.sampled_from(VALID_NUMBERS))
    head = draw(st.sampled_from(["", "+", "00", "0", "+32", "0032"]))
    return head + draw(st.text(DIGITS, min_size=1, max_size=16))


@st.composite
def with_separators(draw: st.DrawFn, plain: str) -> str:
    """``plain`` with runs of R1 separators put before, between and after its characters."""
    out = []
    for ch in plain:
        out.append(draw(st.text(SEPARATORS, max_size=2)))
        out.append(ch)
    out.append(draw(st.text(SEPARATORS, max_size=2)))
    return "".join(out)


def _answer(c: Classification) -> dict[str, object]:
    """Everything but the input as typed."""
    d = dataclasses.asdict(c)
    del d["input"]
    return d


def _check_shape(raw: str, c: Classification) -> None:
    assert c.input == raw
    assert c.group in GROUPS  # R2: exactly one of the 11 groups
    assert (c.reason is not None) == (c.group == "invalid")  # R1: invalid iff a reason
    if c.reason is not None:
        assert c.reason.strip()
        assert c.e164 is None
    if c.e164 is not None:
        assert c.e164.startswith("+")
        digits = c.e164[1:]
        assert digits.isascii()
        assert digits.isdigit()
    assert isinstance(c.clir, bool)
    assert isinstance(c.valid, bool)
    assert isinstance(c.premium, bool)


# ------------------------------------------------------------------------------ properties


@PROPERTY_SETTINGS
@given(raw=st.text())
def test_r1_r2_any_text_never_raises_and_is_well_formed(classify: Classifier, raw: str) -> None:
    _check_shape(raw, classify(raw))


@PROPERTY_SETTINGS
@given(raw=dialish)
def test_r1_r2_dial_like_text_never_raises_and_is_well_formed(
    classify: Classifier, raw: str
) -> None:
    got = classify(raw)
    _check_shape(raw, got)
    assert classify.classify(raw) == got  # the cache changes nothing


@PROPERTY_SETTINGS
@given(data=st.data(), plain=digit_strings())
def test_r1_separators_never_change_the_answer(
    classify: Classifier, data: st.DataObject, plain: str
) -> None:
    spaced = data.draw(with_separators(plain), label="spaced")
    assert _answer(classify(spaced)) == _answer(classify(plain))


@PROPERTY_SETTINGS
@given(nsn=belgian_nsn())
def test_r1_plus32_0032_and_national_forms_agree(classify: Classifier, nsn: str) -> None:
    national = classify("0" + nsn)
    for form in ("+32" + nsn, "0032" + nsn, "00320" + nsn, "+32 " + nsn):
        other = classify(form)
        assert other.group == national.group, (form, other, national)
        assert other.e164 == national.e164, (form, other, national)
        assert other.country == national.country
        assert other.valid == national.valid
        assert other.premium == national.premium
        assert other.price_key == national.price_key


@PROPERTY_SETTINGS
@given(nsn=belgian_nsn())
def test_r2_belgian_numbers_never_fall_abroad(classify: Classifier, nsn: str) -> None:
    """R2: a +32 number is Belgian (or invalid), never zone/ma_tr/international."""
    got = classify("+32" + nsn)
    assert got.group not in ("zone", "ma_tr", "international")
    if got.group != "invalid":
        assert got.country == "BE"
        assert got.e164 == "+32" + nsn


@PROPERTY_SETTINGS
@given(raw=keypad, prefix=st.sampled_from(["#31#", "*31#", "#31# ", "*31#  "]))
def test_r1_clir_prefix_only_sets_clir(classify: Classifier, raw: str, prefix: str) -> None:
    plain = classify(raw)
    hidden = classify(prefix + raw)
    assert hidden.clir is True
    expected = dataclasses.replace(plain, input=hidden.input, clir=True)
    assert hidden == expected


@PROPERTY_SETTINGS
@given(plain=st.sampled_from(VALID_NUMBERS), prefix=st.sampled_from(["#31#", "*31#"]))
def test_r1_clir_prefix_keeps_the_group_of_valid_numbers(
    classify: Classifier, plain: str, prefix: str
) -> None:
    got = classify(prefix + plain)
    assert got.group != "invalid"
    assert got.clir is True
    assert _answer(got) == {**_answer(classify(plain)), "clir": True}
