"""Reading sessions for the API (`csms.ports.sessions.SessionReads`; no unit of work:
nothing changes)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select

from chargepark.db.engine import Database
from csms.adapters.session_store import session_from_row
from csms.adapters.tables import sessions
from csms.domain.sessions import Session, UnknownSession
from csms.ports.sessions import SessionFilter

__all__ = ["SessionFilter", "SessionQueries", "UnknownSession"]


class SessionQueries:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, session_id: str) -> Session:
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(sessions).where(sessions.c.id == session_id))).first()
        if row is None:
            raise UnknownSession(f"no session {session_id!r}")
        return session_from_row(row)

    async def ongoing(self, charger_ids: Sequence[str]) -> dict[str, list[Session]]:
        """Pending and active sessions of these chargers, in one query, by EVSE."""
        if not charger_ids:
            return {}
        t = sessions
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(t)
                .where(t.c.charger_id.in_(list(charger_ids)), t.c.status.in_(("pending", "active")))
                .order_by(t.c.charger_id, t.c.evse_id, t.c.started_at)
            )
            found: dict[str, list[Session]] = {}
            for row in rows:
                session = session_from_row(row)
                found.setdefault(session.charger_id, []).append(session)
            return found

    async def page(self, f: SessionFilter) -> tuple[Sequence[Session], int]:
        t = sessions
        where = []
        if f.charger_id is not None:
            where.append(t.c.charger_id == f.charger_id)
        if f.status is not None:
            where.append(t.c.status == f.status)
        if f.started_from is not None:
            where.append(t.c.started_at >= f.started_from)
        if f.started_to is not None:
            where.append(t.c.started_at < f.started_to)
        async with self.db.engine.connect() as conn:
            total = await conn.scalar(select(func.count()).select_from(t).where(*where))
            rows = await conn.execute(
                select(t)
                .where(*where)
                .order_by(t.c.started_at.desc(), t.c.id)
                .limit(f.limit)
                .offset(f.offset)
            )
            return [session_from_row(r) for r in rows], int(total or 0)
