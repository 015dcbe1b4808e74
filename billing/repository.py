"""SQL of the billing service, inside its unit of work.

On SQLite every transaction is BEGIN IMMEDIATE (one writer at a time). On PostgreSQL a visit is
locked (FOR UPDATE) both by the job that invoices it and by an event that adds a session to it,
so a session is either in the invoice or finds the visit invoiced and goes elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, exists, func, insert, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from billing.domain.pricing import Line
from billing.domain.tariff import Tariff
from billing.domain.visits import SessionFact, StayFact, StayKey, Visit
from billing.store import (
    customer_tokens,
    customer_vehicles,
    customers,
    invoice_lines,
    invoices,
    payment_attempts,
    tariffs,
    visit_sessions,
    visits,
)
from chargepark.clock import as_utc
from chargepark.db.uow import UnitOfWork
from chargepark.errors import Conflict

OPEN, INVOICED = "open", "invoiced"


@dataclass(frozen=True)
class StoredSession:
    fact: SessionFact
    visit_id: str
    frozen: bool


@dataclass(frozen=True)
class StoredVisit:
    visit: Visit
    kind: str
    status: str
    invoice_id: str | None
    created_at: datetime
    changed_at: datetime


def _utc(ts: datetime | None) -> datetime | None:
    return None if ts is None else as_utc(ts)


def tariff_of_row(row: Any) -> Tariff:
    return Tariff(
        id=row.id,
        version=row.version,
        name=row.name,
        currency=row.currency,
        energy_minor_per_kwh=Decimal(row.energy_minor_per_kwh),
        session_fee_minor=row.session_fee_minor,
        parking_minor_per_period=row.parking_minor_per_period,
        parking_period_minutes=row.parking_period_minutes,
        parking_grace_minutes=row.parking_grace_minutes,
        parking_daily_cap_minor=row.parking_daily_cap_minor,
        idle_minor_per_minute=row.idle_minor_per_minute,
        idle_after_minutes=row.idle_after_minutes,
        tax_percent=Decimal(row.tax_percent),
        valid_from=as_utc(row.valid_from),
    )


def _stay_of_row(row: Any) -> StayFact:
    return StayFact(
        key=StayKey(row.lot_id, row.regnum, as_utc(row.arrived_at)),
        level=row.level,
        slot_ui=row.slot_ui,
        charger_id=row.charger_id,
        connector_id=row.connector_id,
        left_at=_utc(row.left_at),
    )


def _session_of_row(row: Any) -> SessionFact:
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


class SqlBillingUnitOfWork(UnitOfWork):
    def _insert(self, table: Any) -> Any:
        return (postgresql if self.db.dialect == "postgresql" else sqlite).insert(table)

    # --- tariffs --------------------------------------------------------------------------

    async def tariff_versions(self, tariff_id: str) -> list[Tariff]:
        rows = await self.session.execute(
            select(tariffs).where(tariffs.c.id == tariff_id).order_by(tariffs.c.version)
        )
        return [tariff_of_row(r) for r in rows]

    async def all_tariffs(self) -> dict[str, list[Tariff]]:
        found: dict[str, list[Tariff]] = {}
        rows = await self.session.execute(select(tariffs).order_by(tariffs.c.id, tariffs.c.version))
        for r in rows:
            found.setdefault(r.id, []).append(tariff_of_row(r))
        return found

    async def add_tariff(self, t: Tariff, now: datetime) -> None:
        row = {
            "id": t.id,
            "version": t.version,
            "name": t.name,
            "currency": t.currency,
            "energy_minor_per_kwh": str(t.energy_minor_per_kwh),
            "session_fee_minor": t.session_fee_minor,
            "parking_minor_per_period": t.parking_minor_per_period,
            "parking_period_minutes": t.parking_period_minutes,
            "parking_grace_minutes": t.parking_grace_minutes,
            "parking_daily_cap_minor": t.parking_daily_cap_minor,
            "idle_minor_per_minute": t.idle_minor_per_minute,
            "idle_after_minutes": t.idle_after_minutes,
            "tax_percent": str(t.tax_percent),
            "valid_from": t.valid_from,
            "created_at": now,
        }
        try:
            async with self.session.begin_nested():
                await self.session.execute(insert(tariffs), row)
        except IntegrityError:
            raise Conflict(f"tariff {t.id} version {t.version} exists already; try again") from None

    # --- stays (visits of kind STAY) ------------------------------------------------------

    async def get_stay(
        self, key: StayKey, *, for_update: bool = False
    ) -> tuple[StayFact, str] | None:
        query = select(visits).where(visits.c.id == key.visit_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else (_stay_of_row(row), row.status)

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
        return [_stay_of_row(r) for r in rows]

    async def lock_open_visit(self, visit_id: str) -> bool:
        """Lock the visit if it is still open; False when it was invoiced meanwhile."""
        query = select(visits.c.status).where(visits.c.id == visit_id).with_for_update()
        return (await self.session.execute(query)).scalar() == OPEN

    # --- sessions -------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> StoredSession | None:
        query = select(visit_sessions).where(visit_sessions.c.session_id == session_id)
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        return StoredSession(_session_of_row(row), row.visit_id, bool(row.frozen))

    async def put_session(self, s: SessionFact, visit_id: str, now: datetime, *, new: bool) -> None:
        values = {
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
        if new:
            await self.session.execute(
                insert(visit_sessions), {"session_id": s.session_id, "frozen": False, **values}
            )
        else:
            await self.session.execute(
                update(visit_sessions)
                .where(visit_sessions.c.session_id == s.session_id)
                .values(values)
            )

    async def movable_sessions_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StoredSession]:
        """Sessions not yet billed that a stay with these regnums or bays could claim."""
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
        return [StoredSession(_session_of_row(r), r.visit_id, False) for r in rows]

    async def move_session(self, session_id: str, visit_id: str, from_visit: str) -> bool:
        """Move the session from `from_visit` unless it was billed there meanwhile: the job
        invoicing that visit holds its sessions' rows, and once it commits they are frozen
        (PostgreSQL checks the condition again on the row the job left). False: not moved."""
        moved = await self.session.execute(
            update(visit_sessions)
            .where(
                visit_sessions.c.session_id == session_id,
                visit_sessions.c.visit_id == from_visit,
                visit_sessions.c.frozen.is_(False),
            )
            .values(visit_id=visit_id)
        )
        return moved.rowcount == 1

    async def ensure_session_visit(self, visit_id: str, s: SessionFact, now: datetime) -> None:
        """The visit of a session without a stay (a public charger), made once."""
        insert_ = self._insert(visits)
        row = {
            "id": visit_id,
            "kind": "SESSION",
            "lot_id": None,
            "regnum": s.regnum,
            "arrived_at": None,
            "left_at": None,
            "level": None,
            "slot_ui": None,
            "charger_id": s.charger_id,
            "connector_id": s.evse_id,
            "status": OPEN,
            "invoice_id": None,
            "created_at": now,
            "changed_at": now,
        }
        await self.session.execute(insert_.values(row).on_conflict_do_nothing())

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

    async def due_visits(self, quiet_since: datetime, limit: int) -> list[str]:
        """Open visits unchanged since `quiet_since` whose vehicle is gone (or that have none)."""
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

    async def get_visit(self, visit_id: str, *, for_update: bool = False) -> StoredVisit | None:
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
        sessions = tuple(_session_of_row(r) for r in srows)
        stay = _stay_of_row(row) if row.kind == "STAY" else None
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

    # --- the accounts projection ----------------------------------------------------------

    async def customer_seen(self, customer_id: str, at: datetime) -> None:
        insert_ = self._insert(customers)
        await self.session.execute(
            insert_.values(customer_id=customer_id, created_at=at).on_conflict_do_nothing()
        )

    async def link_vehicle(self, regnum: str, customer_id: str | None, at: datetime) -> None:
        """Newest event wins; an unlink leaves a tombstone (customer null) so a link that
        arrives after it but happened before it cannot revive the link."""
        insert_ = self._insert(customer_vehicles)
        statement = insert_.values(regnum=regnum, customer_id=customer_id, changed_at=at)
        statement = statement.on_conflict_do_update(
            index_elements=["regnum"],
            set_={"customer_id": insert_.excluded.customer_id, "changed_at": at},
            where=insert_.excluded.changed_at > customer_vehicles.c.changed_at,
        )
        await self.session.execute(statement)

    async def unlink_vehicle(self, regnum: str, customer_id: str, at: datetime) -> None:
        row = (
            await self.session.execute(
                select(customer_vehicles).where(customer_vehicles.c.regnum == regnum)
            )
        ).first()
        if row is not None and row.customer_id not in (customer_id, None):
            return  # the vehicle is someone else's now: not this unlink's to undo
        await self.link_vehicle(regnum, None, at)

    async def put_token(self, id_token: str, customer_id: str, status: str, at: datetime) -> None:
        insert_ = self._insert(customer_tokens)
        statement = insert_.values(
            id_token=id_token, customer_id=customer_id, status=status, changed_at=at
        ).on_conflict_do_update(
            index_elements=["id_token"],
            set_={
                "customer_id": insert_.excluded.customer_id,
                "status": insert_.excluded.status,
                "changed_at": at,
            },
            where=insert_.excluded.changed_at > customer_tokens.c.changed_at,
        )
        await self.session.execute(statement)

    async def customer_of_tokens(self, tokens: Iterable[str]) -> str | None:
        for token in tokens:
            query = select(customer_tokens.c.customer_id).where(customer_tokens.c.id_token == token)
            found = (await self.session.execute(query)).scalar()
            if found is not None:
                return found
        return None

    async def customer_of_regnums(self, regnums: Iterable[str]) -> str | None:
        for regnum in regnums:
            query = select(customer_vehicles.c.customer_id).where(
                customer_vehicles.c.regnum == regnum
            )
            found = (await self.session.execute(query)).scalar()
            if found is not None:
                return found
        return None

    async def provider_customer_id(self, customer_id: str) -> str | None:
        query = select(customers.c.provider_customer_id).where(
            customers.c.customer_id == customer_id
        )
        return (await self.session.execute(query)).scalar()

    async def set_provider_customer_id(self, customer_id: str, pcid: str, at: datetime) -> None:
        await self.customer_seen(customer_id, at)
        await self.session.execute(
            update(customers)
            .where(customers.c.customer_id == customer_id)
            .values(provider_customer_id=pcid)
        )

    # --- invoices -------------------------------------------------------------------------

    async def add_invoice(self, row: dict[str, Any], lines: list[Line], now: datetime) -> None:
        defaults = {
            "visit_id": None,
            "note": None,
            "provider": None,
            "provider_customer_id": None,
            "provider_invoice_id": None,
            "hosted_url": None,
            "amount_paid_minor": None,
            "collect_attempts": 0,
            "declines": 0,
            "unavailable": 0,
            "next_attempt_at": None,
            "last_error": None,
            "issued_at": None,
            "paid_at": None,
            "created_at": now,
        }
        await self.session.execute(insert(invoices), {**defaults, **row})
        if lines:
            await self.add_lines(row["id"], 1, lines, now)

    async def add_lines(
        self, invoice_id: str, first_no: int, lines: list[Line], now: datetime
    ) -> None:
        await self.session.execute(
            insert(invoice_lines),
            [
                {
                    "invoice_id": invoice_id,
                    "line_no": first_no + i,
                    "kind": line.kind.value,
                    "description": line.description,
                    "amount_minor": line.amount_minor,
                    "quantity_note": line.quantity_note,
                    "session_id": line.session_id,
                    "created_at": now,
                }
                for i, line in enumerate(lines)
            ],
        )

    async def get_invoice(
        self, invoice_id: str, *, for_update: bool = False
    ) -> dict[str, Any] | None:
        query = select(invoices).where(invoices.c.id == invoice_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return None if row is None else _invoice_dict(row)

    async def invoice_by_provider_id(self, provider_invoice_id: str) -> dict[str, Any] | None:
        query = select(invoices).where(invoices.c.provider_invoice_id == provider_invoice_id)
        row = (await self.session.execute(query.with_for_update())).first()
        return None if row is None else _invoice_dict(row)

    async def lines_of(self, invoice_id: str) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id == invoice_id)
            .order_by(invoice_lines.c.line_no)
        )
        return [dict(r._mapping) for r in rows]

    async def attempts_of(self, invoice_id: str) -> list[dict[str, Any]]:
        rows = await self.session.execute(
            select(payment_attempts)
            .where(payment_attempts.c.invoice_id == invoice_id)
            .order_by(payment_attempts.c.id)
        )
        return [{**r._mapping, "at": as_utc(r.at)} for r in rows]

    async def update_invoice(self, invoice_id: str, **values: Any) -> None:
        await self.session.execute(
            update(invoices).where(invoices.c.id == invoice_id).values(values)
        )

    async def claim_invoice(self, invoice_id: str, seen: datetime | None, until: datetime) -> bool:
        """Take the invoice for a provider call until `until`, if nobody changed its schedule
        since we read it (another node, or a request, got there first otherwise)."""
        same = (
            invoices.c.next_attempt_at.is_(None)
            if seen is None
            else invoices.c.next_attempt_at == seen
        )
        result = await self.session.execute(
            update(invoices)
            .where(invoices.c.id == invoice_id, invoices.c.status == "open", same)
            .values(next_attempt_at=until)
        )
        return result.rowcount == 1

    async def add_attempt(
        self, invoice_id: str, attempt: int, source: str, status: str, at: datetime, **more: Any
    ) -> None:
        await self.session.execute(
            insert(payment_attempts),
            {
                "invoice_id": invoice_id,
                "attempt": attempt,
                "source": source,
                "status": status,
                "provider_ref": more.get("provider_ref"),
                "failure_code": _cut(more.get("failure_code"), 128),
                "failure_message": _cut(more.get("failure_message"), 500),
                "amount_minor": more.get("amount_minor"),
                "at": at,
            },
        )

    async def due_invoices(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        rows = await self.session.execute(
            select(invoices.c.id, invoices.c.next_attempt_at)
            .where(invoices.c.status == "open", invoices.c.next_attempt_at <= now)
            .order_by(invoices.c.next_attempt_at)
            .limit(limit)
        )
        return [(r.id, as_utc(r.next_attempt_at)) for r in rows]

    async def list_invoices(
        self,
        *,
        customer_id: str | None,
        status: str | None,
        since: datetime | None,
        until: datetime | None,
        after: int,
        limit: int,
    ) -> list[dict[str, Any]]:
        query = select(invoices).where(invoices.c.seq > after)
        if customer_id is not None:
            query = query.where(invoices.c.customer_id == customer_id)
        if status is not None:
            query = query.where(invoices.c.status == status)
        if since is not None:
            query = query.where(invoices.c.created_at >= since)
        if until is not None:
            query = query.where(invoices.c.created_at < until)
        rows = await self.session.execute(query.order_by(invoices.c.seq).limit(limit))
        return [_invoice_dict(r) for r in rows]

    async def next_line_no(self, invoice_id: str) -> int:
        query = select(func.coalesce(func.max(invoice_lines.c.line_no), 0)).where(
            invoice_lines.c.invoice_id == invoice_id
        )
        return int((await self.session.execute(query)).scalar() or 0) + 1

    async def net_of_lines(self, invoice_id: str) -> int:
        query = select(func.coalesce(func.sum(invoice_lines.c.amount_minor), 0)).where(
            invoice_lines.c.invoice_id == invoice_id
        )
        return int((await self.session.execute(query)).scalar() or 0)


_INVOICE_TIMES = ("created_at", "issued_at", "paid_at", "next_attempt_at")


def _invoice_dict(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    for k in _INVOICE_TIMES:
        found[k] = _utc(found[k])
    return found


def _cut(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]
