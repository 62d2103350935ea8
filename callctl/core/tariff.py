"""The tariff as typed values, built from the tariff data file's mapping (R2, R3, R5–R7).

Parsing checks the whole file up front so that a bad tariff fails at start-up with the key
that is wrong, never in the middle of rating a call. No numbers live here: they all come
from the mapping (see ``callctl/data/tariff.toml``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time
from decimal import Decimal, InvalidOperation
from typing import Any

from callctl.core.fraud import AuthRules, Barring, FraudRules, Velocity
from callctl.core.money import ZERO, to_money

BANDS = ("peak", "offpeak")
PRODUCT_GROUPS = ("be_fixed", "be_mobile", "zone", "ma_tr", "international")
GROUPS = (
    "emergency",
    "helpline",
    "freephone",
    "premium",
    "special",
    "be_fixed",
    "be_mobile",
    "zone",
    "ma_tr",
    "international",
    "invalid",
)


class TariffError(ValueError):
    """The tariff data, or a product/option asked of it, is not usable."""


@dataclass(frozen=True, slots=True)
class NationalRange:
    """A set of Belgian national prefixes (with their 0) sharing a group and price key."""

    prefixes: tuple[str, ...]
    group: str
    price_key: str
    lengths: frozenset[int]


@dataclass(frozen=True, slots=True)
class Numbering:
    """R1/R2 numbering data: how dial strings are read and Belgian numbers grouped."""

    home_country: str
    home_country_code: str
    national_prefix: str
    international_prefixes: tuple[str, ...]
    clir_prefixes: tuple[str, ...]
    separators: frozenset[str]
    max_input_length: int
    emergency: frozenset[str]
    helpline: frozenset[str]
    short_number_prefixes: tuple[str, ...]
    short_number_lengths: frozenset[int]
    national: tuple[NationalRange, ...]
    zone_countries: frozenset[str]
    zone_types: frozenset[str]
    aliases: Mapping[str, str]
    morocco_region: str
    morocco_fixed_first_digits: frozenset[str]
    morocco_mobile_first_digits: frozenset[str]
    morocco_zone_prefixes: tuple[str, ...]
    turkey_region: str
    turkey_zone_types: frozenset[str]
    turkey_ma_tr_types: frozenset[str]
    premium_types: frozenset[str]

    def national_range(self, national: str) -> NationalRange | None:
        """The range whose longest prefix starts ``national`` (a dial string with its 0)."""
        best: NationalRange | None = None
        best_len = 0
        for rng in self.national:
            for prefix in rng.prefixes:
                if len(prefix) > best_len and national.startswith(prefix):
                    best, best_len = rng, len(prefix)
        return best


@dataclass(frozen=True, slots=True)
class BandRules:
    """R3: when peak applies."""

    peak_weekdays: frozenset[int]
    peak_start: time
    peak_end: time
    holidays_country: str
    extra_offpeak_dates: frozenset[date]


@dataclass(frozen=True, slots=True)
class ThirdPartyPrice:
    """R5: price of a third-party number (no bundle, no allowance, no setup fee)."""

    per_minute: Decimal = ZERO
    per_call: Decimal = ZERO
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class Allowances:
    """What a product or option gives: per-minute prices, unlimited bands, bundle bands."""

    per_minute: Mapping[str, Decimal]
    unlimited: Mapping[str, frozenset[str]]
    bundle: Mapping[str, frozenset[str]]


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    name: str
    monthly_fee: Decimal
    allowances: Allowances


@dataclass(frozen=True, slots=True)
class Product:
    key: str
    name: str
    monthly_fee: Decimal
    allowances: Allowances
    options: Mapping[str, Option]
    allowed_groups: frozenset[str] | None = None  # None: every group may be called


@dataclass(frozen=True, slots=True)
class Fee:
    """A monthly fee line of a statement."""

    name: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Plan:
    """A product with its options, merged: what rating needs for one line."""

    product: str
    options: tuple[str, ...]
    per_minute: Mapping[str, Decimal]
    unlimited: Mapping[str, frozenset[str]]
    bundle: Mapping[str, frozenset[str]]
    fees: tuple[Fee, ...]
    allowed_groups: frozenset[str] | None = None

    def allows(self, group: str) -> bool:
        """R9: whether this product may call ``group`` at all."""
        return self.allowed_groups is None or group in self.allowed_groups


@dataclass(frozen=True, slots=True)
class Tariff:
    id: str
    currency: str
    vat_rate: Decimal
    timezone: str
    numbering: Numbering
    bands: BandRules
    bundle_seconds: int
    fair_use_seconds: int
    premium_cutoff_seconds: int
    setup_fee: Decimal
    setup_fee_groups: frozenset[str]
    pause_exempt_groups: frozenset[str]
    products: Mapping[str, Product]
    third_party: Mapping[str, ThirdPartyPrice]
    fraud: FraudRules

    def plan(self, product: str, options: tuple[str, ...] | list[str] = ()) -> Plan:
        """Merge a product and its options; an option the product does not offer is an error."""
        prod = self.products.get(product)
        if prod is None:
            known = ", ".join(sorted(self.products))
            raise TariffError(f"unknown product {product!r} (known: {known})")
        per_minute = dict(prod.allowances.per_minute)
        unlimited = {g: set(b) for g, b in prod.allowances.unlimited.items()}
        bundle = {g: set(b) for g, b in prod.allowances.bundle.items()}
        fees = [Fee(prod.name, prod.monthly_fee)]
        chosen: list[str] = []
        for key in options:
            opt = prod.options.get(key)
            if opt is None:
                offered = ", ".join(sorted(prod.options)) or "none"
                raise TariffError(
                    f"option {key!r} is not offered with {product} (offered: {offered})"
                )
            if key in chosen:
                continue
            chosen.append(key)
            per_minute.update(opt.allowances.per_minute)
            for g, b in opt.allowances.unlimited.items():
                unlimited.setdefault(g, set()).update(b)
            for g, b in opt.allowances.bundle.items():
                bundle.setdefault(g, set()).update(b)
            fees.append(Fee(opt.name, opt.monthly_fee))
        return Plan(
            product=product,
            options=tuple(chosen),
            per_minute=per_minute,
            unlimited={g: frozenset(b) for g, b in unlimited.items()},
            bundle={g: frozenset(b) for g, b in bundle.items()},
            fees=tuple(fees),
            allowed_groups=prod.allowed_groups,
        )


# ----------------------------------------------------------------------------- parsing


def _get(m: Mapping[str, Any], key: str, where: str) -> Any:
    try:
        return m[key]
    except (KeyError, TypeError):
        raise TariffError(f"tariff: missing key {where}.{key}") from None


def _money(value: Any, where: str) -> Decimal:
    try:
        amount = to_money(value)
    except (TypeError, InvalidOperation) as exc:
        raise TariffError(f"tariff: {where} is not an amount: {exc}") from None
    if not amount.is_finite() or amount < 0:
        raise TariffError(f"tariff: {where} must be a non-negative amount, not {value!r}")
    return amount


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TariffError(f"tariff: {where} must be a list of strings")
    return tuple(value)


def _ints(value: Any, where: str) -> frozenset[int]:
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        raise TariffError(f"tariff: {where} must be a list of whole numbers")
    return frozenset(value)


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TariffError(f"tariff: {where} must be a non-negative whole number")
    return value


def _band_map(value: Any, where: str) -> dict[str, frozenset[str]]:
    if not isinstance(value, Mapping):
        raise TariffError(f"tariff: {where} must be a table of group = [bands]")
    out: dict[str, frozenset[str]] = {}
    for group, bands in value.items():
        if group not in PRODUCT_GROUPS:
            raise TariffError(f"tariff: {where}.{group} is not a product group")
        names = _strs(bands, f"{where}.{group}")
        bad = set(names) - set(BANDS)
        if bad:
            raise TariffError(f"tariff: {where}.{group} names unknown bands {sorted(bad)}")
        out[group] = frozenset(names)
    return out


def _allowances(m: Mapping[str, Any], where: str) -> Allowances:
    per_minute_raw = m.get("per_minute", {})
    if not isinstance(per_minute_raw, Mapping):
        raise TariffError(f"tariff: {where}.per_minute must be a table")
    per_minute = {}
    for group, price in per_minute_raw.items():
        if group not in PRODUCT_GROUPS:
            raise TariffError(f"tariff: {where}.per_minute.{group} is not a product group")
        per_minute[group] = _money(price, f"{where}.per_minute.{group}")
    return Allowances(
        per_minute=per_minute,
        unlimited=_band_map(m.get("unlimited", {}), f"{where}.unlimited"),
        bundle=_band_map(m.get("bundle", {}), f"{where}.bundle"),
    )


def _time(value: Any, where: str) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        raise TariffError(f"tariff: {where} is not a time of day: {value!r}") from None


def _products(m: Mapping[str, Any]) -> dict[str, Product]:
    products = {}
    for key, p in m.items():
        where = f"products.{key}"
        allowances = _allowances(p, where)
        missing = set(PRODUCT_GROUPS) - set(allowances.per_minute)
        if missing:
            raise TariffError(f"tariff: {where}.per_minute lacks {sorted(missing)}")
        options = {
            okey: Option(
                key=okey,
                name=str(_get(o, "name", f"{where}.options.{okey}")),
                monthly_fee=_money(
                    _get(o, "monthly_fee", f"{where}.options.{okey}"),
                    f"{where}.options.{okey}.monthly_fee",
                ),
                allowances=_allowances(o, f"{where}.options.{okey}"),
            )
            for okey, o in p.get("options", {}).items()
        }
        allowed = p.get("allowed_groups")
        if allowed is not None:
            allowed = frozenset(_strs(allowed, f"{where}.allowed_groups"))
            if allowed - set(GROUPS):
                raise TariffError(f"tariff: {where}.allowed_groups names unknown groups")
        products[key] = Product(
            key=key,
            name=str(_get(p, "name", where)),
            monthly_fee=_money(_get(p, "monthly_fee", where), f"{where}.monthly_fee"),
            allowances=allowances,
            options=options,
            allowed_groups=allowed,
        )
    if not products:
        raise TariffError("tariff: no products")
    return products


def _third_party(m: Mapping[str, Any]) -> dict[str, ThirdPartyPrice]:
    out = {}
    for key, p in m.items():
        where = f"prices.third_party.{key!s}"
        if not isinstance(p, Mapping):
            raise TariffError(f"tariff: {where} must be a table")
        refused = p.get("refused")
        out[str(key)] = ThirdPartyPrice(
            per_minute=_money(p.get("per_minute", "0"), f"{where}.per_minute"),
            per_call=_money(p.get("per_call", "0"), f"{where}.per_call"),
            refused=None if refused is None else str(refused),
        )
    return out


def _numbering(data: Mapping[str, Any]) -> Numbering:
    n = _get(data, "numbering", "")
    zone = _get(data, "zone", "")
    morocco = _get(zone, "morocco", "zone")
    turkey = _get(zone, "turkey", "zone")
    ranges = []
    for i, r in enumerate(_get(n, "national", "numbering")):
        where = f"numbering.national[{i}]"
        group = str(_get(r, "group", where))
        if group not in GROUPS:
            raise TariffError(f"tariff: {where}.group {group!r} is not a group")
        ranges.append(
            NationalRange(
                prefixes=_strs(_get(r, "prefixes", where), f"{where}.prefixes"),
                group=group,
                price_key=str(_get(r, "price_key", where)),
                lengths=_ints(_get(r, "lengths", where), f"{where}.lengths"),
            )
        )
    aliases = _get(zone, "aliases", "zone")
    return Numbering(
        home_country=str(_get(n, "home_country", "numbering")),
        home_country_code=str(_get(n, "home_country_code", "numbering")),
        national_prefix=str(_get(n, "national_prefix", "numbering")),
        international_prefixes=_strs(
            _get(n, "international_prefixes", "numbering"), "numbering.international_prefixes"
        ),
        clir_prefixes=_strs(_get(n, "clir_prefixes", "numbering"), "numbering.clir_prefixes"),
        separators=frozenset(str(_get(n, "separators", "numbering"))),
        max_input_length=_int(_get(n, "max_input_length", "numbering"), "max_input_length"),
        emergency=frozenset(_strs(_get(n, "emergency", "numbering"), "numbering.emergency")),
        helpline=frozenset(_strs(_get(n, "helpline", "numbering"), "numbering.helpline")),
        short_number_prefixes=_strs(
            _get(n, "short_number_prefixes", "numbering"), "numbering.short_number_prefixes"
        ),
        short_number_lengths=_ints(
            _get(n, "short_number_lengths", "numbering"), "numbering.short_number_lengths"
        ),
        national=tuple(ranges),
        zone_countries=frozenset(_strs(_get(zone, "countries", "zone"), "zone.countries")),
        zone_types=frozenset(_strs(_get(zone, "number_types", "zone"), "zone.number_types")),
        aliases={str(k): str(v) for k, v in aliases.items()},
        morocco_region=str(_get(morocco, "region", "zone.morocco")),
        morocco_fixed_first_digits=frozenset(
            _strs(_get(morocco, "fixed_first_digits", "zone.morocco"), "fixed_first_digits")
        ),
        morocco_mobile_first_digits=frozenset(
            _strs(_get(morocco, "mobile_first_digits", "zone.morocco"), "mobile_first_digits")
        ),
        morocco_zone_prefixes=_strs(
            _get(morocco, "zone_prefixes", "zone.morocco"), "zone.morocco.zone_prefixes"
        ),
        turkey_region=str(_get(turkey, "region", "zone.turkey")),
        turkey_zone_types=frozenset(
            _strs(_get(turkey, "zone_types", "zone.turkey"), "zone.turkey.zone_types")
        ),
        turkey_ma_tr_types=frozenset(
            _strs(_get(turkey, "ma_tr_types", "zone.turkey"), "zone.turkey.ma_tr_types")
        ),
        premium_types=frozenset(
            _strs(
                _get(_get(data, "international", ""), "premium_types", "international"),
                "international.premium_types",
            )
        ),
    )


def _bands(b: Mapping[str, Any]) -> BandRules:
    try:
        extra = frozenset(date.fromisoformat(str(d)) for d in b.get("extra_offpeak_dates", []))
    except ValueError as exc:
        raise TariffError(f"tariff: bands.extra_offpeak_dates: {exc}") from None
    return BandRules(
        peak_weekdays=_ints(_get(b, "peak_weekdays", "bands"), "bands.peak_weekdays"),
        peak_start=_time(_get(b, "peak_start", "bands"), "bands.peak_start"),
        peak_end=_time(_get(b, "peak_end", "bands"), "bands.peak_end"),
        holidays_country=str(_get(b, "holidays_country", "bands")),
        extra_offpeak_dates=extra,
    )


def _kinds(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise TariffError(f"tariff: {where} must be a table of text values")
    return {str(k): v for k, v in value.items()}


def _groups(value: Any, where: str, exempt: frozenset[str]) -> frozenset[str]:
    """Groups the fraud guard acts on: never emergency or helpline numbers (R9)."""
    groups = frozenset(_strs(value, where))
    if groups - set(GROUPS):
        raise TariffError(f"tariff: {where} names unknown groups {sorted(groups - set(GROUPS))}")
    if groups & exempt:
        raise TariffError(f"tariff: {where} may not name {sorted(groups & exempt)} (R9)")
    return groups


def _fraud(data: Mapping[str, Any], exempt: frozenset[str]) -> FraudRules:
    """The ``[fraud]`` tables (docs/security.md)."""
    fraud = _get(data, "fraud", "")
    b = _get(fraud, "barring", "fraud")
    v = _get(fraud, "velocity", "fraud")
    a = _get(fraud, "auth", "fraud")
    prefixes = _kinds(_get(b, "prefixes", "fraud.barring"), "fraud.barring.prefixes")
    if not all(p.isdigit() for p in prefixes):
        raise TariffError("tariff: fraud.barring.prefixes must be E.164 digits without '+'")
    try:
        never = tuple(
            ipaddress.ip_network(n, strict=False)
            for n in _strs(_get(a, "never_block", "fraud.auth"), "fraud.auth.never_block")
        )
    except ValueError as exc:
        raise TariffError(f"tariff: fraud.auth.never_block: {exc}") from None

    def count(table: Mapping[str, Any], where: str, key: str, least: int = 1) -> int:
        value = _int(_get(table, key, where), f"{where}.{key}")
        if value < least:
            raise TariffError(f"tariff: {where}.{key} must be at least {least}")
        return value

    def names(table: Mapping[str, Any], where: str, key: str) -> frozenset[str]:
        return frozenset(_strs(_get(table, key, where), f"{where}.{key}"))

    velocity = Velocity(
        groups=_groups(_get(v, "groups", "fraud.velocity"), "fraud.velocity.groups", exempt),
        max_simultaneous=count(v, "fraud.velocity", "max_simultaneous"),
        window_seconds=count(v, "fraud.velocity", "window_seconds"),
        max_seconds=count(v, "fraud.velocity", "max_seconds", least=0),
        min_grant_seconds=count(v, "fraud.velocity", "min_grant_seconds"),
    )
    auth = AuthRules(
        failure_events=names(a, "fraud.auth", "failure_events"),
        success_events=names(a, "fraud.auth", "success_events"),
        max_failures=count(a, "fraud.auth", "max_failures"),
        window_seconds=count(a, "fraud.auth", "window_seconds"),
        block_seconds=count(a, "fraud.auth", "block_seconds"),
        trust_seconds=count(a, "fraud.auth", "trust_seconds", least=0),
        never_block=never,
    )
    barring = Barring(
        option=str(_get(b, "option", "fraud.barring")),
        groups=_groups(_get(b, "groups", "fraud.barring"), "fraud.barring.groups", exempt),
        number_types=_kinds(_get(b, "number_types", "fraud.barring"), "fraud.barring.number_types"),
        prefixes=prefixes,
    )
    return FraudRules(barring, velocity, auth)


def parse_tariff(data: Mapping[str, Any]) -> Tariff:
    """Build a :class:`Tariff` from the data file's mapping, checking every key."""
    head = _get(data, "tariff", "")
    limits = _get(data, "limits", "")
    vat = _money(_get(head, "vat_rate", "tariff"), "tariff.vat_rate")
    pause_exempt = frozenset(
        _strs(_get(limits, "pause_exempt_groups", "limits"), "limits.pause_exempt_groups")
    )
    return Tariff(
        id=str(_get(head, "id", "tariff")),
        currency=str(_get(head, "currency", "tariff")),
        vat_rate=vat,
        timezone=str(_get(head, "timezone", "tariff")),
        numbering=_numbering(data),
        bands=_bands(_get(data, "bands", "")),
        bundle_seconds=_int(_get(limits, "bundle_seconds", "limits"), "limits.bundle_seconds"),
        fair_use_seconds=_int(
            _get(limits, "fair_use_seconds", "limits"), "limits.fair_use_seconds"
        ),
        premium_cutoff_seconds=_int(
            _get(limits, "premium_cutoff_seconds", "limits"), "limits.premium_cutoff_seconds"
        ),
        setup_fee=_money(_get(limits, "setup_fee", "limits"), "limits.setup_fee"),
        setup_fee_groups=frozenset(
            _strs(_get(limits, "setup_fee_groups", "limits"), "limits.setup_fee_groups")
        ),
        pause_exempt_groups=pause_exempt,
        products=_products(_get(data, "products", "")),
        third_party=_third_party(_get(_get(data, "prices", ""), "third_party", "prices")),
        fraud=_fraud(data, frozenset({"emergency", "helpline"}) | pause_exempt),
    )
