"""Meter telemetry for ops: each batch of stored meter samples, summarized per connector into
MeterTelemetry events (not one event per sample), written to the outbox in the same
transaction as the samples, so ops sees exactly what was stored."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table

from chargepark.clock import Clock, isoformat_utc
from chargepark.db.uow import outbox_row
from chargepark.events.envelope import DomainEvent, envelope_of
from csms.domain.sessions import ENERGY_REGISTER, READING_MAX
from csms.ocpp.readings import wh_of

POWER = "Power.Active.Import"
READINGS_PER_EVENT = 500  # the schema's bound: an event stays well under a bus message's limit


@dataclass(frozen=True)
class MeterTelemetry(DomainEvent):
    name = "MeterTelemetry"
    readings: list[dict[str, Any]]
    ts: datetime


class TelemetryOutbox:
    """Given to the meter samples' group-commit writer: `rows_for` gives each batch's outbox
    rows, written in the batch's own transaction (one statement with the samples on
    PostgreSQL), `committed` runs after it (wakes the outbox relay)."""

    def __init__(self, outbox: Table, clock: Clock, notify: Callable[[], None]) -> None:
        self.table = outbox
        self.clock = clock
        self.notify = notify

    def rows_for(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        now = self.clock.now()
        # Not validated per batch, unlike events through a unit of work: the shape is fixed
        # here and checked against the schema by the tests; the hot path keeps the time.
        return [outbox_row(envelope_of(e), now) for e in telemetry_events(rows, now)]

    def committed(self) -> None:
        self.notify()


class _Summary:
    __slots__ = ("energy", "first", "last", "power", "samples")

    def __init__(self, at: datetime) -> None:
        self.samples = 0
        self.first = self.last = at
        self.energy: tuple[datetime, Mapping[str, Any]] | None = None
        self.power: tuple[datetime, Mapping[str, Any]] | None = None


def telemetry_events(rows: Iterable[Mapping[str, Any]], now: datetime) -> list[MeterTelemetry]:
    """Summaries of meter_samples rows per (charger, EVSE, connector, transaction): how many
    samples, their time span, and the newest whole-meter energy register and power."""
    by_key: dict[tuple[str, int, int, str | None], _Summary] = {}
    for row in rows:
        at = row["sampled_at"]
        key = (row["charger_id"], row["evse_id"], row["connector_id"], row["transaction_id"])
        summary = by_key.get(key)
        if summary is None:
            summary = by_key[key] = _Summary(at)
        summary.samples += 1
        # Comparisons only, no min()/max() calls: this loop sees every sample of the batch.
        if at < summary.first:
            summary.first = at
        elif at > summary.last:
            summary.last = at
        if row["phase"]:
            continue  # per-phase values are detail; the whole-meter value is the telemetry
        measurand = row["measurand"]
        # Only the newest of each is parsed, below: most rows cost a comparison.
        if measurand == ENERGY_REGISTER and (summary.energy is None or at >= summary.energy[0]):
            summary.energy = (at, row)
        elif measurand == POWER and (summary.power is None or at >= summary.power[0]):
            summary.power = (at, row)
    readings = [
        {
            "charger_id": charger_id,
            "evse_id": evse_id,
            "connector_id": connector_id,
            "transaction_id": transaction_id,
            "samples": s.samples,
            "first_at": isoformat_utc(s.first),
            "last_at": isoformat_utc(s.last),
            "energy_wh": _energy(s.energy[1]) if s.energy else None,
            "power_w": _power(s.power[1]) if s.power else None,
        }
        for (charger_id, evse_id, connector_id, transaction_id), s in by_key.items()
    ]
    return [
        MeterTelemetry(readings[i : i + READINGS_PER_EVENT], now)
        for i in range(0, len(readings), READINGS_PER_EVENT)
    ]


def _energy(row: Mapping[str, Any]) -> int | None:
    wh = wh_of(row["value"], row["unit"], row["multiplier"])
    return wh if wh is not None and wh >= 0 else None


def _power(row: Mapping[str, Any]) -> float | None:
    try:
        value = Decimal(str(row["value"])) * (Decimal(10) ** int(row["multiplier"] or 0))
        unit = row["unit"] or "W"
        if unit == "kW":
            value *= 1000
        elif unit != "W":
            return None
        return float(value) if abs(value) <= READING_MAX else None
    except (ArithmeticError, ValueError, TypeError):  # no number, NaN, overflow
        return None
