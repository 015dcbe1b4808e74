"""Park and leave on PostgreSQL, each in one statement with its history row and its event.

A park or leave through the unit of work is BEGIN, the reads, the slot's change, history and
outbox, COMMIT: four or five round trips, and on a loopback socket each costs the service more
CPU than the SQL it carries. Here the common case is one statement in an implicit transaction:

    WITH c AS (UPDATE slots ... RETURNING ...),            -- claim (or vacate) the slot
         h AS (INSERT INTO events_occupancy ... FROM c),    -- its history row
         o AS (INSERT INTO outbox ... FROM c)               -- its event
    SELECT ... FROM c

atomic by itself, so a crash loses the three together or none. The event is built and checked
against its schema in Python before the statement; the slot's own columns (slot_ui, level, the
bay's charger; for a leave also the vehicle and its arrival) come from the row the statement
changed and are spliced in by PostgreSQL.

When the statement changes nothing -- unknown lot, vehicle already in, event time before the
vehicle's previous event, lot full, every free slot being claimed this instant, nobody to leave --
nothing was written, and the use case runs its general path, which finds out why and answers
precisely (or waits for the contended slot). Only the common case needs to be fast.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import Table
from sqlalchemy.exc import DBAPIError

from chargepark import tracing
from chargepark.clock import as_utc
from chargepark.db import bulk
from chargepark.db.engine import Database
from chargepark.db.uow import outbox_row
from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event
from parking.domain import AlreadyParked, Fuel, Slot, Stay, Vehicle, VehicleKind
from parking.ports import ConnectionLost

# The event fields PostgreSQL fills from the changed row (the rest is built in Python).
_PARKED_FROM_ROW = ("level", "slot_ui", "charger_id", "connector_id")
_LEFT_FROM_ROW = (
    *_PARKED_FROM_ROW,
    *("regnum", "kind", "fuel", "arrived_at", "duration_sec"),
)
_SLOT_JSON = """'level', c.level, 'slot_ui', c.slot_ui::text,
        'charger_id', c.charger_id, 'connector_id', c.connector_id"""
# As Python's isoformat_utc writes it: microseconds only when there are some.
_UTC_ISO = """to_char(c.since AT TIME ZONE 'UTC', CASE WHEN date_trunc('second', c.since) = c.since
            THEN 'YYYY-MM-DD"T"HH24:MI:SS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END)"""
_DURATION = "GREATEST(0, trunc(extract(epoch FROM $4::timestamptz - c.since)))::int"


def _free(ev_bay: str, also: str = "") -> str:
    # The partial index of free slots (ix_slots_free) serves this, nearest first; a slot another
    # park is claiming this instant is passed by.
    return f"""(SELECT slot_ui FROM slots
        WHERE lot_id = $1 AND fits = $3 AND ev_bay = {ev_bay}
          AND regnum IS NULL AND in_service IS true{also}
        ORDER BY level_rank, slot_ui LIMIT 1 FOR UPDATE SKIP LOCKED)"""


def _park_sql(outbox: str) -> str:
    # $1 lot, $2 regnum, $3 kind, $4 fuel, $5 since, $6 is EV, $7 recorded at,
    # $8 event id, $9 the event's JSON without the slot's fields.
    # An EV prefers an EV bay, then a regular slot; an ICE vehicle a regular slot, then an EV
    # bay where the lot allows it. COALESCE looks for the second kind only when the first has
    # no free slot.
    return f"""
WITH c AS (
    UPDATE slots SET regnum = $2, kind = $3, fuel = $4, since = $5
    WHERE lot_id = $1 AND regnum IS NULL
      AND slot_ui = COALESCE(
        {_free("$6")},
        {_free("NOT $6", " AND ($6 OR (SELECT ev_bays_for_ice FROM lots WHERE id = $1))")}
      )
      AND NOT EXISTS (
        SELECT 1 FROM (
            SELECT action, ts FROM events_occupancy WHERE lot_id = $1 AND regnum = $2
            ORDER BY id DESC LIMIT 1
        ) AS p
        WHERE p.action = 'PARK' OR p.ts > $5
      )
    RETURNING slot_ui, level, ev_bay, charger_id, connector_id, since
), h AS (
    INSERT INTO events_occupancy (lot_id, action, ts, slot_ui, level, regnum, kind, fuel,
        ev_bay, charger_id, connector_id, arrived_at, duration_sec, recorded_at)
    SELECT $1, 'PARK', $5, c.slot_ui, c.level, $2, $3, $4,
        c.ev_bay, c.charger_id, c.connector_id, NULL, NULL, $7
    FROM c
), o AS (
    INSERT INTO {outbox} (event_id, event_type, payload, created_at, attempts)
    SELECT $8, 'VehicleParked',
        left($9, -1) || ',' || substr(json_build_object({_SLOT_JSON})::text, 2), $7, 0
    FROM c
)
SELECT slot_ui, level, ev_bay, charger_id, connector_id FROM c"""


def _leave_sql(outbox: str, by_regnum: bool, by_slot: bool) -> str:
    # $1 lot, $2 regnum, $3 slot_ui, $4 the leave's time, $5 recorded at, $6 event id,
    # $7 the event's JSON without the row's fields. The occupant is locked and re-checked
    # once locked, so of two leaves of one vehicle the second finds nothing.
    which = " AND regnum = $2" if by_regnum else " AND $2::text IS NULL"
    which += " AND slot_ui = $3" if by_slot else " AND $3::int IS NULL"
    return f"""
WITH c AS (
    UPDATE slots AS s SET regnum = NULL, kind = NULL, fuel = NULL, since = NULL
    FROM (
        SELECT lot_id, slot_ui, level, ev_bay, charger_id, connector_id, regnum, kind, fuel,
            since
        FROM slots
        WHERE lot_id = $1 AND regnum IS NOT NULL AND since <= $4{which}
        FOR UPDATE
    ) AS o
    WHERE s.lot_id = o.lot_id AND s.slot_ui = o.slot_ui
    RETURNING o.*
), h AS (
    INSERT INTO events_occupancy (lot_id, action, ts, slot_ui, level, regnum, kind, fuel,
        ev_bay, charger_id, connector_id, arrived_at, duration_sec, recorded_at)
    SELECT $1, 'LEAVE', $4, c.slot_ui, c.level, c.regnum, c.kind, c.fuel,
        c.ev_bay, c.charger_id, c.connector_id, c.since, {_DURATION}, $5
    FROM c
), o AS (
    INSERT INTO {outbox} (event_id, event_type, payload, created_at, attempts)
    SELECT $6, 'VehicleLeft',
        left($7, -1) || ',' || substr(json_build_object({_SLOT_JSON},
            'regnum', c.regnum, 'kind', c.kind, 'fuel', c.fuel,
            'arrived_at', {_UTC_ISO}, 'duration_sec', {_DURATION})::text, 2),
        $5, 0
    FROM c
)
SELECT slot_ui, level, ev_bay, charger_id, connector_id, regnum, kind, fuel, since FROM c"""


class SingleStatementParking:
    """`park_nearest` and `leave` of ParkingService's fast path (see the module's docstring)."""

    def __init__(self, db: Database, outbox: Table, on_commit: Any) -> None:
        self.db = db
        self._on_commit = on_commit
        name = outbox.name if outbox.schema is None else f"{outbox.schema}.{outbox.name}"
        self._park = _park_sql(name)
        self._leave = {(r, s): _leave_sql(name, r, s) for r in (True, False) for s in (True, False)}

    async def park_nearest(
        self, lot_id: str, vehicle: Vehicle, since: datetime, now: datetime
    ) -> Stay | None:
        """The vehicle parked in the nearest free slot that takes it, or None: nothing written."""
        draft = Stay(lot_id, _ANY_SLOT, vehicle, since).parked()
        event = _without(envelope_of(draft), _PARKED_FROM_ROW)
        row = await self._fetch(
            "park",
            self._park,
            lot_id,
            vehicle.regnum,
            vehicle.kind.value,
            vehicle.fuel.value,
            since,
            vehicle.fuel is Fuel.EV,
            now,
            event["event_id"],
            outbox_row(event, now)["payload"],
            regnum=vehicle.regnum,
        )
        if row is None:
            return None
        slot = Slot(
            slot_ui=row["slot_ui"],
            level=row["level"],
            level_rank=0,  # not needed once claimed
            fits=vehicle.kind,
            ev_bay=row["ev_bay"],
            charger_id=row["charger_id"],
            connector_id=row["connector_id"],
        )
        return Stay(lot_id, slot, vehicle, since)

    async def leave(
        self, lot_id: str, regnum: str | None, slot_ui: int | None, at: datetime, now: datetime
    ) -> Stay | None:
        """The stay that ended at `at` (its slot now free), or None: nothing written."""
        vehicle = Vehicle(regnum or "X", VehicleKind.CAR, Fuel.ICE)
        draft = Stay(lot_id, _ANY_SLOT, vehicle, at).left(at)
        event = _without(envelope_of(draft), _LEFT_FROM_ROW)
        statement = self._leave[(regnum is not None, slot_ui is not None)]
        row = await self._fetch(
            "leave",
            statement,
            lot_id,
            regnum,
            slot_ui,
            at,
            now,
            event["event_id"],
            outbox_row(event, now)["payload"],
        )
        if row is None:
            return None
        slot = Slot(
            slot_ui=row["slot_ui"],
            level=row["level"],
            level_rank=0,
            fits=VehicleKind(row["kind"]),
            ev_bay=row["ev_bay"],
            charger_id=row["charger_id"],
            connector_id=row["connector_id"],
        )
        left = Vehicle(row["regnum"], VehicleKind(row["kind"]), Fuel(row["fuel"]))
        return Stay(lot_id, slot, left, as_utc(row["since"]))

    async def _fetch(self, operation: str, sql: str, *args: Any, regnum: str | None = None) -> Any:
        assert self.db.driver is not None, "PostgreSQL only"
        try:
            async with self.db.driver.connection() as conn:
                if tracing.enabled:
                    with tracing.db_span("postgresql", sql, operation):
                        row = await conn.fetchrow(sql, *args)
                else:
                    row = await conn.fetchrow(sql, *args)
        except asyncpg.UniqueViolationError:
            # unique (lot, regnum): the same vehicle, parked by a request that committed first.
            raise AlreadyParked(regnum or "") from None
        except Exception as exc:
            if bulk.answered(exc) or not isinstance(exc, _LOST):
                raise
            # Lost before or while the statement ran. If PostgreSQL had committed it, the
            # general path that runs next finds the vehicle parked (or gone) and says so; it
            # never parks it twice.
            raise ConnectionLost("the database connection was lost") from exc
        if row is not None:
            self._on_commit()
        return row


_LOST = (
    ConnectionError,
    OSError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,  # a connection the server cut off unasked
    asyncpg.PostgresError,  # FATAL: the backend was terminated
    DBAPIError,  # no connection to be had from the pool
)


# Stands in for the slot until PostgreSQL knows it: the draft event's slot fields are dropped
# and filled from the changed row, so none of these values is ever written.
_ANY_SLOT = Slot(slot_ui=1, level="-", level_rank=0, fits=VehicleKind.CAR, ev_bay=False)


def _without(event: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    validate_event(event)  # the whole draft, so every field built here is checked
    return {k: v for k, v in event.items() if k not in fields}
