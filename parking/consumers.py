"""Events parking reacts to: what csms says of chargers and sessions, kept for the EV bays' live
view (`GET /lots/{id}/status/ev`). Each is applied once through the inbox.

Events of different types may arrive in any order (NATS delivers each type on its own stream),
so every write is an upsert that keeps the newest: a status older than the one kept changes
nothing, a close that overtook its start is completed by the start, not undone by it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite

from chargepark.clock import as_utc
from chargepark.db.tables import KernelTables
from chargepark.db.uow import UnitOfWork
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from parking.store import charging_sessions, connector_status, energy_readings


def build_consumer(uow: Callable[[], UnitOfWork], tables: KernelTables) -> Consumer[UnitOfWork]:
    return Consumer(
        "parking",
        uow,
        tables.inbox,
        tables.dead_letters,
        {
            "ChargerStatusChanged": charger_status_changed,
            "ChargingSessionStarted": session_started,
            "ChargingSessionClosed": session_closed,
            "MeterTelemetry": meter_telemetry,
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


async def charger_status_changed(event: dict[str, Any], unit: UnitOfWork) -> None:
    # One status per EVSE (= the bay's connector_id); evse 0 is the whole charger.
    insert = _insert(unit, connector_status)
    row = {
        "charger_id": event["charger_id"],
        "evse_id": event["evse_id"],
        "status": event["status"],
        "error_code": event.get("error_code"),
        "status_at": _time(event["ts"]),
    }
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["charger_id", "evse_id"],
        set_={k: insert.excluded[k] for k in ("status", "error_code", "status_at")},
        where=insert.excluded.status_at > connector_status.c.status_at,
    )
    await unit.session.execute(statement)


async def session_started(event: dict[str, Any], unit: UnitOfWork) -> None:
    insert = _insert(unit, charging_sessions)
    row = {
        "session_id": event["session_id"],
        "charger_id": event["charger_id"],
        "evse_id": event["evse_id"],
        "started_at": _time(event["started_at"]),
        "meter_start_wh": event.get("meter_start_wh"),
        "regnum": event.get("regnum"),
    }
    # Leaves ended_at alone: a close that arrived first stays closed.
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["session_id"],
        set_={k: insert.excluded[k] for k in ("started_at", "meter_start_wh", "regnum")},
    )
    await unit.session.execute(statement)


async def session_closed(event: dict[str, Any], unit: UnitOfWork) -> None:
    insert = _insert(unit, charging_sessions)
    row = {
        "session_id": event["session_id"],
        "charger_id": event["charger_id"],
        "evse_id": event["evse_id"],
        "started_at": _time(event["started_at"]),
        "regnum": event.get("regnum"),
        "ended_at": _time(event["ended_at"]),
        "energy_wh": event["energy_wh"],
        "kwh": event["kwh"],
    }
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["session_id"],
        set_={k: insert.excluded[k] for k in ("ended_at", "energy_wh", "kwh")},
    )
    await unit.session.execute(statement)


async def meter_telemetry(event: dict[str, Any], unit: UnitOfWork) -> None:
    newest: dict[tuple[str, int], dict[str, Any]] = {}
    for reading in event["readings"]:
        if reading.get("energy_wh") is None:
            continue
        key = (reading["charger_id"], reading["evse_id"])
        at = _time(reading["last_at"])
        if key not in newest or at > newest[key]["read_at"]:
            newest[key] = {
                "charger_id": key[0],
                "evse_id": key[1],
                "energy_wh": reading["energy_wh"],
                "read_at": at,
            }
    if not newest:
        return
    insert = _insert(unit, energy_readings)
    statement = insert.on_conflict_do_update(
        index_elements=["charger_id", "evse_id"],
        set_={k: insert.excluded[k] for k in ("energy_wh", "read_at")},
        where=insert.excluded.read_at > energy_readings.c.read_at,
    )
    await unit.session.execute(statement, list(newest.values()))


def _insert(unit: UnitOfWork, table: Any) -> Any:
    return (postgresql if unit.db.dialect == "postgresql" else sqlite).insert(table)


def _time(raw: str) -> datetime:
    return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
