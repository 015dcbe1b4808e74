"""The remote starts' store over SQL: the csms unit of work's repositories and the session
reads, plus the two updates that fail pending sessions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, update

from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.session_queries import SessionQueries
from csms.adapters.tables import sessions
from csms.domain.chargers import Charger
from csms.domain.sessions import Session


class SqlRemoteStarts:
    def __init__(self, uow: Callable[[], CsmsUnitOfWork], queries: SessionQueries) -> None:
        self.uow = uow
        self.queries = queries

    async def charger(self, charger_id: str) -> Charger:
        async with self.uow() as uow:
            return await uow.chargers.get(charger_id)

    async def vehicle_at(self, charger_id: str, evse_id: int) -> str | None:
        async with self.uow() as uow:
            return await uow.sessions.vehicle_at(charger_id, evse_id)

    async def add(self, session: Session) -> None:
        async with self.uow() as uow:
            await uow.sessions.add(session)
            await uow.commit()

    async def get(self, session_id: str) -> Session:
        return await self.queries.get(session_id)

    async def by_transaction(self, charger_id: str, transaction_id: str) -> Session | None:
        async with self.uow() as uow:
            return await uow.sessions.by_transaction(charger_id, transaction_id)

    async def fail_pending(self, session_id: str, reason: str, at: datetime) -> None:
        async with self.uow() as uow:
            await uow.session.execute(
                update(sessions)
                .where(sessions.c.id == session_id, sessions.c.status == "pending")
                .values(status="failed", stop_reason=reason[:32], ended_at=at)
            )
            await uow.commit()

    async def expire_pending(self, requested_before: datetime, at: datetime) -> int:
        async with self.uow() as uow:
            result: CursorResult[Any] = await uow.session.execute(  # type: ignore[assignment]  # an UPDATE's result
                update(sessions)
                .where(sessions.c.status == "pending", sessions.c.requested_at < requested_before)
                .values(status="failed", stop_reason="NotStarted", ended_at=at)
            )
            await uow.commit()
        return int(result.rowcount or 0)
