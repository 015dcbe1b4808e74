"""Events csms reacts to, each applied once through the inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.clock import Clock, as_utc
from chargepark.db.tables import KernelTables
from chargepark.events.contracts import reads
from chargepark.events.inbox import Consumer
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import bay_vehicles, sessions
from csms.services.authorization import Authorization, cache_upsert


def build_consumer(uow: Any, tables: KernelTables, clock: Clock) -> Consumer[CsmsUnitOfWork]:
    async def id_token_changed(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
        # accounts said it: a blocked card is refused from now on, without waiting for a TTL.
        expires = event.get("expires_at")
        auth = Authorization(
            event["status"],
            event["customer_id"],
            _time(expires) if expires else None,
        )
        await unit.session.execute(
            cache_upsert(unit.db.dialect, event["id_token"], auth, clock.now())
        )

    return Consumer(
        "csms",
        uow,
        tables.inbox,
        tables.dead_letters,
        {
            "IdTokenChanged": id_token_changed,
            "VehicleParked": vehicle_parked,
            "VehicleLeft": vehicle_left,
        },
        reads=READS,
        retries=tables.event_retries,
    )


# What csms reads of each event (tests/contract checks it against the producers).
READS = {
    "IdTokenChanged": reads(["id_token", "customer_id", "status"], ["expires_at"]),
    "VehicleParked": reads(["lot_id", "regnum", "slot_ui"], ["charger_id", "connector_id"]),
    "VehicleLeft": reads(
        ["lot_id", "regnum", "slot_ui", "arrived_at"], ["charger_id", "connector_id"]
    ),
}


async def vehicle_parked(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
    """A vehicle took an EV bay: sessions on its charger get its regnum. The stay is keyed by
    (lot, regnum, arrival), so a VehicleLeft that overtook this event is not undone by it."""
    charger_id = event.get("charger_id")
    if not charger_id:
        return  # not an EV bay
    row = {
        "lot_id": event["lot_id"],
        "regnum": event["regnum"],
        "arrived_at": _time(event["ts"]),
        "slot_ui": event["slot_ui"],
        "charger_id": charger_id,
        "evse_id": event.get("connector_id"),
        "left_at": None,
    }
    await unit.session.execute(
        _insert(unit.db.dialect).values(row).on_conflict_do_nothing(index_elements=_STAY)
    )
    stay = (
        await unit.session.execute(
            select(bay_vehicles.c.left_at).where(*(bay_vehicles.c[k] == row[k] for k in _STAY))
        )
    ).first()
    if stay is None or stay.left_at is not None:
        return  # it has left already
    # A session that began before the park event reached us (a plate camera recorded late,
    # or the driver plugged in first) is the vehicle's too.
    query = update(sessions).where(
        sessions.c.charger_id == charger_id,
        sessions.c.status.in_(("pending", "active")),
        sessions.c.regnum.is_(None),
    )
    if row["evse_id"] is not None:
        query = query.where(sessions.c.evse_id == row["evse_id"])
    await unit.session.execute(query.values(regnum=row["regnum"]))


async def vehicle_left(event: dict[str, Any], unit: CsmsUnitOfWork) -> None:
    row = {
        "lot_id": event["lot_id"],
        "regnum": event["regnum"],
        "arrived_at": _time(event["arrived_at"]),
        "slot_ui": event["slot_ui"],
        "charger_id": event.get("charger_id"),
        "evse_id": event.get("connector_id"),
        "left_at": _time(event["ts"]),
    }
    await unit.session.execute(
        _insert(unit.db.dialect)
        .values(row)
        .on_conflict_do_update(index_elements=_STAY, set_={"left_at": row["left_at"]})
    )


_STAY = ["lot_id", "regnum", "arrived_at"]


def _insert(dialect: str) -> Any:
    return (postgresql if dialect == "postgresql" else sqlite).insert(bay_vehicles)


def _time(raw: str) -> datetime:
    return as_utc(datetime.fromisoformat(raw.replace("Z", "+00:00")))
