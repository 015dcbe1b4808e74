"""Reads of the parking service: lot summaries, slot status (with the EV bays' charging state),
history and occupancy over time. Plain queries outside any unit of work; large results are
streamed from a server-side cursor rather than loaded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, case, func, select

from chargepark.clock import Clock, as_utc
from chargepark.db.engine import Database
from parking.domain import UnknownLot
from parking.store import (
    charging_sessions,
    connector_status,
    energy_readings,
    events_occupancy,
    lots,
    slots,
)

STREAM_BATCH = 1000


@dataclass(frozen=True)
class Capacity:
    total: int  # slots, in service or not
    in_service: int
    occupied: int
    occupied_in_service: int = 0  # a vehicle may stay in a slot put out of service

    @property
    def free(self) -> int:
        """In-service slots without a vehicle: what allocation can still hand out."""
        return self.in_service - self.occupied_in_service

    @property
    def percent(self) -> float:
        return round(100 * self.occupied / self.in_service, 1) if self.in_service else 0.0


@dataclass(frozen=True)
class StatusFilter:
    level: str | None = None
    kind: str | None = None  # the slot's kind
    state: str | None = None  # free | occupied
    ev_only: bool = False


@dataclass(frozen=True)
class HistoryFilter:
    since: datetime | None = None  # ts >= since
    until: datetime | None = None  # ts < until
    regnum: str | None = None


class ParkingQueries:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def lots(self) -> list[tuple[dict[str, Any], Capacity]]:
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(select(lots).order_by(lots.c.id))).all()
            counts = {r.lot_id: r for r in await conn.execute(_capacity_query())}
        return [(dict(r._mapping), _capacity(counts.get(r.id))) for r in rows]

    async def capacity(self, lot_id: str) -> Capacity:
        async with self.db.engine.connect() as conn:
            await lot_must_exist(conn, lot_id)
            row = (await conn.execute(_capacity_query().where(slots.c.lot_id == lot_id))).first()
        return _capacity(row)

    async def require_lot(self, lot_id: str) -> None:
        async with self.db.engine.connect() as conn:
            await lot_must_exist(conn, lot_id)

    async def status(self, lot_id: str, where: StatusFilter) -> list[dict[str, Any]]:
        """One row per slot, nearest first: the slot and who is in it (regnum null when free)."""
        async with self.db.engine.connect() as conn:
            await lot_must_exist(conn, lot_id)
            rows = [status_row(r) for r in await conn.execute(status_query(lot_id, where))]
            if where.ev_only and rows:
                await _add_charging_state(conn, rows)
        return rows

    async def history(
        self, lot_id: str, where: HistoryFilter, limit: int, after_id: int
    ) -> list[dict[str, Any]]:
        query = history_query(lot_id, where).where(events_occupancy.c.id > after_id).limit(limit)
        async with self.db.engine.connect() as conn:
            await lot_must_exist(conn, lot_id)
            return [history_row(r) for r in await conn.execute(query)]

    async def stream(self, query: Select[Any]) -> AsyncIterator[Any]:
        """Rows of `query` a batch at a time from a server-side cursor: memory stays bounded
        whatever the size of the result."""
        async with self.db.engine.connect() as conn:
            result = await conn.stream(query.execution_options(yield_per=STREAM_BATCH))
            async for partition in result.partitions(STREAM_BATCH):
                for row in partition:
                    yield row

    async def occupancy_series(
        self, lot_id: str, since: datetime, until: datetime, bucket_sec: int
    ) -> tuple[Capacity, list[dict[str, Any]]]:
        """Per bucket of [since, until): the time-weighted mean and the peak number of vehicles
        parked, from the history's event times, as counts and as a percent of the slots in
        service now."""
        capacity = await self.capacity(lot_id)
        async with self.db.engine.connect() as conn:
            before = (
                await conn.execute(
                    select(
                        func.count().filter(events_occupancy.c.action == "PARK"),
                        func.count().filter(events_occupancy.c.action == "LEAVE"),
                    ).where(events_occupancy.c.lot_id == lot_id, events_occupancy.c.ts < since)
                )
            ).one()
        series = OccupancySeries(since, until, bucket_sec, max(0, before[0] - before[1]))
        query = (
            select(events_occupancy.c.ts, events_occupancy.c.action)
            .where(
                events_occupancy.c.lot_id == lot_id,
                events_occupancy.c.ts >= since,
                events_occupancy.c.ts < until,
            )
            .order_by(events_occupancy.c.ts, events_occupancy.c.id)
        )
        async for row in self.stream(query):
            series.add(as_utc(row.ts), +1 if row.action == "PARK" else -1)
        return capacity, series.buckets(capacity.in_service)


class OccupancySeries:
    """Integrates the number of parked vehicles over time, bucket by bucket."""

    def __init__(self, since: datetime, until: datetime, bucket_sec: int, start: int) -> None:
        self.since, self.until, self.step = since, until, timedelta(seconds=bucket_sec)
        self.count = start
        self.at = since
        count = max(1, -(-int((until - since).total_seconds()) // bucket_sec))
        self.area = [0.0] * count  # vehicle-seconds per bucket
        self.peak = [0] * count

    def add(self, at: datetime, delta: int) -> None:
        self._advance(at)
        self.count = max(0, self.count + delta)
        index = self._index(at)
        self.peak[index] = max(self.peak[index], self.count)

    def buckets(self, in_service: int) -> list[dict[str, Any]]:
        self._advance(self.until)
        out = []
        for i, area in enumerate(self.area):
            start = self.since + i * self.step
            end = min(start + self.step, self.until)
            mean = area / max(1e-9, (end - start).total_seconds())
            out.append(
                {
                    "from": start,
                    "to": end,
                    "mean_occupied": round(mean, 2),
                    "peak_occupied": self.peak[i],
                    "mean_percent": round(100 * mean / in_service, 1) if in_service else 0.0,
                    "peak_percent": (
                        round(100 * self.peak[i] / in_service, 1) if in_service else 0.0
                    ),
                }
            )
        return out

    def _index(self, at: datetime) -> int:
        return min(len(self.area) - 1, int((at - self.since) / self.step))

    def _advance(self, to: datetime) -> None:
        # Credit the current count to every bucket the time from the last event to `to` passes
        # through; each such bucket saw at least that many vehicles.
        last = len(self.area) - 1
        while self.at < to:
            index = self._index(self.at)
            edge = min(to, self.since + (index + 1) * self.step) if index < last else to
            self.peak[index] = max(self.peak[index], self.count)
            self.area[index] += self.count * (edge - self.at).total_seconds()
            self.at = edge


def status_query(lot_id: str, where: StatusFilter) -> Select[Any]:
    query = (
        select(
            slots.c.slot_ui,
            slots.c.level,
            slots.c.fits,
            slots.c.ev_bay,
            slots.c.in_service,
            slots.c.charger_id,
            slots.c.connector_id,
            slots.c.regnum,
            slots.c.kind,
            slots.c.fuel,
            slots.c.since,
        )
        .where(slots.c.lot_id == lot_id)
        .order_by(slots.c.level_rank, slots.c.slot_ui)
    )
    if where.level is not None:
        query = query.where(slots.c.level == where.level)
    if where.kind is not None:
        query = query.where(slots.c.fits == where.kind)
    if where.state == "free":
        query = query.where(slots.c.regnum.is_(None))
    elif where.state == "occupied":
        query = query.where(slots.c.regnum.is_not(None))
    if where.ev_only:
        query = query.where(slots.c.ev_bay.is_(True))
    return query


def history_query(lot_id: str, where: HistoryFilter) -> Select[Any]:
    query = select(events_occupancy).where(events_occupancy.c.lot_id == lot_id)
    if where.since is not None:
        query = query.where(events_occupancy.c.ts >= where.since)
    if where.until is not None:
        query = query.where(events_occupancy.c.ts < where.until)
    if where.regnum is not None:
        query = query.where(events_occupancy.c.regnum == where.regnum)
    return query.order_by(events_occupancy.c.id)


def history_row(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "action": row.action,
        "ts": as_utc(row.ts),
        "slot_ui": row.slot_ui,
        "level": row.level,
        "regnum": row.regnum,
        "kind": row.kind,
        "fuel": row.fuel,
        "ev_bay": bool(row.ev_bay),
        "charger_id": row.charger_id,
        "connector_id": row.connector_id,
        "arrived_at": as_utc(row.arrived_at) if row.arrived_at is not None else None,
        "duration_sec": row.duration_sec,
        "recorded_at": as_utc(row.recorded_at),
    }


def status_row(row: Any) -> dict[str, Any]:
    return {
        "slot_ui": row.slot_ui,
        "level": row.level,
        "fits": row.fits,
        "ev_bay": bool(row.ev_bay),
        "in_service": bool(row.in_service),
        "charger_id": row.charger_id,
        "connector_id": row.connector_id,
        "regnum": row.regnum,
        "kind": row.kind,
        "fuel": row.fuel,
        "since": as_utc(row.since) if row.since is not None else None,
    }


async def _add_charging_state(conn: Any, rows: list[dict[str, Any]]) -> None:
    """What csms last told us of each bay's connector: status, the active session and the
    kWh it has drawn so far (newest energy register - the session's start register)."""
    chargers = sorted({r["charger_id"] for r in rows})
    status = {
        (s.charger_id, s.evse_id): s
        for s in await conn.execute(
            select(connector_status).where(connector_status.c.charger_id.in_(chargers))
        )
    }
    active: dict[tuple[str, int], Any] = {}
    query = (
        select(charging_sessions)
        .where(
            charging_sessions.c.charger_id.in_(chargers),
            charging_sessions.c.ended_at.is_(None),
            charging_sessions.c.started_at.is_not(None),
        )
        .order_by(charging_sessions.c.started_at)
    )
    for s in await conn.execute(query):
        active[(s.charger_id, s.evse_id)] = s  # the newest start wins
    energy = {
        (e.charger_id, e.evse_id): e
        for e in await conn.execute(
            select(energy_readings).where(energy_readings.c.charger_id.in_(chargers))
        )
    }
    for row in rows:
        key = (row["charger_id"], row["connector_id"])
        st, session = status.get(key), active.get(key)
        row["connector_status"] = st.status if st else None
        row["status_at"] = as_utc(st.status_at) if st else None
        row["session_active"] = session is not None
        row["session_id"] = session.session_id if session else None
        row["session_regnum"] = session.regnum if session else None
        row["kwh"] = _kwh_so_far(session, energy.get(key))


def _kwh_so_far(session: Any, reading: Any) -> str | None:
    if session is None or reading is None or session.meter_start_wh is None:
        return None
    if as_utc(reading.read_at) < as_utc(session.started_at):
        return None  # the newest reading is from before this session
    wh = reading.energy_wh - session.meter_start_wh
    if wh < 0:
        return None  # a meter reset or swap: csms works the figure out at the close
    return str((Decimal(wh) / 1000).quantize(Decimal("0.001")))


def _capacity_query() -> Select[Any]:
    occupied = slots.c.regnum.is_not(None)
    return select(
        slots.c.lot_id,
        func.count().label("total"),
        func.sum(case((slots.c.in_service.is_(True), 1), else_=0)).label("in_service"),
        func.sum(case((occupied, 1), else_=0)).label("occupied"),
        func.sum(case((and_(occupied, slots.c.in_service.is_(True)), 1), else_=0)).label(
            "occupied_in_service"
        ),
    ).group_by(slots.c.lot_id)


def _capacity(row: Any) -> Capacity:
    if row is None:
        return Capacity(0, 0, 0, 0)
    return Capacity(
        int(row.total),
        int(row.in_service or 0),
        int(row.occupied or 0),
        int(row.occupied_in_service or 0),
    )


async def lot_must_exist(conn: Any, lot_id: str) -> None:
    if (await conn.execute(select(lots.c.id).where(lots.c.id == lot_id))).first() is None:
        raise UnknownLot(lot_id)
