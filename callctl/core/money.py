"""Decimal money helpers (rule R8): parsing tariff amounts and half-up rounding."""

from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0")
CALL_QUANTUM = Decimal("0.0001")  # R8: a call's amount has 4 decimals
CENT = Decimal("0.01")  # R8: a statement is rounded to cents


def to_money(value: object) -> Decimal:
    """A tariff amount as Decimal; refuses floats so no binary rounding slips in."""
    if isinstance(value, float | bool):
        raise TypeError(f"money must be written as a string, not {type(value).__name__}: {value!r}")
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def round_call(amount: Decimal) -> Decimal:
    """R8: a call's amount, rounded half-up to 4 decimals."""
    return amount.quantize(CALL_QUANTUM, rounding=ROUND_HALF_UP)


def money_text(amount: Decimal) -> str:
    """A call amount as text with its 4 decimals (R8), e.g. ``"0.5800"``."""
    return str(amount.quantize(CALL_QUANTUM))


def round_cents(amount: Decimal) -> Decimal:
    """R8: a statement line, rounded half-up to cents."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)
