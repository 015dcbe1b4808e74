"""The occupancy repository of the parking service, the hot path of a park or a leave: its
statements are built once, at import, and run on the unit of work's connection.

A slot row holds the vehicle parked in it, so a slot cannot be booked twice by construction,
and unique (lot, regnum) keeps a vehicle to one slot. A park is one UPDATE of the nearest free
slot, found through a partial index of the free slots; on PostgreSQL that slot is locked with
SKIP LOCKED, so parks racing for the nearest slot spread over the next ones instead of queueing
on one. On SQLite, BEGIN IMMEDIATE runs writers one at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, type_coerce, update
from sqlalchemy.exc import IntegrityError

from chargepark.clock import as_utc
from parking.domain import (
    AlreadyParked,
    Fuel,
    Slot,
    Stay,
    UnknownLot,
    Vehicle,
    VehicleKind,
    duration_sec,
)
from parking.ports import ParkContext
from parking.store import events_occupancy, lots, slots

if TYPE_CHECKING:
    from parking.repository import SqlParkingUnitOfWork


def slot_of_row(row: Any) -> Slot:
    return Slot(
        slot_ui=row.slot_ui,
        level=row.level,
        level_rank=row.level_rank,
        fits=VehicleKind(row.fits),
        ev_bay=bool(row.ev_bay),
        charger_id=row.charger_id,
        connector_id=row.connector_id,
        in_service=bool(row.in_service),
    )


class SqlOccupancyRepository:
    """Park and leave, the hot path: statements are built once (below) and run on the unit of
    work's connection, so a request pays for neither statement construction nor ORM layers."""

    def __init__(self, uow: SqlParkingUnitOfWork) -> None:
        self.uow = uow

    async def _execute(self, statement: Any, params: dict[str, Any]) -> Any:
        conn = await self.uow.session.connection()
        return await conn.execute(statement, params)

    async def park_context(self, lot_id: str, regnum: str) -> ParkContext:
        result = await self._execute(_PARK_CONTEXT, {"p_lot": lot_id, "p_regnum": regnum})
        row = result.first()
        if row is None:
            raise UnknownLot(lot_id)
        ts = row.ts
        return ParkContext(
            bool(row.ev_bays_for_ice), row.action, as_utc(ts) if ts is not None else None
        )

    async def claim_nearest(
        self,
        lot_id: str,
        vehicle: Vehicle,
        order: tuple[bool, ...],
        since: datetime,
        *,
        wait: bool = False,
    ) -> Slot | None:
        for ev_bay in order:
            row = await self._take(_CLAIM_NEAREST[(ev_bay, wait)], lot_id, vehicle, since)
            if row is not None:
                return _claimed(row, vehicle)
        return None

    async def claim(self, lot_id: str, slot: Slot, vehicle: Vehicle, since: datetime) -> bool:
        row = await self._take(_CLAIM_NAMED, lot_id, vehicle, since, p_slot=slot.slot_ui)
        return row is not None

    async def _take(
        self, statement: Any, lot_id: str, vehicle: Vehicle, since: datetime, **more: Any
    ) -> Any:
        params = {
            "p_lot": lot_id,
            "p_fits": vehicle.kind.value,
            "v_regnum": vehicle.regnum,
            "v_kind": vehicle.kind.value,
            "v_fuel": vehicle.fuel.value,
            "v_since": since,
            **more,
        }
        try:
            return (await self._execute(statement, params)).first()
        except IntegrityError:
            # unique (lot, regnum): the same vehicle, parked by a request that committed first.
            raise AlreadyParked(vehicle.regnum) from None

    async def slot_of(self, lot_id: str, regnum: str) -> int | None:
        query = select(slots.c.slot_ui).where(slots.c.lot_id == lot_id, slots.c.regnum == regnum)
        return (await self.uow.session.execute(query)).scalar()

    async def has_free(self, lot_id: str, vehicle: Vehicle, order: tuple[bool, ...]) -> bool:
        query = (
            select(slots.c.slot_ui)
            .where(
                slots.c.lot_id == lot_id,
                slots.c.fits == vehicle.kind.value,
                slots.c.ev_bay.in_(order),
                _FREE,
            )
            .limit(1)
        )
        return (await self.uow.session.execute(query)).first() is not None

    async def occupied(self, lot_id: str) -> set[int]:
        query = select(slots.c.slot_ui).where(slots.c.lot_id == lot_id, slots.c.regnum.is_not(None))
        return set((await self.uow.session.execute(query)).scalars())

    async def release(
        self, lot_id: str, *, regnum: str | None = None, slot_ui: int | None = None
    ) -> Stay | None:
        which = (regnum is not None, slot_ui is not None)
        params = {"p_lot": lot_id, "p_regnum": regnum, "p_slot": slot_ui}
        if self.uow.db.dialect == "postgresql":
            # One round trip: the occupant's row, locked, and the slot vacated.
            row = (await self._execute(_RELEASE[which], params)).first()
            if row is None:
                return None
        else:
            row = (await self._execute(_OCCUPANT[which], params)).first()
            if row is None:
                return None
            await self._execute(_VACATE, {"p_lot": lot_id, "p_slot": row.slot_ui})
        vehicle = Vehicle(row.regnum, VehicleKind(row.kind), Fuel(row.fuel))
        return Stay(lot_id, slot_of_row(row), vehicle, as_utc(row.since))

    async def record(self, action: str, stay: Stay, at: datetime, recorded_at: datetime) -> None:
        leave = action == "LEAVE"
        row = {
            "lot_id": stay.lot_id,
            "action": action,
            "ts": at,
            "slot_ui": stay.slot.slot_ui,
            "level": stay.slot.level,
            "regnum": stay.vehicle.regnum,
            "kind": stay.vehicle.kind.value,
            "fuel": stay.vehicle.fuel.value,
            "ev_bay": stay.slot.ev_bay,
            "charger_id": stay.slot.charger_id,
            "connector_id": stay.slot.connector_id,
            "arrived_at": stay.since if leave else None,
            "duration_sec": duration_sec(stay.since, at) if leave else None,
            "recorded_at": recorded_at,
        }
        if self.uow.db.dialect == "postgresql":
            # Written at commit, in one statement with the outbox row (see commit()).
            self.uow.history.append(row)
        else:
            await self._execute(RECORD_HISTORY, row)


_FREE = slots.c.regnum.is_(None) & slots.c.in_service.is_(True)
_CLAIMED = [
    slots.c.slot_ui,
    slots.c.level,
    slots.c.ev_bay,
    slots.c.charger_id,
    slots.c.connector_id,
]


def _newest(column: Any) -> Any:
    return (
        select(column)
        .where(
            events_occupancy.c.lot_id == bindparam("p_lot"),
            events_occupancy.c.regnum == bindparam("p_regnum"),
        )
        .order_by(events_occupancy.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


# The lot's policy and the vehicle's newest event in the lot, in one round trip.
_PARK_CONTEXT = select(
    lots.c.ev_bays_for_ice,
    _newest(events_occupancy.c.action).label("action"),
    # Typed, so that SQLite's text comes back as a datetime as the column's own values do.
    type_coerce(_newest(events_occupancy.c.ts), events_occupancy.c.ts.type).label("ts"),
).where(lots.c.id == bindparam("p_lot"))


def _claim(which: Any) -> Any:
    return (
        update(slots)
        # `regnum IS NULL` again: PostgreSQL re-checks it on the newest row version once locked.
        .where(slots.c.lot_id == bindparam("p_lot"), which, slots.c.regnum.is_(None))
        .values(
            regnum=bindparam("v_regnum"),
            kind=bindparam("v_kind"),
            fuel=bindparam("v_fuel"),
            since=bindparam("v_since"),
        )
        .returning(*_CLAIMED)
    )


def _nearest_free(ev_bay: bool, wait: bool) -> Any:
    # From the partial index of free slots, nearest first. On PostgreSQL the slot is locked:
    # first skipping slots other parks are claiming this instant; when that found none but a
    # slot looked free, waiting for the park holding it (then re-checked: taken or not).
    return (
        select(slots.c.slot_ui)
        .where(
            slots.c.lot_id == bindparam("p_lot"),
            slots.c.fits == bindparam("p_fits"),
            slots.c.ev_bay.is_(ev_bay),
            _FREE,
        )
        .order_by(slots.c.level_rank, slots.c.slot_ui)
        .limit(1)
        .with_for_update(skip_locked=not wait)
        .scalar_subquery()
    )


_CLAIM_NEAREST = {
    (ev_bay, wait): _claim(slots.c.slot_ui == _nearest_free(ev_bay, wait))
    for ev_bay in (True, False)
    for wait in (True, False)
}
_CLAIM_NAMED = _claim(slots.c.slot_ui == bindparam("p_slot"))


def _occupant(by_regnum: bool, by_slot: bool) -> Any:
    query = select(slots).where(slots.c.lot_id == bindparam("p_lot"), slots.c.regnum.is_not(None))
    if by_regnum:
        query = query.where(slots.c.regnum == bindparam("p_regnum"))
    if by_slot:
        query = query.where(slots.c.slot_ui == bindparam("p_slot"))
    # Locked: of two leaves of one vehicle, the second finds the slot free.
    return query.with_for_update()


_OCCUPANT = {(r, s): _occupant(r, s) for r in (True, False) for s in (True, False)}


def _release(by_regnum: bool, by_slot: bool) -> Any:
    # PostgreSQL: `UPDATE slots SET regnum = NULL, ... FROM (SELECT ... FOR UPDATE) AS o ...
    # RETURNING o.*`: the occupant as it was, locked (and re-checked once locked, so of two
    # leaves of one vehicle the second finds nothing), and the slot freed, in one statement.
    old = _occupant(by_regnum, by_slot).subquery("o")
    return (
        update(slots)
        .where(slots.c.lot_id == old.c.lot_id, slots.c.slot_ui == old.c.slot_ui)
        .values(regnum=None, kind=None, fuel=None, since=None)
        .returning(*old.c)
    )


_RELEASE = {(r, s): _release(r, s) for r in (True, False) for s in (True, False)}
_VACATE = (
    update(slots)
    .where(slots.c.lot_id == bindparam("p_lot"), slots.c.slot_ui == bindparam("p_slot"))
    .values(regnum=None, kind=None, fuel=None, since=None)
)
RECORD_HISTORY = insert(events_occupancy)


def _claimed(row: Any, vehicle: Vehicle) -> Slot:
    return Slot(
        slot_ui=row.slot_ui,
        level=row.level,
        level_rank=0,  # not needed once claimed
        fits=vehicle.kind,
        ev_bay=bool(row.ev_bay),
        charger_id=row.charger_id,
        connector_id=row.connector_id,
    )
