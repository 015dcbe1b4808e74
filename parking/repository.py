"""SQL repositories of the parking service, inside its unit of work.

A slot row holds the vehicle parked in it, so a slot cannot be booked twice by construction,
and unique (lot, regnum) keeps a vehicle to one slot. A park is one UPDATE of the nearest free
slot, found through a partial index of the free slots; on PostgreSQL that slot is locked with
SKIP LOCKED, so parks racing for the nearest slot spread over the next ones instead of queueing
on one. On SQLite, BEGIN IMMEDIATE runs writers one at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from chargepark.clock import as_utc
from chargepark.db import bulk
from chargepark.db.uow import OUTBOX_ROW_COLUMNS, UnitOfWork, outbox_row
from parking.domain import (
    AlreadyParked,
    BayTaken,
    Fuel,
    Lot,
    LotExists,
    LotNotEmpty,
    Slot,
    SlotOccupied,
    Stay,
    UnknownLot,
    Vehicle,
    VehicleKind,
    duration_sec,
)
from parking.ports import ConnectionLost, ParkContext
from parking.store import events_occupancy, lots, slots


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


def slot_row(lot_id: str, slot: Slot) -> dict[str, Any]:
    return {
        "lot_id": lot_id,
        "slot_ui": slot.slot_ui,
        "level": slot.level,
        "level_rank": slot.level_rank,
        "fits": slot.fits.value,
        "ev_bay": slot.ev_bay,
        "charger_id": slot.charger_id,
        "connector_id": slot.connector_id,
        "in_service": slot.in_service,
        "regnum": None,
        "kind": None,
        "fuel": None,
        "since": None,
    }


class SqlLotRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def get(self, lot_id: str, *, for_update: bool = False) -> Lot:
        query = select(lots).where(lots.c.id == lot_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.uow.session.execute(query)).first()
        if row is None:
            raise UnknownLot(lot_id)
        lot = Lot(
            row.id,
            row.name,
            bool(row.ev_bays_for_ice),
            created_at=as_utc(row.created_at),
            updated_at=as_utc(row.updated_at),
        )
        rows = await self.uow.session.execute(
            select(slots).where(slots.c.lot_id == lot_id).order_by(slots.c.slot_ui)
        )
        lot.slots = {r.slot_ui: slot_of_row(r) for r in rows}
        return lot

    async def add(self, lot: Lot) -> None:
        session = self.uow.session
        taken = (await session.execute(select(lots.c.id).where(lots.c.id == lot.id))).first()
        if taken is not None:
            raise LotExists(lot.id)
        await self._check_bays(lot.id, list(lot.slots.values()))
        try:
            async with session.begin_nested():
                await session.execute(insert(lots), _lot_row(lot))
                if lot.slots:
                    await session.execute(
                        insert(slots), [slot_row(lot.id, s) for s in lot.slots.values()]
                    )
        except IntegrityError:
            # Lost a race with another create of the same id or bay: the same answer the
            # checks above would have given.
            raise LotExists(lot.id) from None

    async def save(
        self, lot: Lot, *, added: list[Slot], removed: list[int], switched: list[int]
    ) -> None:
        """`switched`: slots whose in_service flag changed. Only the rows that change are
        written, so a rename locks no slot a park might want."""
        session = self.uow.session
        await session.execute(
            update(lots)
            .where(lots.c.id == lot.id)
            .values(name=lot.name, ev_bays_for_ice=lot.ev_bays_for_ice, updated_at=lot.updated_at)
        )
        if removed:
            # Only free slots go; one a park took meanwhile stays and the change is refused.
            result = await session.execute(
                delete(slots).where(
                    slots.c.lot_id == lot.id,
                    slots.c.slot_ui.in_(removed),
                    slots.c.regnum.is_(None),
                )
            )
            if result.rowcount != len(removed):
                raise SlotOccupied("a slot to remove was taken meanwhile; try again")
        for in_service in (True, False):
            uis = [ui for ui in switched if lot.slots[ui].in_service is in_service]
            if uis:
                await session.execute(
                    update(slots)
                    .where(slots.c.lot_id == lot.id, slots.c.slot_ui.in_(uis))
                    .values(in_service=in_service)
                )
        if added:
            await self._check_bays(lot.id, added)
            try:
                async with session.begin_nested():
                    await session.execute(insert(slots), [slot_row(lot.id, s) for s in added])
            except IntegrityError:
                raise BayTaken("an EV bay's charger connector was taken meanwhile") from None

    async def remove(self, lot_id: str) -> None:
        session = self.uow.session
        # Only free slots go: a park that took one meanwhile keeps it, and the lot stays.
        await session.execute(
            delete(slots).where(slots.c.lot_id == lot_id, slots.c.regnum.is_(None))
        )
        left = await session.execute(select(slots.c.slot_ui).where(slots.c.lot_id == lot_id))
        if left.first() is not None:
            raise LotNotEmpty(f"lot {lot_id!r} has parked vehicles")
        await session.execute(delete(lots).where(lots.c.id == lot_id))

    async def _check_bays(self, lot_id: str, new: list[Slot]) -> None:
        """A charger connector is one bay: refuse one already a bay elsewhere, by name."""
        bays = [(s.charger_id, s.connector_id) for s in new if s.ev_bay]
        if not bays:
            return
        query = select(slots.c.lot_id, slots.c.slot_ui, slots.c.charger_id, slots.c.connector_id)
        query = query.where(slots.c.charger_id.in_({c for c, _ in bays}))
        for row in await self.uow.session.execute(query):
            if (row.charger_id, row.connector_id) in bays:
                raise BayTaken(
                    f"charger {row.charger_id} connector {row.connector_id} is already the bay "
                    f"of slot {row.slot_ui} in lot {row.lot_id}"
                )


def _lot_row(lot: Lot) -> dict[str, Any]:
    return {
        "id": lot.id,
        "name": lot.name,
        "ev_bays_for_ice": lot.ev_bays_for_ice,
        "created_at": lot.created_at,
        "updated_at": lot.updated_at,
    }


class SqlOccupancyRepository:
    """Park and leave, the hot path: statements are built once (below) and run on the unit of
    work's connection, so a request pays for neither statement construction nor ORM layers."""

    def __init__(self, uow: UnitOfWork) -> None:
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
        if isinstance(ts, str):  # SQLite hands a scalar subquery's timestamp back as text
            ts = datetime.fromisoformat(ts)
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
            await self._execute(_RECORD, row)


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
    _newest(events_occupancy.c.ts).label("ts"),
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
_RECORD = insert(events_occupancy)


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


class SqlParkingUnitOfWork(UnitOfWork):
    """On PostgreSQL, two round trips fewer per park or leave than the plain unit of work:

    - its connection comes from the writers' pool (`Database.writer`), which does not ping
      before a checkout. A connection the server closed meanwhile is seen without a round trip
      (asyncpg marks it closed once the loop sees the socket's end) and replaced; one lost
      while in use before commit makes the unit raise ConnectionLost, and the use case runs
      again once, on a new connection (nothing of it was committed);
    - the history row (`occupancy.record`) and the outbox row go in at commit as one
      statement, `WITH h AS (INSERT INTO events_occupancy ...) INSERT INTO outbox ...`,
      in the same transaction as the slot's change.
    SQLite keeps the plain unit of work."""

    lots: SqlLotRepository
    occupancy: SqlOccupancyRepository

    async def __aenter__(self) -> Self:
        self.history: list[dict[str, Any]] = []
        self._committing = False
        self._conn: AsyncConnection | None = None
        if self.db.dialect == "postgresql":
            self._conn = await _live_connection(self.db.writer)
            self.session = AsyncSession(bind=self._conn, expire_on_commit=False)
            self.events = []
        else:
            await super().__aenter__()
        self.lots = SqlLotRepository(self)
        self.occupancy = SqlOccupancyRepository(self)
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        conn = self._conn
        if conn is None:
            await super().__aexit__(exc_type, exc, tb)
            return
        lost = isinstance(exc, DBAPIError) and (
            exc.connection_invalidated or conn.invalidated or await bulk.is_closed(conn)
        )
        try:
            if not lost:  # else no rollback to send: the server ended the transaction
                await super().__aexit__(exc_type, exc, tb)
        finally:
            try:
                if lost or await bulk.is_closed(conn):
                    await conn.invalidate()
            finally:
                await conn.close()
        if lost and not self._committing:
            raise ConnectionLost("the database connection was lost; nothing was written") from exc

    async def commit(self) -> None:
        self._committing = True
        if self.history and not self.events:
            await self._write_history()
        await super().commit()

    async def write_outbox(self, now: datetime) -> None:
        if len(self.history) == 1 and len(self.events) == 1:  # a park or a leave
            params = {f"h_{k}": v for k, v in self.history[0].items()}
            params.update({f"o_{k}": v for k, v in outbox_row(self.events[0], now).items()})
            await self.session.execute(_history_with_outbox(self.outbox_table), params)
            self.history = []
            return
        await self._write_history()
        await super().write_outbox(now)

    async def _write_history(self) -> None:
        if self.history:
            await self.session.execute(_RECORD, self.history)
            self.history = []

    async def rollback(self) -> None:
        self.history = []
        await super().rollback()


async def _live_connection(engine: Any) -> AsyncConnection:
    try:
        return await bulk.live_connection(engine)
    except ConnectionError:
        raise ConnectionLost("no live database connection in the writers' pool") from None


_WITH_OUTBOX: dict[Table, Any] = {}


def _history_with_outbox(outbox: Table) -> Any:
    statement = _WITH_OUTBOX.get(outbox)
    if statement is None:
        history = (
            insert(events_occupancy)
            .values({c: bindparam(f"h_{c}") for c in _HISTORY_COLUMNS})
            .cte("h")
        )
        statement = (
            insert(outbox)
            .values({c: bindparam(f"o_{c}") for c in OUTBOX_ROW_COLUMNS})
            .add_cte(history)
        )
        _WITH_OUTBOX[outbox] = statement
    return statement


_HISTORY_COLUMNS = tuple(c.name for c in events_occupancy.columns if not c.primary_key)
