"""Finders: where a vehicle is, which slots are free for a kind of vehicle, who is parked.

Each is one indexed query, paged by a key of the rows it returns (`after`), never by offset:
`ix_slots_parked_vehicle` finds a vehicle in any lot, the slots' primary key (lot, slot_ui)
walks a lot's vehicles, and the allocation's own `ix_slots_free` finds the free slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, func, or_, select

from chargepark.clock import as_utc
from chargepark.db.engine import Database
from parking.domain import Fuel, VehicleKind
from parking.queries import lot_must_exist
from parking.store import lots, slots


@dataclass(frozen=True)
class FreeFilter:
    """Slots a vehicle of `kind` and `fuel` may take now (either left out: any)."""

    kind: VehicleKind | None = None
    fuel: Fuel | None = None
    level: str | None = None


class ParkingFinders:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def vehicle(self, regnum: str) -> dict[str, Any] | None:
        query = (
            select(slots, lots.c.name.label("lot_name")).join(lots).where(slots.c.regnum == regnum)
        )
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return {
            "regnum": row.regnum,
            "kind": row.kind,
            "fuel": row.fuel,
            "lot_id": row.lot_id,
            "lot_name": row.lot_name,
            "level": row.level,
            "slot_ui": row.slot_ui,
            "ev_bay": bool(row.ev_bay),
            "charger_id": row.charger_id,
            "connector_id": row.connector_id,
            "since": as_utc(row.since),
        }

    async def free_in_lot(
        self, lot_id: str, where: FreeFilter, limit: int, after: int
    ) -> list[dict[str, Any]]:
        query = (
            select(
                slots.c.slot_ui,
                slots.c.level,
                slots.c.fits,
                slots.c.ev_bay,
                slots.c.charger_id,
                slots.c.connector_id,
            )
            .select_from(slots.join(lots))
            .where(slots.c.lot_id == lot_id, slots.c.slot_ui > after, *_free(where))
            .order_by(slots.c.slot_ui)
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            await lot_must_exist(conn, lot_id)
            rows = await conn.execute(query)
            return [{**r._mapping, "ev_bay": bool(r.ev_bay)} for r in rows]

    async def free_by_lot(self, where: FreeFilter, limit: int, after: str) -> list[dict[str, Any]]:
        """Per lot (by id, after `after`): how many slots are free for such a vehicle."""
        counted = (
            select(slots.c.lot_id, func.count().label("free"))
            .select_from(slots.join(lots))
            .where(*_free(where))
            .group_by(slots.c.lot_id)
            .subquery()
        )
        query: Select[Any] = (
            select(lots.c.id, lots.c.name, func.coalesce(counted.c.free, 0).label("free"))
            .outerjoin(counted, counted.c.lot_id == lots.c.id)
            .where(lots.c.id > after)
            .order_by(lots.c.id)
            .limit(limit)
        )
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(query)
            return [{"lot_id": r.id, "name": r.name, "free": r.free} for r in rows]

    async def vehicles_in_lot(
        self,
        lot_id: str,
        kind: VehicleKind | None,
        fuel: Fuel | None,
        limit: int,
        after: int,
    ) -> list[dict[str, Any]]:
        query = select(
            slots.c.slot_ui,
            slots.c.level,
            slots.c.regnum,
            slots.c.kind,
            slots.c.fuel,
            slots.c.since,
            slots.c.ev_bay,
        ).where(slots.c.lot_id == lot_id, slots.c.regnum.is_not(None), slots.c.slot_ui > after)
        if kind is not None:
            query = query.where(slots.c.kind == kind.value)
        if fuel is not None:
            query = query.where(slots.c.fuel == fuel.value)
        query = query.order_by(slots.c.slot_ui).limit(limit)
        async with self.db.engine.connect() as conn:
            await lot_must_exist(conn, lot_id)
            rows = await conn.execute(query)
            return [
                {**r._mapping, "ev_bay": bool(r.ev_bay), "since": as_utc(r.since)} for r in rows
            ]


def _free(where: FreeFilter) -> list[Any]:
    """The allocation's rule (parking.allocation.can_take) as SQL: a free slot in service of
    the vehicle's kind; an EV may take any, an ICE vehicle an EV bay only where the lot
    allows it."""
    conditions: list[Any] = [slots.c.regnum.is_(None), slots.c.in_service.is_(True)]
    if where.kind is not None:
        conditions.append(slots.c.fits == where.kind.value)
    if where.fuel is Fuel.ICE:
        conditions.append(or_(slots.c.ev_bay.is_(False), lots.c.ev_bays_for_ice.is_(True)))
    if where.level is not None:
        conditions.append(slots.c.level == where.level)
    return [and_(*conditions)]
