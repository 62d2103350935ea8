"""Rule R2: the destination group of a dialled number, with ``phonenumbers``.

Belgian numbers are grouped by prefix from the tariff's numbering data (the library's
validity is only a flag); foreign numbers by the library's number type, after the R2 region
aliases, with the Moroccan and Turkish exceptions. Classification never raises: anything
that cannot be dialled is group ``invalid`` with a reason a person can read.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

from callctl.core.dialstring import DialError, DialString, parse_dial_string
from callctl.core.tariff import Numbering

_TYPE_NAMES = {
    value: name for name, value in vars(PhoneNumberType).items() if isinstance(value, int)
}
_LENGTH_REASONS = {
    ValidationResult.TOO_SHORT: "too short for that country",
    ValidationResult.TOO_LONG: "too long for that country",
    ValidationResult.INVALID_LENGTH: "not a possible length for that country",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "too short for that country (local form only)",
    ValidationResult.INVALID_COUNTRY_CODE: "unknown country code",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.TOO_SHORT_NSN: "too short for that country",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short for that country",
    NumberParseException.TOO_LONG: "too long to be a phone number",
}
NON_GEOGRAPHIC_REGION = "001"


@dataclass(frozen=True, slots=True)
class Classification:
    """The answer for one dialled string (R1, R2)."""

    input: str
    group: str
    e164: str | None
    country: str | None
    valid: bool
    clir: bool
    premium: bool
    reason: str | None
    number_type: str | None = None  # the library's type name, foreign numbers only
    price_key: str | None = None  # which tariff price applies (group, sub-kind or prefix)
    dial: str | None = None  # what to send to the carrier: E.164 or a Belgian short number

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _invalid(raw: str, reason: str, clir: bool = False) -> Classification:
    return Classification(raw, "invalid", None, None, False, clir, False, reason)


class Classifier:
    """Classifies dial strings against one tariff's numbering data, with a bounded cache."""

    def __init__(self, numbering: Numbering, cache_size: int = 65536) -> None:
        # phonenumbers' metadata has more regexes than the re module's 512-entry cache, so
        # without this they are recompiled over and over (about a quarter of the time).
        phonenumbers.enable_pattern_cache()
        self.numbering = numbering
        self._cache: OrderedDict[str, Classification] = OrderedDict()
        self._cache_size = cache_size

    def __call__(self, raw: str) -> Classification:
        cached = self._cache.get(raw)
        if cached is not None:
            self._cache.move_to_end(raw)
            return cached
        result = self.classify(raw)
        self._cache[raw] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def classify(self, raw: str) -> Classification:
        """Classify without the cache. Never raises for any string."""
        if not isinstance(raw, str):
            return _invalid(str(raw), "not text")
        try:
            dial = parse_dial_string(raw, self.numbering)
        except DialError as exc:
            return _invalid(raw, str(exc), exc.clir)
        n = self.numbering
        if dial.international:
            if dial.digits.startswith(n.home_country_code):
                nsn = dial.digits[len(n.home_country_code) :]
                # "0032 0 2…": the national 0 may follow the country code (R1).
                if nsn.startswith(n.national_prefix):
                    nsn = nsn[len(n.national_prefix) :]
                return self._belgian_nsn(raw, nsn, dial)
            return self._foreign(raw, dial)
        if dial.digits.startswith(n.national_prefix):
            nsn = dial.digits[len(n.national_prefix) :]
            return self._belgian_nsn(raw, nsn, dial)
        short = self._short(raw, dial.digits, dial)
        if short is not None:
            return short
        if dial.digits.startswith(n.short_number_prefixes) and len(dial.digits) < min(
            n.short_number_lengths
        ):
            return _invalid(raw, "too short for a Belgian short number", dial.clir)
        return _invalid(
            raw, "a Belgian number starts with 0; put 00 or + before a country code", dial.clir
        )

    # ------------------------------------------------------------------ Belgium

    def _home(
        self,
        raw: str,
        group: str,
        dial: DialString,
        price_key: str,
        to: str,
        *,
        e164: str | None = None,
        valid: bool = True,
    ) -> Classification:
        """A Belgian answer; ``to`` is what the carrier is sent."""
        return Classification(
            raw, group, e164, self.numbering.home_country, valid, dial.clir,
            group == "premium", None, price_key=price_key, dial=to,
        )  # fmt: skip

    def _short(self, raw: str, digits: str, dial: DialString) -> Classification | None:
        n = self.numbering
        if digits in n.emergency:
            return self._home(raw, "emergency", dial, "emergency", digits)
        if digits in n.helpline:
            return self._home(raw, "helpline", dial, "helpline", digits)
        if len(digits) in n.short_number_lengths and digits.startswith(n.short_number_prefixes):
            return self._home(raw, "special", dial, "short", digits)
        return None

    def _belgian_nsn(self, raw: str, nsn: str, dial: DialString) -> Classification:
        """A Belgian number given without its national 0 (from +32, 0032 or 0…)."""
        n = self.numbering
        if not nsn:
            if dial.international:
                return _invalid(raw, "a country code with no number after it", dial.clir)
            return _invalid(raw, "only the national prefix 0 was dialled", dial.clir)
        # Emergency numbers in any form, also +32112 and 0112 (R2): never turned away.
        if nsn in n.emergency:
            short = self._short(raw, nsn, dial)
            assert short is not None
            return short
        national = n.national_prefix + nsn
        e164 = f"+{n.home_country_code}{nsn}"
        if national in n.helpline:
            return self._home(raw, "helpline", dial, "helpline", e164, e164=e164)
        if dial.international:
            # +32 1207: a short number reached with the country code.
            short = self._short(raw, nsn, dial)
            if short is not None:
                return short
        rng = n.national_range(national)
        if rng is None:
            return _invalid(raw, f"no Belgian number starts with {national[:3]}", dial.clir)
        if len(national) < min(rng.lengths):
            return _invalid(raw, "too short for a Belgian number", dial.clir)
        if len(national) > max(rng.lengths):
            return _invalid(raw, "too long for a Belgian number", dial.clir)
        if len(national) not in rng.lengths:
            return _invalid(raw, "not a possible length for a Belgian number", dial.clir)
        price_key = rng.price_key
        if price_key == "prefix":
            price_key = next(p for p in rng.prefixes if national.startswith(p))
        valid = phonenumbers.is_valid_number(phonenumbers.parse(e164, None))
        return self._home(raw, rng.group, dial, price_key, e164, e164=e164, valid=valid)

    # ------------------------------------------------------------------ abroad

    def _foreign(self, raw: str, dial: DialString) -> Classification:
        n = self.numbering
        e164 = "+" + dial.digits
        try:
            number = phonenumbers.parse(e164, None)
        except NumberParseException as exc:
            return _invalid(
                raw, _PARSE_REASONS.get(exc.error_type, "not a phone number"), dial.clir
            )
        possible = phonenumbers.is_possible_number_with_reason(number)
        if possible != ValidationResult.IS_POSSIBLE:
            return _invalid(raw, _LENGTH_REASONS.get(possible, "not a possible number"), dial.clir)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        valid = phonenumbers.is_valid_number(number)
        region: str = phonenumbers.region_code_for_number(
            number
        ) or phonenumbers.region_code_for_country_code(number.country_code or 0)
        country = None if region == NON_GEOGRAPHIC_REGION else n.aliases.get(region, region)
        type_name = _TYPE_NAMES.get(phonenumbers.number_type(number), "UNKNOWN")
        nsn = phonenumbers.national_significant_number(number)
        group = self._foreign_group(country, type_name, nsn)
        premium = group == "international" and type_name in n.premium_types
        return Classification(
            raw, group, e164, country, valid, dial.clir, premium, None,
            number_type=type_name, price_key=group, dial=e164,
        )  # fmt: skip

    def _foreign_group(self, country: str | None, type_name: str, nsn: str) -> str:
        n = self.numbering
        if country == n.morocco_region:
            first = nsn[:1]
            if first in n.morocco_fixed_first_digits:
                return "zone" if nsn.startswith(n.morocco_zone_prefixes) else "ma_tr"
            if first in n.morocco_mobile_first_digits:
                return "ma_tr"
            return "international"
        if country == n.turkey_region:
            if type_name in n.turkey_zone_types:
                return "zone"
            if type_name in n.turkey_ma_tr_types:
                return "ma_tr"
            return "international"
        if country in n.zone_countries and type_name in n.zone_types:
            return "zone"
        return "international"
