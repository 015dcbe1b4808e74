"""The sessions' SQL store (`csms.ports.sessions.SessionStore`), inside the unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any, cast

from sqlalchemy import CursorResult, insert, select, update

from chargepark.clock import as_utc
from chargepark.db.uow import UnitOfWork
from csms.adapters.tables import bay_vehicles, chargers, meter_samples, sessions, transaction_ids
from csms.domain.sessions import ENERGY_INTERVAL, ENERGY_REGISTER, Session, SessionReadings
from csms.ocpp.readings import session_readings
from csms.ports.sessions import SampleRow


class SqlSessionRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def by_transaction(self, charger_id: str, transaction_id: str) -> Session | None:
        return await self._one(
            sessions.c.charger_id == charger_id, sessions.c.transaction_id == transaction_id
        )

    async def by_start_key(self, charger_id: str, start_key: str) -> Session | None:
        return await self._one(
            sessions.c.charger_id == charger_id, sessions.c.start_key == start_key
        )

    async def pending_start(
        self, charger_id: str, evse_id: int, id_token: str, *, remote_start_id: int | None = None
    ) -> Session | None:
        """The remote start this charger's transaction answers: 2.0.1 names it by remoteStartId,
        1.6 only by connector and idTag (the oldest pending one first)."""
        where = [sessions.c.charger_id == charger_id, sessions.c.status == "pending"]
        if remote_start_id is not None:
            where.append(sessions.c.remote_start_id == remote_start_id)
        else:
            where += [sessions.c.evse_id.in_((evse_id, 0)), sessions.c.id_token == id_token]
        return await self._one(*where, order_by=sessions.c.requested_at)

    async def active_for_token(self, id_token: str, *, besides: str | None = None) -> bool:
        """Whether the token is in another ongoing transaction (1.6 ConcurrentTx)."""
        query = select(sessions.c.id).where(
            sessions.c.id_token == id_token, sessions.c.status == "active"
        )
        if besides is not None:
            query = query.where(sessions.c.id != besides)
        return (await self.uow.session.execute(query.limit(1))).first() is not None

    async def charger_tariff(self, charger_id: str) -> str | None:
        return await self.uow.session.scalar(
            select(chargers.c.tariff_id).where(chargers.c.id == charger_id)
        )

    async def vehicle_at(self, charger_id: str, evse_id: int) -> str | None:
        """The regnum parking last placed at this charger's bay, if it is still there."""
        t = bay_vehicles
        return await self.uow.session.scalar(
            select(t.c.regnum)
            .where(
                t.c.charger_id == charger_id,
                t.c.left_at.is_(None),
                (t.c.evse_id == evse_id) | t.c.evse_id.is_(None),
            )
            .order_by(t.c.arrived_at.desc())
            .limit(1)
        )

    async def readings(self, charger_id: str, transaction_id: str) -> SessionReadings:
        """The energy readings among the samples stored for a transaction, read when it
        closes."""
        t = meter_samples
        rows = await self.uow.session.execute(
            select(t.c.sampled_at, t.c.measurand, t.c.phase, t.c.unit, t.c.multiplier, t.c.value)
            .where(
                t.c.charger_id == charger_id,
                t.c.transaction_id == transaction_id,
                t.c.measurand.in_((ENERGY_REGISTER, ENERGY_INTERVAL)),
            )
            .order_by(t.c.sampled_at)
        )
        return session_readings(
            (as_utc(at), measurand, phase, unit, multiplier, value)
            for at, measurand, phase, unit, multiplier, value in rows
        )

    async def add(self, session: Session) -> None:
        await self.uow.session.execute(insert(sessions), asdict(session))

    async def add_samples(self, rows: Sequence[SampleRow]) -> None:
        await self.uow.session.execute(insert(meter_samples), list(rows))

    async def save(self, session: Session) -> None:
        await self.uow.session.execute(
            update(sessions).where(sessions.c.id == session.id).values(asdict(session))
        )

    async def next_transaction_id(self, charger_id: str) -> int:
        result = await self.uow.session.execute(
            insert(transaction_ids).values(charger_id=charger_id)
        )
        key = cast(CursorResult[Any], result).inserted_primary_key
        assert key is not None  # an insert's key, always there
        return int(key[0])

    async def _one(self, *where: Any, order_by: Any = None) -> Session | None:
        query = select(sessions).where(*where).with_for_update()
        if order_by is not None:
            query = query.order_by(order_by).limit(1)
        row = (await self.uow.session.execute(query)).first()
        return session_from_row(row) if row is not None else None


def session_from_row(row: Any) -> Session:
    values = dict(row._mapping)
    for name in ("started_at", "ended_at", "requested_at"):
        if values[name] is not None:
            values[name] = as_utc(values[name])
    return Session(**values)
