"""Events parking reacts to: what csms says of chargers and sessions, kept for the EV bays' live
view (`GET /lots/{id}/status/ev`). Each is applied once through the inbox.

Events of different types may arrive in any order (NATS delivers each type on its own stream),
so every write keeps the newest (parking/ports.py ChargerView; SQL in parking/charger_view.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from chargepark.clock import parse_utc
from chargepark.db.tables import KernelTables
from chargepark.db.uow import UnitOfWork
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from parking.charger_view import SqlChargerView
from parking.ports import (
    ChargerStatus,
    ChargerView,
    EnergyReading,
    SessionClosed,
    SessionStarted,
)

Handler = Callable[[dict[str, Any], ChargerView], Awaitable[None]]


def build_consumer(
    uow: Callable[[], UnitOfWork],
    tables: KernelTables,
    view_of: Callable[[UnitOfWork], ChargerView] = SqlChargerView,
) -> Consumer[UnitOfWork]:
    """Parking's consumer: each handler keeps the live view, on the inbox's unit of work."""

    def on(handler: Handler) -> Callable[[dict[str, Any], UnitOfWork], Awaitable[None]]:
        async def handle(event: dict[str, Any], unit: UnitOfWork) -> None:
            await handler(event, view_of(unit))

        return handle

    return Consumer(
        "parking",
        uow,
        tables.inbox,
        tables.dead_letters,
        {
            "ChargerStatusChanged": on(charger_status_changed),
            "ChargingSessionStarted": on(session_started),
            "ChargingSessionClosed": on(session_closed),
            "MeterTelemetry": on(meter_telemetry),
        },
        reads=READS,
        retries=tables.event_retries,
    )


# What parking reads of each event (tests/contract checks it against the producers).
READS = {
    "ChargerStatusChanged": reads(["charger_id", "evse_id", "status"], ["error_code"]),
    "ChargingSessionStarted": reads(
        ["session_id", "charger_id", "evse_id", "started_at"], ["meter_start_wh", "regnum"]
    ),
    "ChargingSessionClosed": reads(
        ["session_id", "charger_id", "evse_id", "started_at", "ended_at", "energy_wh", "kwh"],
        ["regnum"],
    ),
    "MeterTelemetry": reads(["readings"]),
}


async def charger_status_changed(event: dict[str, Any], view: ChargerView) -> None:
    # One status per EVSE (= the bay's connector_id); evse 0 is the whole charger.
    await view.status_changed(
        ChargerStatus(
            charger_id=event["charger_id"],
            evse_id=event["evse_id"],
            status=event["status"],
            error_code=event.get("error_code"),
            at=parse_utc(event["ts"]),
        )
    )


async def session_started(event: dict[str, Any], view: ChargerView) -> None:
    await view.session_started(
        SessionStarted(
            session_id=event["session_id"],
            charger_id=event["charger_id"],
            evse_id=event["evse_id"],
            started_at=parse_utc(event["started_at"]),
            meter_start_wh=event.get("meter_start_wh"),
            regnum=event.get("regnum"),
        )
    )


async def session_closed(event: dict[str, Any], view: ChargerView) -> None:
    await view.session_closed(
        SessionClosed(
            session_id=event["session_id"],
            charger_id=event["charger_id"],
            evse_id=event["evse_id"],
            started_at=parse_utc(event["started_at"]),
            regnum=event.get("regnum"),
            ended_at=parse_utc(event["ended_at"]),
            energy_wh=event["energy_wh"],
            kwh=event["kwh"],
        )
    )


async def meter_telemetry(event: dict[str, Any], view: ChargerView) -> None:
    newest: dict[tuple[str, int], EnergyReading] = {}
    for reading in event["readings"]:
        if reading.get("energy_wh") is None:
            continue
        key = (reading["charger_id"], reading["evse_id"])
        at = parse_utc(reading["last_at"])
        if key not in newest or at > newest[key].read_at:
            newest[key] = EnergyReading(key[0], key[1], reading["energy_wh"], at)
    if newest:
        await view.energy_read(list(newest.values()))
