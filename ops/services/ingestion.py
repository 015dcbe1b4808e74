"""Ingestion: every platform event ops reads, applied once through the inbox.

Events of different types may arrive in any order and late (NATS delivers each type on its own
stream; a service's outbox may hold them while the bus is down), so every write is keyed by what
the event is about and by its event time: both halves of a stay meet on one record, a session's
close may come before its start, a paid invoice before its issue, and the newest status wins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from chargepark.clock import parse_utc
from chargepark.events.contracts import reads
from ops.domain.energy import ChargerLoad, Refusal, SiteLoad
from ops.domain.facts import (
    Reading,
    SessionFact,
    StatusFact,
    StayFact,
    session_readings,
    unique_readings,
)
from ops.ports import FactStore, OpsUnitOfWork

Event = dict[str, Any]

_STAY = ["lot_id", "level", "slot_ui", "regnum"]
_SESSION = ["session_id", "charger_id", "evse_id", "connector_id", "started_at"]
# What ops reads of each event (tests/contract checks it against the producers).
READS = {
    "VehicleParked": reads(_STAY, ["charger_id", "connector_id"]),
    "VehicleLeft": reads([*_STAY, "arrived_at"], ["charger_id", "connector_id"]),
    "ChargerStatusChanged": reads(
        ["charger_id", "evse_id", "connector_id", "status"], ["error_code"]
    ),
    "ChargingSessionStarted": reads(_SESSION, ["meter_start_wh"]),
    "ChargingSessionClosed": reads([*_SESSION, "ended_at", "energy_wh"]),
    "MeterTelemetry": reads(["readings"]),
    "InvoiceIssued": reads(["invoice_id", "currency", "total_minor"]),
    "InvoicePaid": reads(["invoice_id", "currency", "amount_minor"]),
    "SiteLoadReported": reads(
        [
            "site_id",
            "phases",
            "voltage",
            "limit_amps",
            "other_load_amps",
            "allocated_amps",
            "drawn_amps",
            "chargers",
        ]
    ),
    "SmartChargingRefused": reads(["site_id", "charger_id", "reason"]),
}


def _stay(event: Event, arrived_at: datetime, left_at: datetime | None = None) -> StayFact:
    return StayFact(
        lot_id=event["lot_id"],
        slot_ui=event["slot_ui"],
        arrived_at=arrived_at,
        level=event["level"],
        regnum=event["regnum"],
        charger_id=event.get("charger_id"),
        connector_id=event.get("connector_id"),
        left_at=left_at,
    )


async def vehicle_parked(event: Event, unit: OpsUnitOfWork) -> None:
    await unit.facts.stay_arrived(_stay(event, parse_utc(event["ts"])))


async def vehicle_left(event: Event, unit: OpsUnitOfWork) -> None:
    stay = _stay(event, parse_utc(event["arrived_at"]), parse_utc(event["ts"]))
    await unit.facts.stay_left(stay)


async def charger_status_changed(event: Event, unit: OpsUnitOfWork) -> None:
    at = parse_utc(event["ts"])
    change = StatusFact(
        charger_id=event["charger_id"],
        evse_id=event["evse_id"],
        connector_id=event["connector_id"],
        status=event["status"],
        error_code=event.get("error_code"),
        at=at,
    )
    await unit.facts.status_changed(change)
    await unit.facts.seen({event["charger_id"]: at})


def _session(event: Event, **more: Any) -> SessionFact:
    return SessionFact(
        session_id=event["session_id"],
        charger_id=event["charger_id"],
        evse_id=event["evse_id"],
        connector_id=event["connector_id"],
        started_at=parse_utc(event["started_at"]),
        **more,
    )


async def session_started(event: Event, unit: OpsUnitOfWork) -> None:
    await unit.facts.session_started(_session(event, meter_start_wh=event.get("meter_start_wh")))
    await _session_readings(unit.facts, event)


async def session_closed(event: Event, unit: OpsUnitOfWork) -> None:
    session = _session(event, ended_at=parse_utc(event["ended_at"]), energy_wh=event["energy_wh"])
    await unit.facts.session_closed(session)
    await _session_readings(unit.facts, event)


async def _session_readings(facts: FactStore, event: Event) -> None:
    """The session's start and stop registers, as both halves of it now stand."""
    readings = session_readings(await facts.session(event["session_id"]))
    if readings:
        await facts.add_readings(unique_readings(readings))
    await facts.seen({event["charger_id"]: parse_utc(event["ts"])})


async def meter_telemetry(event: Event, unit: OpsUnitOfWork) -> None:
    readings = []
    seen: dict[str, datetime] = {}
    for reading in event["readings"]:
        at = parse_utc(reading["last_at"])
        charger_id = reading["charger_id"]
        seen[charger_id] = max(at, seen.get(charger_id, at))
        if reading.get("energy_wh") is not None:
            readings.append(Reading(charger_id, reading["evse_id"], at, reading["energy_wh"]))
    if readings:
        await unit.facts.add_readings(unique_readings(readings))
    if seen:
        await unit.facts.seen(seen)


async def invoice_issued(event: Event, unit: OpsUnitOfWork) -> None:
    """Adds to the running totals the first time the invoice's issue is seen (a repeat, or an
    older event, adds nothing)."""
    before = await unit.facts.invoice(event["invoice_id"])
    amount = event["total_minor"]
    at = parse_utc(event["ts"])
    await unit.facts.invoice_issued(event["invoice_id"], event["currency"], amount, at)
    if before is None or before.issued_at is None:
        await unit.facts.add_total("invoices_issued", "", 1)
        await unit.facts.add_total("issued_minor", event["currency"], amount)


async def invoice_paid(event: Event, unit: OpsUnitOfWork) -> None:
    """As invoice_issued, for the payment."""
    before = await unit.facts.invoice(event["invoice_id"])
    amount = event["amount_minor"]
    at = parse_utc(event["ts"])
    await unit.facts.invoice_paid(event["invoice_id"], event["currency"], amount, at)
    if before is None or before.paid_at is None:
        await unit.facts.add_total("invoices_paid", "", 1)
        await unit.facts.add_total("paid_minor", event["currency"], amount)


def _amps(values: list[float]) -> tuple[float, float, float]:
    return (float(values[0]), float(values[1]), float(values[2]))


async def site_load_reported(event: Event, unit: OpsUnitOfWork) -> None:
    """A site's load as metric series, and its chargers' limits and draws."""
    at = parse_utc(event["ts"])
    site_id = event["site_id"]
    site = SiteLoad(
        site_id=site_id,
        at=at,
        phases=event["phases"],
        voltage=float(event["voltage"]),
        limit_amps=_amps(event["limit_amps"]),
        other_load_amps=_amps(event["other_load_amps"]),
        allocated_amps=_amps(event["allocated_amps"]),
        drawn_amps=_amps(event["drawn_amps"]),
    )
    lines = [
        ChargerLoad(
            site_id=site_id,
            charger_id=c["charger_id"],
            evse_id=c["evse_id"],
            at=at,
            limit_amps=float(c["limit_amps"]),
            drawn_amps=None if c["drawn_amps"] is None else float(c["drawn_amps"]),
            paused=bool(c["paused"]),
        )
        for c in event["chargers"]
    ]
    await unit.facts.site_load(site, lines)


async def smart_charging_refused(event: Event, unit: OpsUnitOfWork) -> None:
    refusal = Refusal(
        site_id=event["site_id"],
        charger_id=event["charger_id"],
        at=parse_utc(event["ts"]),
        reason=event["reason"],
    )
    await unit.facts.smart_charging_refused(refusal)


HANDLERS: Mapping[str, Callable[[Event, OpsUnitOfWork], Awaitable[None]]] = {
    "VehicleParked": vehicle_parked,
    "VehicleLeft": vehicle_left,
    "ChargerStatusChanged": charger_status_changed,
    "ChargingSessionStarted": session_started,
    "ChargingSessionClosed": session_closed,
    "MeterTelemetry": meter_telemetry,
    "InvoiceIssued": invoice_issued,
    "InvoicePaid": invoice_paid,
    "SiteLoadReported": site_load_reported,
    "SmartChargingRefused": smart_charging_refused,
}
