"""SQL repositories of the parking service, inside its unit of work: the lots (here) and the
occupancy of their slots (parking/occupancy_repository.py, the hot path), and the unit of work
that holds them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from chargepark.clock import as_utc
from chargepark.db import bulk
from chargepark.db.uow import OUTBOX_ROW_COLUMNS, UnitOfWork, outbox_row
from parking.domain import (
    BayTaken,
    Lot,
    LotExists,
    LotNotEmpty,
    Slot,
    SlotOccupied,
    UnknownLot,
)
from parking.occupancy_repository import RECORD_HISTORY, SqlOccupancyRepository, slot_of_row
from parking.ports import ConnectionLost
from parking.store import events_occupancy, lots, slots


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
            result = cast(
                "CursorResult[Any]",
                await session.execute(
                    delete(slots).where(
                        slots.c.lot_id == lot.id,
                        slots.c.slot_ui.in_(removed),
                        slots.c.regnum.is_(None),
                    )
                ),
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
            await self.session.execute(RECORD_HISTORY, self.history)
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
