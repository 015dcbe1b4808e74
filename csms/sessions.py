"""Charging sessions (OCPP transactions): the version-free rules. Pure; times passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

from chargepark.events.envelope import DomainEvent

ENERGY_REGISTER = "Energy.Active.Import.Register"
ENERGY_INTERVAL = "Energy.Active.Import.Interval"
_SEQ_MISSING_MAX = 200  # characters kept of the list of missing seqNos


@dataclass(frozen=True)
class ChargingSessionStarted(DomainEvent):
    name = "ChargingSessionStarted"
    session_id: str
    charger_id: str
    evse_id: int
    connector_id: int
    id_token: str | None
    customer_id: str | None
    regnum: str | None
    tariff_id: str | None
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
    regnum: str | None
    tariff_id: str | None
    started_at: datetime
    ended_at: datetime
    duration_sec: int
    energy_wh: int
    kwh: Decimal
    reason: str | None
    ts: datetime


@dataclass(frozen=True)
class Energy:
    """A session's energy and how it was worked out."""

    wh: int
    source: str  # registers | samples | intervals | none
    anomalies: int  # readings lower than the one before (a meter reset, swap or misread)


@dataclass(frozen=True)
class Reading:
    at: datetime
    wh: int


@dataclass
class Session:
    id: str
    charger_id: str
    transaction_id: str | None
    evse_id: int
    connector_id: int
    started_at: datetime
    status: str = "active"  # pending (remote start asked) | active | closed | failed
    id_token: str | None = None
    customer_id: str | None = None
    start_key: str | None = None
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    ended_at: datetime | None = None
    stop_reason: str | None = None
    last_seq_no: int | None = None
    regnum: str | None = None
    tariff_id: str | None = None
    remote_start_id: int | None = None
    requested_at: datetime | None = None
    auth_status: str | None = None
    seq_missing: str | None = None
    offline_events: int = 0
    meter_anomalies: int = 0
    energy_wh: int | None = None
    energy_source: str | None = None

    def started(self) -> ChargingSessionStarted:
        return ChargingSessionStarted(
            self.id,
            self.charger_id,
            self.evse_id,
            self.connector_id,
            self.id_token,
            self.customer_id,
            self.regnum,
            self.tariff_id,
            self.started_at,
            self.meter_start_wh,
            self.started_at,
        )

    def close(
        self,
        meter_stop_wh: int | None,
        at: datetime,
        reason: str | None,
        readings: list[Reading] = (),  # type: ignore[assignment]
        interval_wh: int | None = None,
    ) -> ChargingSessionClosed | None:
        """End the session once; a retransmitted stop changes nothing and emits nothing.

        `readings` are the session's energy register samples and `interval_wh` its summed
        interval samples, used when the start/stop registers cannot give the energy."""
        if self.status == "closed":
            return None
        self.status, self.ended_at, self.stop_reason = "closed", max(at, self.started_at), reason
        if meter_stop_wh is not None:
            self.meter_stop_wh = meter_stop_wh
        energy = measure_energy(self.meter_start_wh, self.meter_stop_wh, readings, interval_wh)
        self.energy_wh, self.energy_source = energy.wh, energy.source
        self.meter_anomalies = energy.anomalies
        return ChargingSessionClosed(
            self.id,
            self.charger_id,
            self.evse_id,
            self.connector_id,
            self.id_token,
            self.customer_id,
            self.regnum,
            self.tariff_id,
            self.started_at,
            self.ended_at,
            int((self.ended_at - self.started_at).total_seconds()),
            energy.wh,
            (Decimal(energy.wh) / 1000).quantize(Decimal("0.001")),
            reason,
            self.ended_at,
        )

    @property
    def kwh(self) -> Decimal | None:
        if self.energy_wh is None:
            return None
        return (Decimal(self.energy_wh) / 1000).quantize(Decimal("0.001"))

    def accept_seq_no(self, seq_no: int | None) -> None:
        """Track TransactionEvent seqNos: a jump leaves holes, a late (replayed) event fills
        its hole. What is still missing when the transaction ends is reported."""
        if seq_no is None:
            return
        missing = set(self.missing_seq_nos)
        if self.last_seq_no is None or seq_no > self.last_seq_no:
            if self.last_seq_no is not None:
                missing.update(range(self.last_seq_no + 1, seq_no))
            self.last_seq_no = seq_no
        else:
            missing.discard(seq_no)
        self.seq_missing = _seq_list(sorted(missing))

    @property
    def missing_seq_nos(self) -> list[int]:
        return [int(n) for n in self.seq_missing.split(",") if n] if self.seq_missing else []


def _seq_list(numbers: list[int]) -> str | None:
    if not numbers:
        return None
    text = ",".join(map(str, numbers))
    if len(text) <= _SEQ_MISSING_MAX:
        return text
    return text[: text.rindex(",", 0, _SEQ_MISSING_MAX)]  # the oldest holes, whole numbers


def measure_energy(
    start_wh: int | None,
    stop_wh: int | None,
    readings: list[Reading] | tuple[Reading, ...] = (),
    interval_wh: int | None = None,
) -> Energy:
    """kWh = stop register - start register, when both are there and the stop is not below the
    start. Otherwise the register readings in time order, start and stop included, counted as
    the sum of their rises: a meter that reset or was swapped mid-session counts again from its
    new value, never negative. Without two readings, the summed interval samples; else none."""
    series = [r.wh for r in sorted(readings, key=lambda r: r.at)]
    if start_wh is not None:
        series.insert(0, start_wh)
    if stop_wh is not None:
        series.append(stop_wh)
    anomalies = sum(1 for a, b in pairwise(series) if b < a)
    if start_wh is not None and stop_wh is not None and stop_wh >= start_wh:
        return Energy(stop_wh - start_wh, "registers", anomalies)
    if len(series) >= 2:
        rises = sum(b - a for a, b in pairwise(series) if b > a)
        return Energy(rises, "samples", anomalies)
    if interval_wh is not None:
        return Energy(max(0, interval_wh), "intervals", anomalies)
    return Energy(0, "none", anomalies)


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


def session_energy_samples(rows: Any) -> tuple[list[Reading], int | None]:
    """The register readings and the summed interval energy among a transaction's stored
    meter samples (rows with sampled_at, measurand, phase, unit, multiplier, value)."""
    readings: list[Reading] = []
    interval: int | None = None
    for row in rows:
        if row.phase:  # per-phase values would count the energy again
            continue
        wh = wh_of(row.value, row.unit, row.multiplier)
        if wh is None:
            continue
        if row.measurand == ENERGY_REGISTER:
            readings.append(Reading(row.sampled_at, wh))
        elif row.measurand == ENERGY_INTERVAL:
            interval = (interval or 0) + wh
    return readings, interval


def _as_wh(sample: dict[str, Any]) -> int | None:
    unit_info = sample.get("unit_of_measure") or {}
    if "value" not in sample:
        return None
    return wh_of(
        sample["value"], unit_info.get("unit") or sample.get("unit"), unit_info.get("multiplier")
    )


def wh_of(value: Any, unit: str | None, multiplier: Any) -> int | None:
    """An energy reading in whole Wh: Wh or kWh (OCPP's default unit is Wh), times 10^multiplier
    (2.0.1). None when it is no energy reading."""
    try:
        exact = Decimal(str(value)) * (Decimal(10) ** int(multiplier or 0))
    except (ArithmeticError, ValueError, TypeError):
        return None
    unit = unit or "Wh"
    if unit == "kWh":
        exact *= 1000
    elif unit != "Wh":
        return None
    try:
        return int(exact.to_integral_value())
    except (ArithmeticError, ValueError):  # NaN, Infinity
        return None


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
