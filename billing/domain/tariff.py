"""Tariffs: what a visit costs. Versioned: a change is a new version, valid from its time on,
and the version in force when a session starts (or a vehicle arrives) prices it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from chargepark.errors import Invalid, NotFound

DEFAULT_TARIFF_ID = "T_STD"
_ID = re.compile(r"[A-Z][A-Z0-9_]{0,31}")
_CURRENCY = re.compile(r"[A-Z]{3}")


class UnknownTariff(NotFound):
    def __init__(self, tariff_id: str) -> None:
        super().__init__(f"no tariff {tariff_id!r}")


@dataclass(frozen=True)
class Tariff:
    """Prices in minor units of `currency` (for EUR: cents).

    - energy_minor_per_kwh: per kWh; a Decimal may be finer than a cent (38.5 = 0.385 EUR)
    - session_fee_minor: per charging session
    - parking_minor_per_period: per started `parking_period_minutes` of a stay; a stay of at
      most `parking_grace_minutes` is free; each 24 h from arrival costs at most
      `parking_daily_cap_minor` (None: no cap)
    - idle_minor_per_minute: per started minute a vehicle stays in the EV bay from
      `idle_after_minutes` after its session ended until it leaves (or the next session starts)
    - tax_percent: on the invoice's net total (e.g. 20 or 20.5)
    """

    id: str
    version: int
    name: str
    currency: str
    energy_minor_per_kwh: Decimal
    session_fee_minor: int
    parking_minor_per_period: int
    parking_period_minutes: int
    parking_grace_minutes: int
    parking_daily_cap_minor: int | None
    idle_minor_per_minute: int
    idle_after_minutes: int
    tax_percent: Decimal
    valid_from: datetime

    def __post_init__(self) -> None:
        check_tariff(self)


def check_tariff(t: Tariff) -> None:
    """Raises Invalid naming the first field that is out of range."""
    if not _ID.fullmatch(t.id):
        raise Invalid(f"tariff id {t.id[:40]!r} must be A-Z, 0-9 and _, starting with a letter")
    if not _CURRENCY.fullmatch(t.currency):
        raise Invalid(f"currency {t.currency[:8]!r} is not an ISO 4217 code such as EUR")
    if t.version < 1:
        raise Invalid("version starts at 1")
    if t.valid_from.tzinfo is None:
        raise Invalid("valid_from needs a UTC offset")
    if not Decimal(0) <= t.energy_minor_per_kwh <= Decimal(1_000_000):
        raise Invalid("energy_minor_per_kwh must be from 0 to 1000000")
    if t.energy_minor_per_kwh.as_tuple().exponent < -6:  # type: ignore[operator]
        raise Invalid("energy_minor_per_kwh has at most 6 decimal places")
    if not Decimal(0) <= t.tax_percent <= Decimal(100):
        raise Invalid("tax_percent must be from 0 to 100")
    if t.tax_percent.as_tuple().exponent < -4:  # type: ignore[operator]
        raise Invalid("tax_percent has at most 4 decimal places")
    if t.parking_period_minutes < 1:
        raise Invalid("parking_period_minutes must be at least 1")
    for name in (
        "session_fee_minor",
        "parking_minor_per_period",
        "parking_grace_minutes",
        "idle_minor_per_minute",
        "idle_after_minutes",
    ):
        value = getattr(t, name)
        if not 0 <= value <= 100_000_000:
            raise Invalid(f"{name} must be from 0 to 100000000")
    cap = t.parking_daily_cap_minor
    if cap is not None and not 0 <= cap <= 100_000_000:
        raise Invalid("parking_daily_cap_minor must be from 0 to 100000000, or null")


def standard_tariff(valid_from: datetime | None = None) -> Tariff:
    """T_STD, seeded on billing's first start so the platform bills out of the box.

    EUR; 0.39 EUR/kWh plus 0.50 EUR per session; parking 0.50 EUR per started 15 minutes,
    free up to 15 minutes, at most 20.00 EUR per 24 hours; idle 0.05 EUR per started minute
    from 30 minutes after charging ends; 20 % tax.
    """
    return Tariff(
        id=DEFAULT_TARIFF_ID,
        version=1,
        name="Standard",
        currency="EUR",
        energy_minor_per_kwh=Decimal(39),
        session_fee_minor=50,
        parking_minor_per_period=50,
        parking_period_minutes=15,
        parking_grace_minutes=15,
        parking_daily_cap_minor=2000,
        idle_minor_per_minute=5,
        idle_after_minutes=30,
        tax_percent=Decimal(20),
        valid_from=valid_from or datetime(2020, 1, 1, tzinfo=UTC),
    )


def in_force(versions: Iterable[Tariff], at: datetime) -> Tariff:
    """The version valid at `at`: the newest `valid_from` not after it (ties: the higher
    version). Before the first version's `valid_from`, the first version applies."""
    ordered = sorted(versions, key=lambda t: (t.valid_from, t.version))
    if not ordered:
        raise ValueError("a tariff has at least one version")
    chosen = ordered[0]
    for t in ordered:
        if t.valid_from <= at:
            chosen = t
    return chosen


def tariff_chooser(
    by_id: Mapping[str, Sequence[Tariff]],
) -> Callable[[str | None, datetime], Tariff]:
    """(tariff id or None, time) -> the version in force; an unknown id or None: T_STD."""

    def choose(tariff_id: str | None, at: datetime) -> Tariff:
        versions = by_id.get(tariff_id or DEFAULT_TARIFF_ID) or by_id.get(DEFAULT_TARIFF_ID)
        if not versions:
            raise UnknownTariff(DEFAULT_TARIFF_ID)
        return in_force(versions, at)

    return choose
