"""Charging sessions (OCPP transactions): the version-free rules. Pure; times passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chargepark.events.envelope import DomainEvent

ENERGY_REGISTER = "Energy.Active.Import.Register"


@dataclass(frozen=True)
class ChargingSessionStarted(DomainEvent):
    name = "ChargingSessionStarted"
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    customer_id: str | None
    started_at: datetime
    meter_start_wh: int | None
    ts: datetime


@dataclass(frozen=True)
class ChargingSessionClosed(DomainEvent):
    name = "ChargingSessionClosed"
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    customer_id: str | None
    started_at: datetime
    ended_at: datetime
    duration_sec: int
    energy_wh: int
    kwh: Decimal
    reason: str | None
    ts: datetime


@dataclass
class Session:
    id: str
    charger_id: str
    transaction_id: str
    evse_id: int
    connector_id: int
    started_at: datetime
    status: str = "active"
    id_token: str | None = None
    customer_id: str | None = None
    start_key: str | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    ended_at: datetime | None = None
    stop_reason: str | None = None
    last_seq_no: int | None = None

    def started(self) -> ChargingSessionStarted:
        return ChargingSessionStarted(
            self.id,
            self.charger_id,
            self.evse_id,
            self.connector_id,
            self.id_token,
            self.customer_id,
            self.started_at,
            self.meter_start_wh,
            self.started_at,
        )

    def close(
        self, meter_stop_wh: int | None, at: datetime, reason: str | None
    ) -> ChargingSessionClosed | None:
        """End the session once; a retransmitted stop changes nothing and emits nothing."""
        if self.status == "closed":
            return None
        self.status, self.ended_at, self.stop_reason = "closed", max(at, self.started_at), reason
        if meter_stop_wh is not None:
            self.meter_stop_wh = meter_stop_wh
        energy = self.energy_wh
        return ChargingSessionClosed(
            self.id,
            self.charger_id,
            self.evse_id,
            self.connector_id,
            self.id_token,
            self.customer_id,
            self.started_at,
            self.ended_at,
            int((self.ended_at - self.started_at).total_seconds()),
            energy,
            (Decimal(energy) / 1000).quantize(Decimal("0.001")),
            reason,
            self.ended_at,
        )

    @property
    def energy_wh(self) -> int:
        """kWh = stop register - start register; a register that went backwards (a meter
        swapped or reset mid-session) counts as no energy rather than negative energy."""
        if self.meter_start_wh is None or self.meter_stop_wh is None:
            return 0
        return max(0, self.meter_stop_wh - self.meter_start_wh)

    def accept_seq_no(self, seq_no: int | None) -> None:
        if seq_no is not None and (self.last_seq_no is None or seq_no > self.last_seq_no):
            self.last_seq_no = seq_no


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


def _as_wh(sample: dict[str, Any]) -> int | None:
    unit_info = sample.get("unit_of_measure") or {}
    unit = unit_info.get("unit") or sample.get("unit") or "Wh"
    multiplier = int(unit_info.get("multiplier", 0) or 0)
    try:
        value = Decimal(str(sample["value"])) * (Decimal(10) ** multiplier)
    except (ArithmeticError, KeyError, ValueError):
        return None
    if unit == "kWh":
        value *= 1000
    elif unit != "Wh":
        return None
    return int(value.to_integral_value())


def sample_rows(
    charger_id: str,
    evse_id: int,
    connector_id: int,
    transaction_id: str | None,
    meter_values: list[dict[str, Any]] | None,
    parse_time: Any,
) -> list[dict[str, Any]]:
    """Rows for meter_samples from OCPP meter values of either version (snake_case dicts)."""
    rows = []
    for meter_value in meter_values or ():
        at = parse_time(meter_value.get("timestamp"))
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
