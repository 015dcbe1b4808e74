"""Ingestion: every platform event ops reads, applied once through the inbox.

Events of different types may arrive in any order and late (NATS delivers each type on its own
stream; a service's outbox may hold them while the bus is down), so every write is keyed by what
the event is about and by its event time: both halves of a stay meet on one row, a session's
close may come before its start, a paid invoice before its issue, and the newest status wins.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.clock import as_utc
from chargepark.db.tables import KernelTables
from chargepark.db.uow import UnitOfWork
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from ops.store import (
    chargers,
    connectors,
    invoices,
    meter_readings,
    sessions,
    status_changes,
    stays,
    totals,
)


def build_consumer(uow: Callable[[], UnitOfWork], tables: KernelTables) -> Consumer[UnitOfWork]:
    return Consumer(
        "ops",
        uow,
        tables.inbox,
        tables.dead_letters,
        {
            "VehicleParked": vehicle_parked,
            "VehicleLeft": vehicle_left,
            "ChargerStatusChanged": charger_status_changed,
            "ChargingSessionStarted": session_started,
            "ChargingSessionClosed": session_closed,
            "MeterTelemetry": meter_telemetry,
            "InvoiceIssued": invoice_issued,
            "InvoicePaid": invoice_paid,
        },
        reads=READS,
        retries=tables.event_retries,
    )


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
}


def _stay_row(event: dict[str, Any], arrived_at: datetime) -> dict[str, Any]:
    return {
        "lot_id": event["lot_id"],
        "slot_ui": event["slot_ui"],
        "arrived_at": arrived_at,
        "level": event["level"],
        "regnum": event["regnum"],
        "ev_bay": event.get("charger_id") is not None,
        "charger_id": event.get("charger_id"),
        "connector_id": event.get("connector_id"),
    }


async def vehicle_parked(event: dict[str, Any], unit: UnitOfWork) -> None:
    insert = _insert(unit, stays)
    row = _stay_row(event, _time(event["ts"]))
    # A leave that came first made the row already: only fill in what the park knows.
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["lot_id", "slot_ui", "arrived_at"],
        set_={k: insert.excluded[k] for k in ("level", "regnum", "ev_bay")},
    )
    await unit.session.execute(statement)


async def vehicle_left(event: dict[str, Any], unit: UnitOfWork) -> None:
    insert = _insert(unit, stays)
    row = _stay_row(event, _time(event["arrived_at"])) | {"left_at": _time(event["ts"])}
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["lot_id", "slot_ui", "arrived_at"],
        set_={"left_at": insert.excluded.left_at},
    )
    await unit.session.execute(statement)


async def charger_status_changed(event: dict[str, Any], unit: UnitOfWork) -> None:
    at = _time(event["ts"])
    row = {
        "charger_id": event["charger_id"],
        "evse_id": event["evse_id"],
        "connector_id": event["connector_id"],
        "status": event["status"],
        "error_code": event.get("error_code"),
    }
    await unit.session.execute(status_changes.insert().values(row | {"ts": at}))
    insert = _insert(unit, connectors)
    statement = insert.values(row | {"status_at": at}).on_conflict_do_update(
        index_elements=["charger_id", "evse_id"],
        set_={k: insert.excluded[k] for k in ("connector_id", "status", "error_code", "status_at")},
        where=insert.excluded.status_at > connectors.c.status_at,
    )
    await unit.session.execute(statement)
    await _seen(unit, {event["charger_id"]: at})


async def session_started(event: dict[str, Any], unit: UnitOfWork) -> None:
    insert = _insert(unit, sessions)
    row = {
        "session_id": event["session_id"],
        "charger_id": event["charger_id"],
        "evse_id": event["evse_id"],
        "connector_id": event["connector_id"],
        "started_at": _time(event["started_at"]),
        "meter_start_wh": event.get("meter_start_wh"),
    }
    # Leaves ended_at and energy_wh alone: a close that came first stays closed.
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["session_id"],
        set_={k: insert.excluded[k] for k in ("started_at", "meter_start_wh")},
    )
    await unit.session.execute(statement)
    await _session_readings(unit, event["session_id"])
    await _seen(unit, {event["charger_id"]: _time(event["ts"])})


async def session_closed(event: dict[str, Any], unit: UnitOfWork) -> None:
    insert = _insert(unit, sessions)
    row = {
        "session_id": event["session_id"],
        "charger_id": event["charger_id"],
        "evse_id": event["evse_id"],
        "connector_id": event["connector_id"],
        "started_at": _time(event["started_at"]),
        "ended_at": _time(event["ended_at"]),
        "energy_wh": event["energy_wh"],
    }
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["session_id"],
        set_={k: insert.excluded[k] for k in ("ended_at", "energy_wh")},
    )
    await unit.session.execute(statement)
    await _session_readings(unit, event["session_id"])
    await _seen(unit, {event["charger_id"]: _time(event["ts"])})


async def _session_readings(unit: UnitOfWork, session_id: str) -> None:
    """A session's start and stop registers are meter readings too: energy is counted for
    chargers that send no meter values during the session."""
    query = select(sessions).where(sessions.c.session_id == session_id)
    s = (await unit.session.execute(query)).one()
    if s.meter_start_wh is None:
        return
    rows = [(as_utc(s.started_at), s.meter_start_wh)]
    if s.ended_at is not None and s.energy_wh is not None:
        rows.append((as_utc(s.ended_at), s.meter_start_wh + s.energy_wh))
    await _readings(
        unit,
        [
            {"charger_id": s.charger_id, "evse_id": s.evse_id, "read_at": at, "energy_wh": wh}
            for at, wh in rows
        ],
    )


async def meter_telemetry(event: dict[str, Any], unit: UnitOfWork) -> None:
    rows = []
    seen: dict[str, datetime] = {}
    for reading in event["readings"]:
        at = _time(reading["last_at"])
        charger_id = reading["charger_id"]
        seen[charger_id] = max(at, seen.get(charger_id, at))
        if reading.get("energy_wh") is not None:
            rows.append(
                {
                    "charger_id": charger_id,
                    "evse_id": reading["evse_id"],
                    "read_at": at,
                    "energy_wh": reading["energy_wh"],
                }
            )
    await _readings(unit, rows)
    await _seen(unit, seen)


async def _readings(unit: UnitOfWork, rows: list[dict[str, Any]]) -> None:
    unique = list({(r["charger_id"], r["evse_id"], r["read_at"]): r for r in rows}.values())
    if unique:
        statement = _insert(unit, meter_readings).on_conflict_do_nothing()
        await unit.session.execute(statement, unique)


async def _seen(unit: UnitOfWork, seen: dict[str, datetime]) -> None:
    if not seen:
        return
    insert = _insert(unit, chargers)
    statement = insert.on_conflict_do_update(
        index_elements=["charger_id"],
        set_={"last_seen": insert.excluded.last_seen},
        where=insert.excluded.last_seen > chargers.c.last_seen,
    )
    await unit.session.execute(
        statement, [{"charger_id": k, "last_seen": v} for k, v in sorted(seen.items())]
    )


async def invoice_issued(event: dict[str, Any], unit: UnitOfWork) -> None:
    await _invoice_state(unit, event, "issued", amount=event["total_minor"])


async def invoice_paid(event: dict[str, Any], unit: UnitOfWork) -> None:
    await _invoice_state(unit, event, "paid", amount=event["amount_minor"])


# An invoice's columns per state: its amount, its time (the event's), and the running totals it
# adds to the first time that state is seen (a repeat, or an older event, adds nothing).
_INVOICE_STATE = {
    "issued": ("total_minor", "issued_at", "invoices_issued", "issued_minor"),
    "paid": ("amount_paid_minor", "paid_at", "invoices_paid", "paid_minor"),
}


async def _invoice_state(
    unit: UnitOfWork, event: dict[str, Any], state: str, *, amount: int
) -> None:
    amount_column, at_column, count_total, amount_total = _INVOICE_STATE[state]
    before = await _invoice(unit, event["invoice_id"])
    insert = _insert(unit, invoices)
    row = {
        "invoice_id": event["invoice_id"],
        "currency": event["currency"],
        amount_column: amount,
        at_column: _time(event["ts"]),
    }
    statement = insert.values(row).on_conflict_do_update(
        index_elements=["invoice_id"],
        set_={k: insert.excluded[k] for k in (amount_column, at_column)},
    )
    await unit.session.execute(statement)
    if before is None or getattr(before, at_column) is None:
        await _add(unit, count_total, "", 1)
        await _add(unit, amount_total, event["currency"], amount)


async def _invoice(unit: UnitOfWork, invoice_id: str) -> Any:
    query = select(invoices).where(invoices.c.invoice_id == invoice_id)
    return (await unit.session.execute(query)).first()


async def _add(unit: UnitOfWork, name: str, currency: str, value: int) -> None:
    insert = _insert(unit, totals)
    statement = insert.values(name=name, currency=currency, value=value).on_conflict_do_update(
        index_elements=["name", "currency"],
        set_={"value": totals.c.value + insert.excluded.value},
    )
    await unit.session.execute(statement)


def _insert(unit: UnitOfWork, table: Any) -> Any:
    return (postgresql if unit.db.dialect == "postgresql" else sqlite).insert(table)


def _time(raw: str) -> datetime:
    return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
