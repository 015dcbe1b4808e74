"""Ingestion's writes in SQL (ops.ports.FactStore) and lot capacities: upserts keyed by what a
fact is about, on PostgreSQL and SQLite alike (both speak INSERT ... ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.db.uow import UnitOfWork
from ops.adapters.rows import invoice_of, session_of
from ops.domain.capacity import SlotCount
from ops.domain.energy import ChargerLoad, Refusal, SiteLoad
from ops.domain.facts import InvoiceFact, Reading, SessionFact, StatusFact, StayFact
from ops.store import (
    PER_PHASE,
    charger_loads,
    chargers,
    connectors,
    invoices,
    lot_capacity,
    meter_readings,
    sessions,
    site_loads,
    sites,
    smart_charging_refusals,
    status_changes,
    stays,
    totals,
)


def _stay_row(stay: StayFact) -> dict[str, Any]:
    return {
        "lot_id": stay.lot_id,
        "slot_ui": stay.slot_ui,
        "arrived_at": stay.arrived_at,
        "level": stay.level,
        "regnum": stay.regnum,
        "ev_bay": stay.ev_bay,
        "charger_id": stay.charger_id,
        "connector_id": stay.connector_id,
    }


def _session_row(session: SessionFact) -> dict[str, Any]:
    return {
        "session_id": session.session_id,
        "charger_id": session.charger_id,
        "evse_id": session.evse_id,
        "connector_id": session.connector_id,
        "started_at": session.started_at,
    }


class SqlFacts:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    def _insert(self, table: Any) -> Any:
        return (postgresql if self.uow.db.dialect == "postgresql" else sqlite).insert(table)

    async def stay_arrived(self, stay: StayFact) -> None:
        insert = self._insert(stays)
        statement = insert.values(_stay_row(stay)).on_conflict_do_update(
            index_elements=["lot_id", "slot_ui", "arrived_at"],
            set_={k: insert.excluded[k] for k in ("level", "regnum", "ev_bay")},
        )
        await self.uow.session.execute(statement)

    async def stay_left(self, stay: StayFact) -> None:
        insert = self._insert(stays)
        row = _stay_row(stay) | {"left_at": stay.left_at}
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["lot_id", "slot_ui", "arrived_at"],
            set_={"left_at": insert.excluded.left_at},
        )
        await self.uow.session.execute(statement)

    async def status_changed(self, change: StatusFact) -> None:
        row = {
            "charger_id": change.charger_id,
            "evse_id": change.evse_id,
            "connector_id": change.connector_id,
            "status": change.status,
            "error_code": change.error_code,
        }
        await self.uow.session.execute(status_changes.insert().values(row | {"ts": change.at}))
        insert = self._insert(connectors)
        columns = ("connector_id", "status", "error_code", "status_at")
        statement = insert.values(row | {"status_at": change.at}).on_conflict_do_update(
            index_elements=["charger_id", "evse_id"],
            set_={k: insert.excluded[k] for k in columns},
            where=insert.excluded.status_at > connectors.c.status_at,
        )
        await self.uow.session.execute(statement)

    async def session_started(self, session: SessionFact) -> None:
        insert = self._insert(sessions)
        row = _session_row(session) | {"meter_start_wh": session.meter_start_wh}
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: insert.excluded[k] for k in ("started_at", "meter_start_wh")},
        )
        await self.uow.session.execute(statement)

    async def session_closed(self, session: SessionFact) -> None:
        insert = self._insert(sessions)
        row = _session_row(session) | {
            "ended_at": session.ended_at,
            "energy_wh": session.energy_wh,
        }
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: insert.excluded[k] for k in ("ended_at", "energy_wh")},
        )
        await self.uow.session.execute(statement)

    async def session(self, session_id: str) -> SessionFact:
        query = select(sessions).where(sessions.c.session_id == session_id)
        return session_of((await self.uow.session.execute(query)).one())

    async def add_readings(self, readings: list[Reading]) -> None:
        if not readings:
            return
        rows = [
            {
                "charger_id": r.charger_id,
                "evse_id": r.evse_id,
                "read_at": r.read_at,
                "energy_wh": r.energy_wh,
            }
            for r in readings
        ]
        statement = self._insert(meter_readings).on_conflict_do_nothing()
        await self.uow.session.execute(statement, rows)

    async def seen(self, last_seen: Mapping[str, datetime]) -> None:
        if not last_seen:
            return
        insert = self._insert(chargers)
        statement = insert.on_conflict_do_update(
            index_elements=["charger_id"],
            set_={"last_seen": insert.excluded.last_seen},
            where=insert.excluded.last_seen > chargers.c.last_seen,
        )
        rows = [{"charger_id": k, "last_seen": v} for k, v in sorted(last_seen.items())]
        await self.uow.session.execute(statement, rows)

    async def invoice(self, invoice_id: str) -> InvoiceFact | None:
        query = select(invoices).where(invoices.c.invoice_id == invoice_id)
        row = (await self.uow.session.execute(query)).first()
        return None if row is None else invoice_of(row)

    async def invoice_issued(
        self, invoice_id: str, currency: str, total: int, at: datetime
    ) -> None:
        await self._invoice(invoice_id, currency, {"total_minor": total, "issued_at": at})

    async def invoice_paid(self, invoice_id: str, currency: str, amount: int, at: datetime) -> None:
        await self._invoice(invoice_id, currency, {"amount_paid_minor": amount, "paid_at": at})

    async def _invoice(self, invoice_id: str, currency: str, values: dict[str, Any]) -> None:
        insert = self._insert(invoices)
        row = {"invoice_id": invoice_id, "currency": currency, **values}
        statement = insert.values(row).on_conflict_do_update(
            index_elements=["invoice_id"],
            set_={k: insert.excluded[k] for k in values},
        )
        await self.uow.session.execute(statement)

    async def add_total(self, name: str, currency: str, value: int) -> None:
        insert = self._insert(totals)
        statement = insert.values(name=name, currency=currency, value=value).on_conflict_do_update(
            index_elements=["name", "currency"],
            set_={"value": totals.c.value + insert.excluded.value},
        )
        await self.uow.session.execute(statement)

    async def site_load(self, site: SiteLoad, lines: list[ChargerLoad]) -> None:
        row: dict[str, Any] = {
            "site_id": site.site_id,
            "ts": site.at,
            "phases": site.phases,
            "voltage": site.voltage,
            "power_kw": site.power_kw,
            "limit_kw": site.limit_kw,
            "allocated_kw": site.allocated_kw,
        }
        for name in PER_PHASE:
            for n, value in enumerate(getattr(site, name), 1):
                row[f"{name}_l{n}"] = value
        session = self.uow.session
        await session.execute(self._insert(site_loads).values(row).on_conflict_do_nothing())
        insert = self._insert(sites)
        await session.execute(
            insert.values(site_id=site.site_id, last_at=site.at).on_conflict_do_update(
                index_elements=["site_id"],
                set_={"last_at": insert.excluded.last_at},
                where=insert.excluded.last_at > sites.c.last_at,
            )
        )
        if lines:
            rows = [
                {
                    "charger_id": c.charger_id,
                    "evse_id": c.evse_id,
                    "ts": c.at,
                    "site_id": c.site_id,
                    "limit_amps": c.limit_amps,
                    "drawn_amps": c.drawn_amps,
                    "paused": c.paused,
                }
                for c in lines
            ]
            await session.execute(self._insert(charger_loads).on_conflict_do_nothing(), rows)

    async def smart_charging_refused(self, refusal: Refusal) -> None:
        row = {
            "charger_id": refusal.charger_id,
            "ts": refusal.at,
            "site_id": refusal.site_id,
            "reason": refusal.reason,
        }
        statement = self._insert(smart_charging_refusals).values(row).on_conflict_do_nothing()
        await self.uow.session.execute(statement)


class SqlCapacities:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def replace(self, lot_id: str, counts: list[SlotCount], now: datetime) -> None:
        await self.uow.session.execute(delete(lot_capacity).where(lot_capacity.c.lot_id == lot_id))
        await self.uow.session.execute(
            insert(lot_capacity),
            [
                {
                    "lot_id": lot_id,
                    "level": c.level,
                    "ev_bay": c.ev_bay,
                    "slots": c.slots,
                    "updated_at": now,
                }
                for c in counts
            ],
        )
