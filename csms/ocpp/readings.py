"""Meter values as chargers send them (1.6 and 2.0.1 shapes): sampled values, units,
multipliers. They are kept as sent (rows of meter_samples); what the session rules need of them
comes out of here as version-free values: a register in Wh, `Reading`s, `SessionReadings`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from csms.domain.sessions import (
    ENERGY_INTERVAL,
    ENERGY_REGISTER,
    READING_MAX,
    Reading,
    SessionReadings,
)

# A stored sample as the session's energy reads it: (sampled_at, measurand, phase, unit,
# multiplier, value), the columns in this order.
StoredSample = tuple[datetime, str, str | None, str | None, int | None, str]


def energy_register_wh(meter_values: list[dict[str, Any]] | None) -> int | None:
    """The newest whole-meter energy register reading in Wh from OCPP meter values (1.6 or
    2.0.1 shapes, snake_case as the library hands them over), or None when there is none."""
    newest: tuple[str, int] | None = None
    for meter_value in meter_values or ():
        stamp = str(meter_value.get("timestamp", ""))
        for sample in meter_value.get("sampled_value") or ():
            if sample.get("measurand", ENERGY_REGISTER) != ENERGY_REGISTER or sample.get("phase"):
                continue
            wh = _as_wh(sample)
            if wh is not None and (newest is None or stamp >= newest[0]):
                newest = (stamp, wh)
    return newest[1] if newest else None


def session_readings(samples: Iterable[StoredSample]) -> SessionReadings:
    """The register readings and the summed interval energy among a transaction's stored
    meter samples."""
    registers: list[Reading] = []
    interval: int | None = None
    for sampled_at, measurand, phase, unit, multiplier, value in samples:
        if phase:  # per-phase values would count the energy again
            continue
        wh = wh_of(value, unit, multiplier)
        if wh is None:
            continue
        if measurand == ENERGY_REGISTER:
            registers.append(Reading(sampled_at, wh))
        elif measurand == ENERGY_INTERVAL:
            interval = (interval or 0) + wh
    return SessionReadings(registers, interval)


def _as_wh(sample: dict[str, Any]) -> int | None:
    unit_info = sample.get("unit_of_measure") or {}
    if "value" not in sample:
        return None
    return wh_of(
        sample["value"], unit_info.get("unit") or sample.get("unit"), unit_info.get("multiplier")
    )


def wh_of(value: Any, unit: str | None, multiplier: Any) -> int | None:
    """An energy reading in whole Wh: Wh or kWh (OCPP's default unit is Wh), times 10^multiplier
    (2.0.1). None when it is no energy reading, or beyond `READING_MAX`."""
    unit = unit or "Wh"
    if unit not in ("Wh", "kWh"):
        return None
    try:
        exact = Decimal(str(value)) * (Decimal(10) ** int(multiplier or 0))
        if unit == "kWh":
            exact *= 1000
        if not abs(exact) <= READING_MAX:  # compared first: a huge Decimal is slow to convert
            return None
        return int(exact.to_integral_value())
    except (ArithmeticError, ValueError, TypeError):  # no number, NaN, overflow
        return None


def sample_rows(
    charger_id: str,
    evse_id: int,
    connector_id: int,
    transaction_id: str | None,
    meter_values: list[dict[str, Any]] | None,
    parse_time: Callable[[Any, str], datetime],
    field: str = "meterValue",
) -> list[dict[str, Any]]:
    """Rows for meter_samples from OCPP meter values of either version (snake_case dicts);
    `parse_time(timestamp, name)` reads each timestamp, `field` names them in its errors."""
    rows = []
    name = f"{field}.timestamp"
    for meter_value in meter_values or ():
        at = parse_time(meter_value.get("timestamp"), name)
        for sample in meter_value.get("sampled_value") or ():
            unit_info = sample.get("unit_of_measure") or {}
            unit = unit_info.get("unit") or sample.get("unit")
            multiplier = unit_info.get("multiplier")
            rows.append(
                {
                    "charger_id": charger_id,
                    "evse_id": evse_id,
                    "connector_id": connector_id,
                    "transaction_id": transaction_id,
                    "sampled_at": at,
                    "measurand": sample.get("measurand", ENERGY_REGISTER),
                    "phase": sample.get("phase"),
                    "unit": unit,
                    "multiplier": multiplier,
                    "context": sample.get("context"),
                    "location": sample.get("location"),
                    "value": str(sample.get("value"))[:32],
                }
            )
    return rows
