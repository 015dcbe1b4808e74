"""The charger registry's SQL store: chargers and their connectors, and the hot path's
batched statements over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from chargepark.clock import as_utc
from chargepark.db import bulk
from chargepark.db.uow import UnitOfWork
from csms.adapters.tables import chargers, connectors
from csms.domain.chargers import Charger, ChargerExists, Connector, Registration, UnknownCharger

_FIELDS = [c.name for c in chargers.columns]
_TIMES = ("created_at", "updated_at", "last_boot_at", "last_seen_at")
_BOOT_FIELDS = (
    "vendor",
    "model",
    "serial_number",
    "firmware_version",
    "ocpp_version",
    "last_boot_at",
    "last_seen_at",
    "updated_at",
)
# Built once: compiling a statement costs more than executing it for a small batch.
_SAVE_BOOTS = (
    update(chargers)
    .where(chargers.c.id == bindparam("charger_id"))
    .values({name: bindparam(name) for name in _BOOT_FIELDS})
)


def _upsert_connectors(insert_of: Any) -> Any:
    statement = insert_of(connectors)
    return statement.on_conflict_do_update(
        index_elements=["charger_id", "evse_id", "connector_id"],
        set_={
            name: statement.excluded[name] for name in ("status", "error_code", "info", "status_at")
        },
    )


_SAVE_CONNECTORS = {
    "postgresql": _upsert_connectors(pg_insert),
    "sqlite": _upsert_connectors(sqlite_insert),
}


# PostgreSQL, for the status writer: one statement for a batch's connector states and their
# events (a data-modifying WITH runs to completion whatever the main statement reads).
_SAVE_STATUSES_WITH_EVENTS = """
WITH c AS (
    INSERT INTO connectors (charger_id, evse_id, connector_id, status, error_code, info, status_at)
    SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[], $6::text[],
                         $7::timestamptz[])
    ON CONFLICT (charger_id, evse_id, connector_id) DO UPDATE SET
        status = excluded.status, error_code = excluded.error_code, info = excluded.info,
        status_at = excluded.status_at
)
INSERT INTO {outbox} (event_id, event_type, payload, created_at, attempts)
SELECT e, t, p, $11::timestamptz, 0 FROM unnest($8::text[], $9::text[], $10::text[]) AS u(e, t, p)
"""
_CONNECTOR_STATES = """
SELECT c.id, n.evse_id, n.connector_id, n.status, n.error_code, n.info, n.status_at
FROM chargers c LEFT JOIN connectors n ON n.charger_id = c.id
WHERE c.id = ANY($1::text[])
"""


async def connector_states(
    engine: AsyncEngine, ids: Sequence[str]
) -> dict[str, dict[tuple[int, int], Connector]]:
    """PostgreSQL: `SqlChargerRepository.connector_states` in one statement, no transaction."""
    async with bulk.driver_connection(engine) as (_, raw):
        rows = await raw.fetch(_CONNECTOR_STATES, list(ids))
    states: dict[str, dict[tuple[int, int], Connector]] = {}
    for charger_id, evse_id, connector_id, status, error_code, info, status_at in rows:
        state = states.setdefault(charger_id, {})
        if evse_id is not None:
            state[(evse_id, connector_id)] = Connector(
                evse_id, connector_id, status, error_code, info, as_utc(status_at)
            )
    return states


async def save_statuses_with_events(
    engine: AsyncEngine,
    states: Sequence[tuple[str, Connector]],
    outbox: Table,
    events: Sequence[Mapping[str, Any]],
) -> None:
    """PostgreSQL: upsert connector states and insert their events' outbox rows (`outbox_row`s,
    one `created_at`) in one statement: both commit, or neither. At most one state per
    connector (a statement may not update the same row twice)."""
    async with bulk.driver_connection(engine) as (conn, raw):
        await raw.execute(
            _SAVE_STATUSES_WITH_EVENTS.format(
                outbox=conn.dialect.identifier_preparer.format_table(outbox)
            ),
            [charger_id for charger_id, _ in states],
            [c.evse_id for _, c in states],
            [c.connector_id for _, c in states],
            [c.status for _, c in states],
            [c.error_code for _, c in states],
            [c.info for _, c in states],
            [c.status_at for _, c in states],
            [e["event_id"] for e in events],
            [e["event_type"] for e in events],
            [e["payload"] for e in events],
            events[0]["created_at"] if events else None,
        )


class SqlChargerRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def find(self, charger_id: str, *, for_update: bool = False) -> Charger | None:
        query = select(chargers).where(chargers.c.id == charger_id)
        if for_update:
            query = query.with_for_update()
        row = (await self.uow.session.execute(query)).first()
        if row is None:
            return None
        charger = _charger(row._mapping)
        rows = await self.uow.session.execute(
            select(connectors).where(connectors.c.charger_id == charger_id)
        )
        for c in rows:
            charger.connectors[(c.evse_id, c.connector_id)] = Connector(
                c.evse_id, c.connector_id, c.status, c.error_code, c.info, as_utc(c.status_at)
            )
        return charger

    async def get(self, charger_id: str, *, for_update: bool = False) -> Charger:
        charger = await self.find(charger_id, for_update=for_update)
        if charger is None:
            raise UnknownCharger(f"no charger {charger_id!r}")
        return charger

    async def add(self, charger: Charger) -> None:
        try:
            async with self.uow.session.begin_nested():
                await self.uow.session.execute(insert(chargers), _row(charger))
        except IntegrityError:
            raise ChargerExists(f"charger {charger.id!r} is registered already") from None

    async def credentials(self, ids: Sequence[str]) -> dict[str, str | None]:
        """Password hash (None: no password) of each registered charger among `ids`."""
        rows = await self.uow.session.execute(
            select(chargers.c.id, chargers.c.password_hash).where(chargers.c.id.in_(list(ids)))
        )
        return {row.id: row.password_hash for row in rows}

    async def connector_states(
        self, ids: Sequence[str]
    ) -> dict[str, dict[tuple[int, int], Connector]]:
        """The connectors of each registered charger among `ids`, in one query. No row lock
        (each one costs PostgreSQL a WAL record): a charger sends its next report only once
        the last one is answered, the status writer keeps one charger's reports in order, and
        a charger deleted meanwhile fails its connector write on the foreign key."""
        query = (
            select(chargers.c.id, *[c for c in connectors.c if c.name != "charger_id"])
            .select_from(chargers.outerjoin(connectors, connectors.c.charger_id == chargers.c.id))
            .where(chargers.c.id.in_(sorted(set(ids))))
            .order_by(chargers.c.id)
        )
        states: dict[str, dict[tuple[int, int], Connector]] = {}
        for row in await self.uow.session.execute(query):
            state = states.setdefault(row.id, {})
            if row.evse_id is not None:
                state[(row.evse_id, row.connector_id)] = Connector(
                    row.evse_id,
                    row.connector_id,
                    row.status,
                    row.error_code,
                    row.info,
                    as_utc(row.status_at),
                )
        return states

    async def find_many(
        self, ids: Sequence[str], *, for_update: bool = False, with_connectors: bool = True
    ) -> dict[str, Charger]:
        """Many chargers in one query (and their connectors in one more). Rows are read, and
        locked, in id order, so concurrent batches lock in one order: no deadlocks."""
        query = select(chargers).where(chargers.c.id.in_(sorted(set(ids)))).order_by(chargers.c.id)
        if for_update:
            query = query.with_for_update()
        found = {row.id: _charger(row._mapping) for row in await self.uow.session.execute(query)}
        if found and with_connectors:
            rows = await self.uow.session.execute(
                select(connectors).where(connectors.c.charger_id.in_(list(found)))
            )
            for c in rows:
                found[c.charger_id].connectors[(c.evse_id, c.connector_id)] = Connector(
                    c.evse_id, c.connector_id, c.status, c.error_code, c.info, as_utc(c.status_at)
                )
        return found

    async def save(self, charger: Charger) -> None:
        """The charger's own row; its connectors are written by `save_connectors`."""
        await self.uow.session.execute(
            update(chargers).where(chargers.c.id == charger.id).values(_row(charger))
        )

    async def save_boots(self, booted: Sequence[Charger]) -> None:
        """What a BootNotification changes, for many chargers in one executemany."""
        if booted:
            conn = await self.uow.session.connection()
            await conn.execute(
                _SAVE_BOOTS,
                [
                    {"charger_id": c.id, **{name: getattr(c, name) for name in _BOOT_FIELDS}}
                    for c in booted
                ],
            )

    async def add_many(self, new: Sequence[Charger]) -> None:
        if new:
            conn = await self.uow.session.connection()
            await conn.execute(insert(chargers), [_row(c) for c in new])

    async def save_connectors(self, rows: Sequence[tuple[str, Connector]]) -> None:
        """Insert or update connector states, one statement for the batch. At most one row per
        connector: a statement may not update the same row twice."""
        if not rows:
            return
        statement = _SAVE_CONNECTORS[self.uow.db.dialect]
        conn = await self.uow.session.connection()
        await bulk.executemany(
            conn,
            statement,
            [
                {
                    "charger_id": charger_id,
                    "evse_id": c.evse_id,
                    "connector_id": c.connector_id,
                    "status": c.status,
                    "error_code": c.error_code,
                    "info": c.info,
                    "status_at": c.status_at,
                }
                for charger_id, c in rows
            ],
        )

    async def remove(self, charger_id: str) -> None:
        await self.uow.session.execute(
            delete(connectors).where(connectors.c.charger_id == charger_id)
        )
        result = await self.uow.session.execute(delete(chargers).where(chargers.c.id == charger_id))
        if cast(CursorResult[Any], result).rowcount == 0:
            raise UnknownCharger(f"no charger {charger_id!r}")

    async def page(self, limit: int, offset: int) -> tuple[Sequence[Charger], int]:
        total = await self.uow.session.scalar(select(func.count()).select_from(chargers))
        rows = await self.uow.session.execute(
            select(chargers.c.id).order_by(chargers.c.id).limit(limit).offset(offset)
        )
        return [await self.get(r.id) for r in rows], int(total or 0)

    async def touch(self, seen: Mapping[str, datetime]) -> None:
        """Record last-seen times: one executemany for the whole batch, not a round trip per
        charger (measured: per-row updates stalled status messages for 250-460 ms at 1,000
        chargers every flush)."""
        if not seen:
            return
        conn = await self.uow.session.connection()
        await conn.execute(
            update(chargers)
            .where(chargers.c.id == bindparam("charger_id"))
            .values(last_seen_at=bindparam("seen_at")),
            # In id order, the order boots lock the same rows in: no deadlock between them.
            [{"charger_id": cid, "seen_at": seen[cid]} for cid in sorted(seen)],
        )


def _row(charger: Charger) -> dict[str, Any]:
    row = {name: getattr(charger, name) for name in _FIELDS}
    row["registration"] = str(charger.registration)
    return row


def _charger(row: Any) -> Charger:
    values = dict(row)
    for name in _TIMES:
        if values[name] is not None:
            values[name] = as_utc(values[name])
    values["registration"] = Registration(values["registration"])
    return Charger(**values)
