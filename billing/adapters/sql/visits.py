"""Stays, sessions and visits in SQL."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, insert, or_, select, tuple_, update

from billing.adapters.sql.base import SqlRepository, rowcount
from billing.adapters.sql.base import utc_or_none as _utc
from billing.domain.visits import SessionFact, StayFact, StayKey, Visit
from billing.ports import INVOICED, OPEN, StoredSession, StoredVisit
from billing.store import visit_sessions, visits
from chargepark.clock import as_utc


def stay_of_row(row: Any) -> StayFact:
    return StayFact(
        key=StayKey(row.lot_id, row.regnum, as_utc(row.arrived_at)),
        level=row.level,
        slot_ui=row.slot_ui,
        charger_id=row.charger_id,
        connector_id=row.connector_id,
        left_at=_utc(row.left_at),
    )


def session_of_row(row: Any) -> SessionFact:
    return SessionFact(
        session_id=row.session_id,
        charger_id=row.charger_id,
        evse_id=row.evse_id,
        connector_id=row.connector_id,
        started_at=as_utc(row.started_at),
        ended_at=_utc(row.ended_at),
        kwh=None if row.kwh is None else Decimal(row.kwh),
        energy_wh=row.energy_wh,
        regnum=row.regnum,
        id_token=row.id_token,
        customer_id=row.customer_id,
        tariff_id=row.tariff_id,
        reason=row.reason,
        started_seen=bool(row.started_seen),
        closed_seen=bool(row.closed_seen),
        traceparent=row.traceparent,
    )


def _session_values(s: SessionFact, visit_id: str, now: datetime) -> dict[str, Any]:
    return {
        "visit_id": visit_id,
        "charger_id": s.charger_id,
        "evse_id": s.evse_id,
        "connector_id": s.connector_id,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "kwh": None if s.kwh is None else str(s.kwh),
        "energy_wh": s.energy_wh,
        "regnum": s.regnum,
        "id_token": s.id_token,
        "customer_id": s.customer_id,
        "tariff_id": s.tariff_id,
        "reason": s.reason,
        "started_seen": s.started_seen,
        "closed_seen": s.closed_seen,
        "changed_at": now,
        "traceparent": s.traceparent,
    }


class SqlVisits(SqlRepository):
    # --- stays (visits of kind STAY) ------------------------------------------------------

    async def get_stay(
        self, key: StayKey, *, for_update: bool = False
    ) -> tuple[StayFact, str] | None:
        query = select(visits).where(visits.c.id == key.visit_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else (stay_of_row(row), row.status)

    async def put_stay(self, stay: StayFact, now: datetime, *, new: bool) -> None:
        values = {
            "level": stay.level,
            "slot_ui": stay.slot_ui,
            "charger_id": stay.charger_id,
            "connector_id": stay.connector_id,
            "left_at": stay.left_at,
            "changed_at": now,
        }
        if new:
            row = {
                "id": stay.visit_id,
                "kind": "STAY",
                "lot_id": stay.key.lot_id,
                "regnum": stay.key.regnum,
                "arrived_at": stay.key.arrived_at,
                "status": OPEN,
                "invoice_id": None,
                "created_at": now,
                **values,
            }
            await self.session.execute(insert(visits), row)
        else:
            await self.session.execute(
                update(visits).where(visits.c.id == stay.visit_id).values(values)
            )

    async def open_stays_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StayFact]:
        regnums, bays = set(regnums), set(bays)
        which = []
        if regnums:
            which.append(visits.c.regnum.in_(regnums))
        if bays:
            which.append(tuple_(visits.c.charger_id, visits.c.connector_id).in_(bays))
        if not which:
            return []
        rows = await self.session.execute(
            select(visits).where(visits.c.kind == "STAY", visits.c.status == OPEN, or_(*which))
        )
        return [stay_of_row(r) for r in rows]

    async def lock_open_visit(self, visit_id: str) -> bool:
        query = select(visits.c.status).where(visits.c.id == visit_id).with_for_update()
        return bool((await self.session.execute(query)).scalar() == OPEN)

    # --- sessions -------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> StoredSession | None:
        query = select(visit_sessions).where(visit_sessions.c.session_id == session_id)
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        return StoredSession(session_of_row(row), row.visit_id, bool(row.frozen))

    async def put_session(
        self, session: SessionFact, visit_id: str, now: datetime, *, new: bool
    ) -> None:
        values = _session_values(session, visit_id, now)
        if new:
            await self.session.execute(
                insert(visit_sessions),
                {"session_id": session.session_id, "frozen": False, **values},
            )
        else:
            await self.session.execute(
                update(visit_sessions)
                .where(visit_sessions.c.session_id == session.session_id)
                .values(values)
            )

    async def movable_sessions_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StoredSession]:
        regnums, bays = set(regnums), set(bays)
        which = []
        if regnums:
            which.append(visit_sessions.c.regnum.in_(regnums))
        if bays:
            which.append(tuple_(visit_sessions.c.charger_id, visit_sessions.c.evse_id).in_(bays))
        if not which:
            return []
        rows = await self.session.execute(
            select(visit_sessions).where(visit_sessions.c.frozen.is_(False), or_(*which))
        )
        return [StoredSession(session_of_row(r), r.visit_id, False) for r in rows]

    async def move_session(self, session_id: str, visit_id: str, from_visit: str) -> bool:
        """The job invoicing `from_visit` holds its sessions' rows, and once it commits they
        are frozen (PostgreSQL checks the condition again on the row the job left)."""
        moved = await self.session.execute(
            update(visit_sessions)
            .where(
                visit_sessions.c.session_id == session_id,
                visit_sessions.c.visit_id == from_visit,
                visit_sessions.c.frozen.is_(False),
            )
            .values(visit_id=visit_id)
        )
        return rowcount(moved) == 1

    async def ensure_session_visit(
        self, visit_id: str, session: SessionFact, now: datetime
    ) -> None:
        row = {
            "id": visit_id,
            "kind": "SESSION",
            "lot_id": None,
            "regnum": session.regnum,
            "arrived_at": None,
            "left_at": None,
            "level": None,
            "slot_ui": None,
            "charger_id": session.charger_id,
            "connector_id": session.evse_id,
            "status": OPEN,
            "invoice_id": None,
            "created_at": now,
            "changed_at": now,
        }
        await self.session.execute(self.upsert(visits).values(row).on_conflict_do_nothing())

    async def drop_empty_session_visits(self, visit_ids: Iterable[str]) -> None:
        ids = set(visit_ids)
        if not ids:
            return
        has_session = exists().where(visit_sessions.c.visit_id == visits.c.id)
        await self.session.execute(
            delete(visits).where(
                visits.c.id.in_(ids),
                visits.c.kind == "SESSION",
                visits.c.status == OPEN,
                ~has_session,
            )
        )

    async def touch_visits(self, visit_ids: Iterable[str], now: datetime) -> None:
        ids = set(visit_ids)
        if ids:
            await self.session.execute(
                update(visits)
                .where(visits.c.id.in_(ids), visits.c.status == OPEN)
                .values(changed_at=now)
            )

    # --- visits ---------------------------------------------------------------------------

    async def due(self, quiet_since: datetime, limit: int) -> list[str]:
        rows = await self.session.execute(
            select(visits.c.id)
            .where(
                visits.c.status == OPEN,
                visits.c.changed_at <= quiet_since,
                or_(visits.c.kind == "SESSION", visits.c.left_at.is_not(None)),
            )
            .order_by(visits.c.changed_at)
            .limit(limit)
        )
        return list(rows.scalars())

    async def get(self, visit_id: str, *, for_update: bool = False) -> StoredVisit | None:
        query = select(visits).where(visits.c.id == visit_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        query = (
            select(visit_sessions)
            .where(visit_sessions.c.visit_id == visit_id)
            .order_by(visit_sessions.c.started_at, visit_sessions.c.session_id)
        )
        if for_update:
            # The sessions too: an event moving one to another visit waits until this visit is
            # invoiced (then finds it frozen), or this waits for the move (and bills without it).
            query = query.with_for_update()
        srows = await self.session.execute(query)
        sessions = tuple(session_of_row(r) for r in srows)
        stay = stay_of_row(row) if row.kind == "STAY" else None
        return StoredVisit(
            Visit(visit_id, stay, sessions),
            row.kind,
            row.status,
            row.invoice_id,
            as_utc(row.created_at),
            as_utc(row.changed_at),
        )

    async def mark_invoiced(self, visit_id: str, invoice_id: str) -> None:
        await self.session.execute(
            update(visits)
            .where(visits.c.id == visit_id)
            .values(status=INVOICED, invoice_id=invoice_id)
        )
        await self.session.execute(
            update(visit_sessions).where(visit_sessions.c.visit_id == visit_id).values(frozen=True)
        )
