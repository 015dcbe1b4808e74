"""What a visit costs, line by line. Pure arithmetic on integers and Decimals.

Rounding (exact, and the only place it happens):
- each line's amount is computed exactly in Decimal minor units and rounded once, half away
  from zero, to a whole minor unit (a CHARGING line: kWh x price + session fee, then rounded);
- tax is computed on the invoice's net total (the sum of the rounded lines) at the tariff's
  rate, and rounded once the same way;
- total = net + tax, exactly: no cent is lost or invented between the lines and the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from billing.domain.money import round_minor
from billing.domain.tariff import Tariff

DAY_SEC = 24 * 3600


class LineKind(StrEnum):
    CHARGING = "CHARGING"
    PARKING = "PARKING"
    IDLE = "IDLE"
    ADJUSTMENT = "ADJUSTMENT"


@dataclass(frozen=True)
class Line:
    kind: LineKind
    description: str
    amount_minor: int  # tax-exclusive
    quantity_note: str | None = None
    session_id: str | None = None


@dataclass(frozen=True)
class Totals:
    net_minor: int
    tax_minor: int
    total_minor: int


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _seconds(start: datetime, end: datetime) -> int:
    """Whole seconds from start to end (0 when end is not after start)."""
    return max(0, int((end - start).total_seconds()))


def charging_amount(tariff: Tariff, kwh: Decimal) -> int:
    return round_minor(kwh * tariff.energy_minor_per_kwh + tariff.session_fee_minor)


def charging_line(tariff: Tariff, session_id: str, kwh: Decimal, where: str) -> Line:
    price = tariff.energy_minor_per_kwh
    return Line(
        LineKind.CHARGING,
        f"Charging at {where}",
        charging_amount(tariff, kwh),
        f"{kwh} kWh x {price} + session fee {tariff.session_fee_minor} "
        f"({tariff.currency} minor units, tariff {tariff.id} v{tariff.version})",
        session_id,
    )


def late_energy_line(
    tariff: Tariff, session_id: str, kwh: Decimal, where: str, fee_billed_in: str
) -> Line:
    """The energy of a session whose close came after its visit was invoiced (at the visit's
    timeout, the session still open): that invoice billed its session fee and 0 kWh, so this
    line is the energy alone."""
    price = tariff.energy_minor_per_kwh
    return Line(
        LineKind.CHARGING,
        f"Charging at {where}, closed after invoice {fee_billed_in}",
        round_minor(kwh * price),
        f"{kwh} kWh x {price} ({tariff.currency} minor units, tariff {tariff.id} "
        f"v{tariff.version}); session fee billed in {fee_billed_in}",
        session_id,
    )


@dataclass(frozen=True)
class ParkingCharge:
    amount_minor: int
    periods: int  # started periods charged before caps (0 within the grace)
    capped_days: int  # 24 h windows where the cap applied


def parking_charge(tariff: Tariff, arrived_at: datetime, left_at: datetime) -> ParkingCharge:
    """Per started period of the stay; free when the whole stay is within the grace. Each
    24 h window from arrival is priced on its own (its started periods) and capped at the
    daily cap; a period crossing into the next window counts in the window it started in."""
    duration = _seconds(arrived_at, left_at)
    if duration <= tariff.parking_grace_minutes * 60:
        return ParkingCharge(0, 0, 0)
    period = tariff.parking_period_minutes * 60
    full_days, rest = divmod(duration, DAY_SEC)
    windows = [DAY_SEC] * full_days + ([rest] if rest else [])
    amount = periods = capped = 0
    for window in windows:
        started = _ceil_div(window, period)
        cost = started * tariff.parking_minor_per_period
        cap = tariff.parking_daily_cap_minor
        if cap is not None and cost > cap:
            cost, capped = cap, capped + 1
        amount, periods = amount + cost, periods + started
    return ParkingCharge(amount, periods, capped)


def parking_line(tariff: Tariff, lot_id: str, arrived_at: datetime, left_at: datetime) -> Line:
    charge = parking_charge(tariff, arrived_at, left_at)
    minutes = _seconds(arrived_at, left_at) // 60
    note = (
        f"{charge.periods} x {tariff.parking_period_minutes} min started x "
        f"{tariff.parking_minor_per_period}"
        + (f", daily cap on {charge.capped_days} day(s)" if charge.capped_days else "")
        + f" (tariff {tariff.id} v{tariff.version})"
    )
    if charge.periods == 0:
        note = f"within the {tariff.parking_grace_minutes} min grace"
    return Line(
        LineKind.PARKING,
        f"Parking in lot {lot_id}, {minutes // 60} h {minutes % 60} min",
        charge.amount_minor,
        note,
    )


def idle_minutes(tariff: Tariff, ended_at: datetime, until: datetime) -> int:
    """Started minutes in the bay from `idle_after_minutes` after the session's end to `until`
    (the vehicle leaving, or the bay's next session starting)."""
    start = ended_at + timedelta(minutes=tariff.idle_after_minutes)
    return _ceil_div(_seconds(start, until), 60)


def idle_line(tariff: Tariff, session_id: str, ended_at: datetime, until: datetime) -> Line | None:
    minutes = idle_minutes(tariff, ended_at, until)
    if minutes == 0 or tariff.idle_minor_per_minute == 0:
        return None
    return Line(
        LineKind.IDLE,
        f"Idle in the EV bay from {tariff.idle_after_minutes} min after charging",
        minutes * tariff.idle_minor_per_minute,
        f"{minutes} min x {tariff.idle_minor_per_minute} (tariff {tariff.id} v{tariff.version})",
        session_id,
    )


def tax_minor(net_minor: int, tax_percent: Decimal) -> int:
    return round_minor(Decimal(net_minor) * tax_percent / 100)


def totals(lines: Sequence[Line], tax_percent: Decimal) -> Totals:
    net = sum(line.amount_minor for line in lines)
    tax = tax_minor(net, tax_percent)
    return Totals(net, tax, net + tax)
