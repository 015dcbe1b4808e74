"""Money is an integer count of minor units (cents); prices may be finer (Decimal minor units).

The one rounding rule: a Decimal amount of minor units becomes an integer by rounding half away
from zero (`ROUND_HALF_UP` of Python's decimal module: 0.5 -> 1, -0.5 -> -1, 2.49 -> 2).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ONE = Decimal(1)


def round_minor(value: Decimal) -> int:
    """`value` minor units, rounded half away from zero to a whole minor unit."""
    return int(value.quantize(ONE, rounding=ROUND_HALF_UP))


def decimal_of(raw: object, name: str) -> Decimal:
    """A finite Decimal from an int, a Decimal or a decimal string (never a float: binary
    fractions are not exact)."""
    if isinstance(raw, bool) or not isinstance(raw, int | str | Decimal):
        raise ValueError(f"{name} must be a whole number or a decimal string")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"{name} {str(raw)[:32]!r} is not a decimal number") from None
    if not value.is_finite():
        raise ValueError(f"{name} must be a finite number")
    return value
