"""Table of dial strings and their R2 destination group, read from the rules (R1, R2).

Every expected value below is taken from ``shared/spec/rules.md`` (R1 dial strings, R2
destination groups) and, for foreign numbers, from the numbering plan itself (the numbers
are ``phonenumbers`` example numbers or plain real-world ranges, written out literally).
Fields left as ``SKIP`` are not decided by the rules and are not checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import pytest

from callctl.core.classify import Classification, Classifier
from callctl.core.tariff import GROUPS


class _Skip:
    """Marker: the rules do not decide this field for this case."""

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Final = _Skip()


@dataclass(frozen=True)
class Case:
    raw: str
    group: str
    label: str
    e164: str | _Skip | None = SKIP
    country: str | _Skip | None = SKIP
    valid: bool | _Skip = SKIP
    clir: bool = False
    premium: bool | _Skip = SKIP
    price_key: str | _Skip = SKIP
    words: tuple[str, ...] = field(default_factory=tuple)


CASES: list[Case] = []


def case(
    raw: str,
    group: str,
    *,
    label: str | None = None,
    e164: str | _Skip | None = SKIP,
    country: str | _Skip | None = SKIP,
    valid: bool | _Skip = SKIP,
    clir: bool = False,
    premium: bool | _Skip = SKIP,
    price_key: str | _Skip = SKIP,
    words: tuple[str, ...] = (),
) -> None:
    # R2: only premium-rate/shared-cost international numbers carry the premium flag; the
    # flag of the Belgian `premium` group itself is not spelled out, so it is not checked.
    if isinstance(premium, _Skip) and group not in ("premium", "international"):
        premium = False
    CASES.append(
        Case(raw, group, label or raw, e164, country, valid, clir, premium, price_key, words)
    )


def be(
    raw: str,
    group: str,
    e164: str,
    *,
    valid: bool | _Skip = SKIP,
    clir: bool = False,
    price_key: str | _Skip = SKIP,
    label: str | None = None,
) -> None:
    """A Belgian (non-short) number: country BE and its E.164 form."""
    case(
        raw, group, e164=e164, country="BE", valid=valid, clir=clir, price_key=price_key,
        label=label,
    )  # fmt: skip


def foreign(
    raw: str,
    group: str,
    e164: str,
    country: str | None,
    *,
    valid: bool | _Skip = True,
    premium: bool = False,
    label: str | None = None,
    clir: bool = False,
) -> None:
    case(
        raw, group, e164=e164, country=country, valid=valid, premium=premium, label=label,
        clir=clir,
    )  # fmt: skip


def bad(raw: str, *words: str, label: str | None = None, clir: bool = False) -> None:
    case(raw, "invalid", words=words, label=label, clir=clir)


# ============================================================== R2 emergency, in every form
for raw in ("112", "100", "101"):
    case(raw, "emergency", country="BE")
case("+32112", "emergency")
case("+32 112", "emergency")
case("+32100", "emergency")
case("+32 101", "emergency")
case("0032112", "emergency")
case("0032 112", "emergency")
case("0032101", "emergency")
case("00 32 100", "emergency")
case("#31#112", "emergency", clir=True)
case("*31#112", "emergency", clir=True)
case("#31#101", "emergency", clir=True)
case("#31# 100", "emergency", clir=True)
case("#31#+32112", "emergency", clir=True)
case("tel:112", "emergency")
case("tel:+32112", "emergency")
case("TEL:112", "emergency", label="TEL-uppercase-112")
case("sip:112@host", "emergency")
case("sip:112@pbx.example.be;user=phone", "emergency")
case("sips:101@pbx.example.be", "emergency")
case("sip:+32112@pbx.example.be;user=phone", "emergency")
case("tel:0032112", "emergency")
case("tel:+32-112;phone-context=example.be", "emergency")
case("sip:%2331%23112@host", "emergency", clir=True, label="sip-percent-encoded-#31#112")
case("1 1 2", "emergency")
case("1-1-2", "emergency")
case("1.0.0", "emergency")
case("(101)", "emergency")
case("(+32) 112", "emergency", label="(+32)-112-separator-before-plus")
case("  112  ", "emergency", label="112-padded-with-spaces")
# docs/rules.md decision 1 (R2 "in any form"): an emergency number behind the national 0 is
# still emergency; foreign emergency numbers are not mapped to 112.
case("0112", "emergency", label="0112-national-0-before-112")
case("+32 0 112", "emergency", label="+32-0-112")
bad("911", label="911-is-not-112")
bad("999", label="999-is-not-112")

# ============================================================== R2 helpline (BIPT list)
for raw in ("102", "103", "104", "106", "107", "108", "110", "116000", "1712", "1813"):
    case(raw, "helpline", country="BE")
    case("+32" + raw, "helpline")
case("116 000", "helpline")
case("0032 1813", "helpline")
case("#31#1712", "helpline", clir=True)
be("070 245 245", "helpline", "+3270245245")
be("+32 70 245 245", "helpline", "+3270245245")
be("0032 70 245 245", "helpline", "+3270245245")
be("02 649 95 55", "helpline", "+3226499555")
be("+32 2 649 95 55", "helpline", "+3226499555")
be("02/649.95.55", "helpline", "+3226499555")
be("0800 32 123", "helpline", "+3280032123")
be("+32 800 32 123", "helpline", "+3280032123")
be("0800 30 030", "helpline", "+3280030030")
be("+32 800 30 030", "helpline", "+3280030030")
be("0800 98 100", "helpline", "+3280098100")
be("+32 800 98 100", "helpline", "+3280098100")

# ============================================================== R2 freephone: other 0800
be("0800 12 345", "freephone", "+3280012345")
be("0800-55-555", "freephone", "+3280055555")
be("+32 800 12 345", "freephone", "+3280012345")
be("0032 800 99 999", "freephone", "+3280099999")
be("0800 32 124", "freephone", "+3280032124", label="0800-32-124-next-to-helpline")

# ============================================================== R2 premium 0900-0909
for d in range(10):
    prefix = f"090{d}"
    be(f"{prefix} 12 345", "premium", f"+3290{d}12345", price_key=prefix)
be("+32 903 99 999", "premium", "+3290399999", price_key="0903")
be("0032 909 00 000", "premium", "+3290900000", price_key="0909")

# ============================================================== R2 special
be("070 23 45 67", "special", "+3270234567", price_key="070")
be("+32 70 12 34 56", "special", "+3270123456", price_key="070")
be("070 245 246", "special", "+3270245246", price_key="070", label="070-245-246-not-helpline")
be("077 12 34 56", "special", "+3277123456", price_key="077")
be("078 15 25 35", "special", "+3278152535", price_key="078")
be("+32 78 15 25 35", "special", "+3278152535", price_key="078")
for raw in ("1207", "1307", "1722", "1733", "116111"):
    case(raw, "special", country="BE", price_key="short")

# ============================================================== R2 be_fixed: by prefix
be("02 511 22 33", "be_fixed", "+3225112233")
be("02 123 45 67", "be_fixed", "+3221234567", valid=False, label="02-123-library-invalid")
be("03 231 45 67", "be_fixed", "+3232314567")
be("04 223 45 67", "be_fixed", "+3242234567")
be("09 223 45 67", "be_fixed", "+3292234567")
be("010 45 67 89", "be_fixed", "+3210456789")
be("011 22 33 44", "be_fixed", "+3211223344")
be("016 32 10 11", "be_fixed", "+3216321011")
be("050 44 86 86", "be_fixed", "+3250448686")
be("059 70 11 99", "be_fixed", "+3259701199")
be("064 22 33 44", "be_fixed", "+3264223344")
be("071 12 34 56", "be_fixed", "+3271123456")
be("080 86 12 34", "be_fixed", "+3280861234", label="080-Stavelot-not-0800")
be("081 22 33 44", "be_fixed", "+3281223344")
be("087 22 33 44", "be_fixed", "+3287223344")
be("092 12 34 56", "be_fixed", "+3292123456", label="092-Ghent-not-premium")

# ============================================================== R2 be_mobile 0450-0499
be("0450 12 34 56", "be_mobile", "+32450123456")
be("0456 78 90 12", "be_mobile", "+32456789012")
be("0460 12 34 56", "be_mobile", "+32460123456")
be("0470 12 34 56", "be_mobile", "+32470123456")
be("0475 12 34 56", "be_mobile", "+32475123456")
be("0486 12 34 56", "be_mobile", "+32486123456")
be("0499 12 34 56", "be_mobile", "+32499123456")

# ============================================================== R1 dial forms
be("0475/12.34.56", "be_mobile", "+32475123456")
be("(0475) 12-34-56", "be_mobile", "+32475123456")
be("+32 475 12 34 56", "be_mobile", "+32475123456")
be("+32-475-123456", "be_mobile", "+32475123456")
be("00 32 475 12 34 56", "be_mobile", "+32475123456")
be("0032 0475 12 34 56", "be_mobile", "+32475123456", label="0032-with-national-0-mobile")
be("0032 2 511 22 33", "be_fixed", "+3225112233")
be("0032 0 2 511 22 33", "be_fixed", "+3225112233", label="0032-with-national-0-fixed")
be("0032 (0)2 511 22 33", "be_fixed", "+3225112233")
be("(+32) 2 511 22 33", "be_fixed", "+3225112233", label="(+32)-separator-before-plus")
be("+32 (0) 475 12 34 56", "be_mobile", "+32475123456")
be("tel:+32-2-511-22-33", "be_fixed", "+3225112233")
be("tel:+32475123456;phone-context=example.be", "be_mobile", "+32475123456")
be("tel:0475123456;phone-context=+32", "be_mobile", "+32475123456")
be("sip:+3225112233@pbx.example.be;user=phone", "be_fixed", "+3225112233")
be("sip:0475123456@10.0.0.1:5060", "be_mobile", "+32475123456")
be("sips:0032475123456@pbx.example.be;transport=tls", "be_mobile", "+32475123456")
be("#31#0475 12 34 56", "be_mobile", "+32475123456", clir=True)
be("*31#02 511 22 33", "be_fixed", "+3225112233", clir=True)
be("#31#+32 475 12 34 56", "be_mobile", "+32475123456", clir=True)
be("sip:%2331%230475123456@host", "be_mobile", "+32475123456", clir=True,
   label="sip-percent-encoded-#31#-mobile")  # fmt: skip
be("tel:%2A31%230800-12-345", "freephone", "+3280012345", clir=True,
   label="tel-percent-encoded-*31#-freephone")  # fmt: skip

# ============================================================== R2 zone: the 37 countries
foreign("+359 2 123 456", "zone", "+3592123456", "BG")
foreign("+357 22 345678", "zone", "+35722345678", "CY")
foreign("+45 32 12 34 56", "zone", "+4532123456", "DK")
foreign("+49 30 123456", "zone", "+4930123456", "DE")
foreign("0049 151 23456789", "zone", "+4915123456789", "DE")
foreign("+372 321 2345", "zone", "+3723212345", "EE")
foreign("+358 41 2345678", "zone", "+358412345678", "FI")
foreign("+33 1 23 45 67 89", "zone", "+33123456789", "FR")
foreign("0033 6 12 34 56 78", "zone", "+33612345678", "FR")
foreign("+30 21 2345 6789", "zone", "+302123456789", "GR")
foreign("+353 22 12345", "zone", "+3532212345", "IE")
foreign("+39 02 1234 5678", "zone", "+390212345678", "IT")
foreign("+39 312 345 6789", "zone", "+393123456789", "IT")
foreign("+36 1 234 5678", "zone", "+3612345678", "HU")
foreign("+371 6312 3456", "zone", "+37163123456", "LV")
foreign("+370 312 34567", "zone", "+37031234567", "LT")
foreign("+352 27 12 34 56", "zone", "+35227123456", "LU")
foreign("+356 2100 1234", "zone", "+35621001234", "MT")
foreign("+31 10 123 4567", "zone", "+31101234567", "NL")
foreign("+31 6 12345678", "zone", "+31612345678", "NL")
foreign("+43 664 123456", "zone", "+43664123456", "AT")
foreign("+48 12 345 67 89", "zone", "+48123456789", "PL")
foreign("+351 21 234 5678", "zone", "+351212345678", "PT")
foreign("+40 21 123 4567", "zone", "+40211234567", "RO")
foreign("+386 1 234 5678", "zone", "+38612345678", "SI")
foreign("+421 2 212 34567", "zone", "+421221234567", "SK")
foreign("+34 912 345 678", "zone", "+34912345678", "ES")
foreign("+420 212 345 678", "zone", "+420212345678", "CZ")
foreign("+44 121 234 5678", "zone", "+441212345678", "GB")
foreign("+44 7400 123456", "zone", "+447400123456", "GB")
foreign("+46 8 123 456", "zone", "+468123456", "SE")
foreign("+376 712 345", "zone", "+376712345", "AD")
foreign("+298 201 234", "zone", "+298201234", "FO")
foreign("+350 200 12345", "zone", "+35020012345", "GI")
foreign("+354 410 1234", "zone", "+3544101234", "IS")
foreign("+423 234 5678", "zone", "+4232345678", "LI")
foreign("+377 99 12 34 56", "zone", "+37799123456", "MC")
foreign("+47 21 23 45 67", "zone", "+4721234567", "NO")
foreign("+378 0549 886377", "zone", "+3780549886377", "SM")
foreign("+41 21 234 56 78", "zone", "+41212345678", "CH")
foreign("+41 79 123 45 67", "zone", "+41791234567", "CH")
foreign("+1 201 555 0123", "zone", "+12015550123", "US")
foreign("+1 (506) 234-5678", "zone", "+15062345678", "CA")
foreign("001 613 555 0199", "zone", "+16135550199", "CA")
foreign("(+33) 1 23 45 67 89", "zone", "+33123456789", "FR")
foreign("tel:+44-121-234-5678", "zone", "+441212345678", "GB")
foreign("sip:+4930123456@gw.example.de;user=phone", "zone", "+4930123456", "DE")
foreign("#31#+33 1 23 45 67 89", "zone", "+33123456789", "FR", clir=True)

# R2 region aliases: the country field is the alias target.
foreign("+44 1481 256789", "zone", "+441481256789", "GB", label="GG-Guernsey-as-GB")
foreign("+44 1534 456789", "zone", "+441534456789", "GB", label="JE-Jersey-as-GB")
foreign("+44 1624 756789", "zone", "+441624756789", "GB", label="IM-Isle-of-Man-as-GB")
foreign("+358 18 1234567", "zone", "+358181234567", "FI", label="AX-Aland-as-FI")
foreign("+47 79 12 34 56", "zone", "+4779123456", "NO", label="SJ-Svalbard-as-NO")
foreign("+39 06 698 12345", "zone", "+390669812345", "IT", label="VA-Vatican-as-IT")
foreign("+1 787 234 5678", "zone", "+17872345678", "US", label="PR-Puerto-Rico-as-US")
foreign("+1 340 642 1234", "zone", "+13406421234", "US", label="VI-Virgin-Islands-as-US")
foreign("+1 671 300 1234", "zone", "+16713001234", "US", label="GU-Guam-as-US")
foreign("+1 670 234 5678", "zone", "+16702345678", "US", label="MP-N-Mariana-as-US")
foreign("+1 684 622 1234", "zone", "+16846221234", "US", label="AS-American-Samoa-as-US")
case("+212 528 81 23 45", "zone", e164="+212528812345", country="MA",
     label="EH-Western-Sahara-528-as-MA")  # fmt: skip

# ============================================================== R2 Morocco
# Maroc Telecom fixed prefixes -> zone (the library rejects some: validity not checked).
for p in ("522", "523", "524", "528", "535", "536", "537", "539"):
    case(f"+212 {p} 123456", "zone", e164=f"+212{p}123456", country="MA")
case("00212 522 12 34 56", "zone", e164="+212522123456", country="MA")
# Other Moroccan fixed (5xx) -> ma_tr.
for p in ("520", "521", "525", "526", "527", "529", "530", "534", "538"):
    case(f"+212 {p} 123456", "ma_tr", e164=f"+212{p}123456", country="MA")
# Moroccan mobiles 6xx/7xx -> ma_tr.
foreign("+212 650 123456", "ma_tr", "+212650123456", "MA")
foreign("+212 661 234567", "ma_tr", "+212661234567", "MA")
foreign("+212 700 123456", "ma_tr", "+212700123456", "MA")
foreign("+212 712 345678", "ma_tr", "+212712345678", "MA")
# R2 Morocco bullet: the first digit decides, so a 5xx number the library types as VoIP is
# still "fixed" (and not Maroc Telecom) -> ma_tr.
case("+212 592 401234", "ma_tr", e164="+212592401234", country="MA", label="MA-592-VoIP-type")
# Moroccan 80x/89x -> international (89x is premium rate).
foreign("+212 801 234567", "international", "+212801234567", "MA")
foreign("+212 891 234567", "international", "+212891234567", "MA", premium=True)

# ============================================================== R2 Turkey
foreign("+90 212 345 67 89", "zone", "+902123456789", "TR")
foreign("+90 312 345 67 89", "zone", "+903123456789", "TR")
foreign("+90 462 345 67 89", "zone", "+904623456789", "TR")
foreign("+90 392 212 34 56", "zone", "+903922123456", "TR", label="+90-392-Northern-Cyprus")
foreign("+90 532 123 45 67", "ma_tr", "+905321234567", "TR")
foreign("+90 505 123 45 67", "ma_tr", "+905051234567", "TR")
foreign("+90 850 123 45 67", "international", "+908501234567", "TR")
foreign("+90 444 1 234", "international", "+904441234", "TR")
foreign("+90 512 123 45 67", "international", "+905121234567", "TR")
foreign("+90 592 123 45 67", "international", "+905921234567", "TR", valid=SKIP)
foreign("+90 800 123 45 67", "international", "+908001234567", "TR")
foreign("+90 900 123 45 67", "international", "+909001234567", "TR", premium=True)

# ============================================================== R2 international
foreign("+385 1 2345 678", "international", "+38512345678", "HR", label="HR-Croatia-fixed")
foreign("+385 92 123 4567", "international", "+385921234567", "HR", label="HR-Croatia-mobile")
foreign("+383 28 012 345", "international", "+38328012345", "XK", label="XK-Kosovo-fixed")
foreign("+383 43 201 234", "international", "+38343201234", "XK", label="XK-Kosovo-mobile")
foreign("+1 876 523 0123", "international", "+18765230123", "JM", label="JM-Jamaica")
foreign("+1 242 345 6789", "international", "+12423456789", "BS", label="BS-Bahamas")
foreign("+1 809 234 5678", "international", "+18092345678", "DO", label="DO-Dominican-Rep")
foreign("+7 495 123 45 67", "international", "+74951234567", "RU")
foreign("+81 3 1234 5678", "international", "+81312345678", "JP")
foreign("+86 10 1234 5678", "international", "+861012345678", "CN")
# +1 toll-free is not a fixed or mobile number.
case("+1 800 234 5678", "international", e164="+18002345678", premium=False)
case("+1 888 234 5678", "international", e164="+18882345678", premium=False)
case("+1 877 234 5678", "international", e164="+18772345678", premium=False)
# Other number types of zone countries.
foreign("+33 801 23 45 67", "international", "+33801234567", "FR", label="FR-toll-free")
foreign("+33 9 12 34 56 78", "international", "+33912345678", "FR", label="FR-VoIP")
foreign("+44 55 1234 5678", "international", "+445512345678", "GB", label="GB-UAN")
foreign("+44 70 1234 5678", "international", "+447012345678", "GB", label="GB-personal")
foreign("+44 76 4012 3456", "international", "+447640123456", "GB", label="GB-pager")
# Premium-rate and shared-cost types carry the premium flag.
foreign("+33 891 12 34 56", "international", "+33891123456", "FR", premium=True,
        label="FR-premium-rate")  # fmt: skip
foreign("+33 884 01 23 45", "international", "+33884012345", "FR", premium=True,
        label="FR-shared-cost")  # fmt: skip
foreign("+44 901 234 5678", "international", "+449012345678", "GB", premium=True,
        label="GB-premium-rate")  # fmt: skip
foreign("+49 180 12345", "international", "+4918012345", "DE", premium=True,
        label="DE-shared-cost")  # fmt: skip
foreign("+41 900 123 456", "international", "+41900123456", "CH", premium=True,
        label="CH-premium-rate")  # fmt: skip
foreign("+43 810 123 456", "international", "+43810123456", "AT", premium=True,
        label="AT-shared-cost")  # fmt: skip
foreign("+39 848 123 456", "international", "+39848123456", "IT", premium=True,
        label="IT-shared-cost")  # fmt: skip
case("+1 900 234 5678", "international", e164="+19002345678", premium=True,
     label="NANP-premium-rate")  # fmt: skip
# Non-geographic (satellite, global services): no country.
foreign("+800 1234 5678", "international", "+80012345678", None)
foreign("+870 301 234 567", "international", "+870301234567", None)
foreign("+881 612 345 678", "international", "+881612345678", None)
foreign("+882 342 1234", "international", "+8823421234", None)
foreign("+883 510 012 345", "international", "+883510012345", None)
# Possible length, known country code, no valid library type: international, valid false.
foreign("+44 111 000 0000", "international", "+441110000000", "GB", valid=False,
        label="GB-possible-but-not-valid")  # fmt: skip
foreign("+1 212 123 4567", "international", "+12121234567", "US", valid=False,
        label="US-possible-but-not-valid")  # fmt: skip

# ============================================================== R1 invalid
bad("", label="empty")
bad("   ", label="spaces-only")
bad("\t \n", label="whitespace-only")
bad("abc", "letters")
bad("0800-FLOWERS", "letters")
bad("1-800-FLOWERS", "letters")
bad("+1 800 FLOWERS", "letters")
bad("02 511 22 3X", "letters")
bad("sip:alice@example.com", "letters")
bad("sip:pbx.example.be", label="sip-uri-without-user")
bad("tel:", label="tel-uri-empty")
bad("#31#", clir=True, label="clir-prefix-alone")
bad("*31#", clir=True, label="star-clir-prefix-alone")
bad("12", "too short")
bad("1", "too short")
bad("0", label="national-prefix-alone")
bad("02 123", "too short")
bad("02 511 22 3", "too short")
bad("0475 12 34 5", "too short")
bad("0800 12 34", "too short")
bad("0900 12 34", "too short")
bad("02 511 22 334", "too long")
bad("0475 12 34 567", "too long")
bad("0800 12 345 6", "too long")
bad("+33 123", "too short")
bad("+212 5", "too short")
bad("+33 1 23 45 67 89 0", "too long")
bad("+49 30 1234567890123456789", "too long")
bad("0" + "2" * 255, "too long", label="256-digits")
bad("0" * 10_000, "too long", label="10000-zeros")
bad("+999 123 456", "country code")
bad("00999 123 456", "country code")
bad("+28 1234567", "country code")
bad("+", label="plus-alone")
bad("00", label="00-alone")
bad("0032", label="0032-alone")
bad("+32", label="+32-alone")
bad("+1", label="+1-alone")
bad("++32 2 511 22 33", label="double-plus")
bad("32 2 511 22 33", label="32-without-plus-is-national")
bad("32 475 12 34 56", label="32-mobile-without-plus-is-national")
bad("3225112233", label="32-digits-without-plus-is-national")
bad("8888", label="national-not-starting-0-or-1")
bad("02\x00511 22 33", label="NUL-control-char")
bad("\x07112", label="BEL-control-char")
bad("0475\n123456", label="newline-inside")
bad("\u0660\u0664\u0667\u0665\u0661\u0662\u0663\u0664\u0665\u0666", label="arabic-indic-digits")
bad("\uff10\uff14\uff17\uff15\uff11\uff12\uff13\uff14\uff15\uff16", label="fullwidth-digits")
bad("\U0001f4de 0475 12 34 56", label="emoji-phone")
bad("\u260e\ufe0f", label="emoji-alone")
bad("0475\U0001f642123456", label="emoji-inside")


def _case_id(c: Case) -> str:
    label = c.label.encode("ascii", "backslashreplace").decode("ascii")
    if len(label) > 40:
        label = label[:40] + "..."
    return f"R2-{c.group}-{label}"


_IDS = [_case_id(c) for c in CASES]
assert len(set(_IDS)) == len(_IDS), "table ids must be unique"


def test_table_is_large_and_covers_every_group() -> None:
    """The table has at least 170 cases and exercises all 11 groups of R2."""
    assert len(CASES) >= 170
    assert {c.group for c in CASES} == set(GROUPS)


@pytest.mark.parametrize("c", CASES, ids=_IDS)
def test_classification_follows_r1_r2(classify: Classifier, c: Case) -> None:
    got: Classification = classify(c.raw)
    assert got.group == c.group, got
    assert got.input == c.raw
    assert got.clir is c.clir, got  # R1: #31#/*31# sets clir, nothing else does
    if c.group == "invalid":
        # R1: refused with a reason a person can read; nothing to dial, nothing to charge.
        assert isinstance(got.reason, str), got
        assert got.reason.strip(), got
        assert got.reason.isprintable(), got
        assert len(got.reason) < 200, got
        for word in c.words:
            assert word in got.reason.lower(), (word, got.reason)
        assert got.e164 is None, got
        assert got.valid is False, got
        assert got.premium is False, got
    else:
        assert got.reason is None, got
    if not isinstance(c.e164, _Skip):
        assert got.e164 == c.e164, got
    if not isinstance(c.country, _Skip):
        assert got.country == c.country, got
    if not isinstance(c.valid, _Skip):
        assert got.valid is c.valid, got
    if not isinstance(c.premium, _Skip):
        assert got.premium is c.premium, got
    if not isinstance(c.price_key, _Skip):
        assert got.price_key == c.price_key, got
