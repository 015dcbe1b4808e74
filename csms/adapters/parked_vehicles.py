"""Vehicles on EV bays over SQL (`bay_vehicles`, and the sessions they charge), in the
transaction of the unit of work given (an event's, through the inbox)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.db.uow import UnitOfWork
from csms.adapters.tables import bay_vehicles, sessions
from csms.ports.parked_vehicles import BayStay

_STAY = ["lot_id", "regnum", "arrived_at"]


class SqlParkedVehicles:
    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit

    async def arrived(self, stay: BayStay) -> bool:
        row = _row(stay)
        await self.unit.session.execute(
            self._insert().values(row).on_conflict_do_nothing(index_elements=_STAY)
        )
        known = (
            await self.unit.session.execute(
                select(bay_vehicles.c.left_at).where(*(bay_vehicles.c[k] == row[k] for k in _STAY))
            )
        ).first()
        return known is not None and known.left_at is None

    async def left(self, stay: BayStay) -> None:
        row = _row(stay)
        await self.unit.session.execute(
            self._insert()
            .values(row)
            .on_conflict_do_update(index_elements=_STAY, set_={"left_at": row["left_at"]})
        )

    async def tag_sessions(self, charger_id: str, evse_id: int | None, regnum: str) -> None:
        query = update(sessions).where(
            sessions.c.charger_id == charger_id,
            sessions.c.status.in_(("pending", "active")),
            sessions.c.regnum.is_(None),
        )
        if evse_id is not None:
            query = query.where(sessions.c.evse_id == evse_id)
        await self.unit.session.execute(query.values(regnum=regnum))

    def _insert(self) -> Any:
        dialect = postgresql if self.unit.db.dialect == "postgresql" else sqlite
        return dialect.insert(bay_vehicles)


def _row(stay: BayStay) -> dict[str, Any]:
    return {
        "lot_id": stay.lot_id,
        "regnum": stay.regnum,
        "arrived_at": stay.arrived_at,
        "slot_ui": stay.slot_ui,
        "charger_id": stay.charger_id,
        "evse_id": stay.evse_id,
        "left_at": stay.left_at,
        "departure_at": stay.departure_at,
    }
