"""Reads of the ops service: occupancy now and over time, a charger's metrics, the fleet summary,
the facts an alert rule is evaluated on, and the small snapshot behind the Prometheus gauges.

Time buckets are computed in SQL where rows are only counted or summed (arrivals, energy), on
PostgreSQL and SQLite alike (`bucket_of`); time-weighted figures (occupancy, status durations)
are integrated in Python from the rows of the period (ops.domain).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from chargepark.clock import Clock, as_utc
from chargepark.db.engine import Database
from chargepark.errors import NotFound
from ops import domain
from ops.domain import RuleData, RuleKind, RuleSpec, StatusChange, Stay
from ops.store import (
    chargers,
    connectors,
    incidents,
    invoices,
    lot_capacity,
    meter_readings,
    sessions,
    status_changes,
    stays,
    totals,
)

# A meter silent for longer than this before a period has no baseline reading in it: its first
# reading in the period starts the count (bounds the scan behind fleet-wide energy figures).
BASELINE_LOOKBACK = timedelta(days=7)


def epoch_of(column: Any, dialect: str) -> ColumnElement[Any]:
    """Whole seconds since 1970 of a timestamp column, truncated (not rounded)."""
    if dialect == "postgresql":
        return func.floor(func.extract("epoch", column))
    # SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC); strftime('%s') would round the fraction.
    return cast(func.strftime("%s", func.substr(column, 1, 19)), Integer)


def bucket_of(column: Any, since: datetime, bucket_sec: int, dialect: str) -> ColumnElement[Any]:
    """The index of the `bucket_sec` bucket from `since` (whole seconds) a timestamp falls in;
    for timestamps at or after `since`."""
    since_epoch = int(since.timestamp())
    if dialect == "postgresql":
        offset = func.extract("epoch", column) - since_epoch
        return cast(func.floor(offset / bucket_sec), Integer)
    # integer division: the floor, for the offsets >= 0 this is used on
    return cast(epoch_of(column, dialect) - since_epoch, Integer) // bucket_sec


@dataclass(frozen=True)
class Counts:
    occupied: int
    capacity: int | None

    def json(self) -> dict[str, Any]:
        return {
            "occupied": self.occupied,
            "capacity": self.capacity,
            "percent": domain.percent(self.occupied, self.capacity),
        }


class OpsQueries:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    @property
    def dialect(self) -> str:
        return self.db.dialect

    # --- occupancy ------------------------------------------------------------------------

    async def capacities(self, lot_id: str | None = None) -> dict[tuple[str, str, bool], int]:
        query = select(lot_capacity)
        if lot_id is not None:
            query = query.where(lot_capacity.c.lot_id == lot_id)
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(query)
            return {(r.lot_id, r.level, bool(r.ev_bay)): r.slots for r in rows}

    async def occupancy_now(self, lot_id: str | None = None) -> list[dict[str, Any]]:
        """Per lot (known from a stay or a capacity): vehicles parked now, per level and in the
        EV bays, with percentages where the capacity is known."""
        query = (
            select(stays.c.lot_id, stays.c.level, stays.c.ev_bay, func.count().label("n"))
            .where(stays.c.left_at.is_(None))
            .group_by(stays.c.lot_id, stays.c.level, stays.c.ev_bay)
        )
        known = select(stays.c.lot_id).distinct()
        if lot_id is not None:
            query = query.where(stays.c.lot_id == lot_id)
            known = known.where(stays.c.lot_id == lot_id)
        async with self.db.engine.connect() as conn:
            parked = {(r.lot_id, r.level, bool(r.ev_bay)): r.n for r in await conn.execute(query)}
            lot_ids = {r.lot_id for r in await conn.execute(known)}
        capacity = await self.capacities(lot_id)
        lot_ids |= {k[0] for k in capacity}
        return [lot_occupancy(lot, parked, capacity) for lot in sorted(lot_ids)]

    async def lot_capacity(self, lot_id: str, level: str | None, ev: bool | None) -> int | None:
        capacity = await self.capacities(lot_id)
        if not capacity:
            return None
        chosen = [
            v
            for (_, lv, bay), v in capacity.items()
            if (level is None or lv == level) and (ev is None or bay == ev)
        ]
        return sum(chosen) if chosen else None

    async def stays_between(
        self,
        since: datetime,
        until: datetime,
        *,
        lot_id: str | None = None,
        level: str | None = None,
        ev: bool | None = None,
        bays_only: bool = False,
    ) -> list[Stay]:
        """Stays that overlap [since, until), with their real arrival and departure times."""
        query = select(stays).where(
            stays.c.arrived_at < until,
            or_(stays.c.left_at.is_(None), stays.c.left_at > since),
        )
        if lot_id is not None:
            query = query.where(stays.c.lot_id == lot_id)
        if level is not None:
            query = query.where(stays.c.level == level)
        if ev is not None:
            query = query.where(stays.c.ev_bay == ev)
        if bays_only:
            query = query.where(stays.c.charger_id.is_not(None))
        async with self.db.engine.connect() as conn:
            return [stay_of(r) for r in await conn.execute(query)]

    async def movements(
        self, lot_id: str, since: datetime, until: datetime, bucket_sec: int, **where: Any
    ) -> dict[int, tuple[int, int]]:
        """Arrivals and departures per bucket index, counted in SQL."""
        filters = [stays.c.lot_id == lot_id]
        if where.get("level") is not None:
            filters.append(stays.c.level == where["level"])
        if where.get("ev") is not None:
            filters.append(stays.c.ev_bay == where["ev"])
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0])
        async with self.db.engine.connect() as conn:
            for index, column in enumerate((stays.c.arrived_at, stays.c.left_at)):
                bucket = bucket_of(column, since, bucket_sec, self.dialect).label("bucket")
                query = (
                    select(bucket, func.count().label("n"))
                    .where(*filters, column >= since, column < until)
                    .group_by(bucket)
                )
                for row in await conn.execute(query):
                    out[int(row.bucket)][index] += row.n
        return {k: (v[0], v[1]) for k, v in out.items()}

    async def occupancy_series(
        self,
        lot_id: str,
        since: datetime,
        until: datetime,
        bucket_sec: int,
        *,
        level: str | None = None,
        ev: bool | None = None,
    ) -> dict[str, Any]:
        found = await self.stays_between(since, until, lot_id=lot_id, level=level, ev=ev)
        capacity = await self.lot_capacity(lot_id, level, ev)
        moves = await self.movements(lot_id, since, until, bucket_sec, level=level, ev=ev)
        buckets = []
        for i, b in enumerate(domain.occupancy_buckets(found, since, until, bucket_sec)):
            arrivals, departures = moves.get(i, (0, 0))
            buckets.append(
                {
                    "from": b["from"],
                    "to": b["to"],
                    "mean_occupied": round(b["mean_occupied"], 2),
                    "peak_occupied": b["peak_occupied"],
                    "mean_percent": domain.percent(b["mean_occupied"], capacity),
                    "peak_percent": domain.percent(b["peak_occupied"], capacity),
                    "arrivals": arrivals,
                    "departures": departures,
                }
            )
        return {"capacity": capacity, "buckets": buckets}

    # --- chargers -------------------------------------------------------------------------

    async def status_changes(
        self, since: datetime, until: datetime, charger_id: str | None = None
    ) -> dict[str, list[StatusChange]]:
        """Per charger, the status changes in [since, until) and, per EVSE, the last one before
        `since` (the state the period starts in)."""
        c = status_changes.c
        last = select(c.charger_id, c.evse_id, func.max(c.ts).label("ts")).where(c.ts < since)
        inside = select(status_changes).where(c.ts >= since, c.ts < until)
        if charger_id is not None:
            last = last.where(c.charger_id == charger_id)
            inside = inside.where(c.charger_id == charger_id)
        last_sub = last.group_by(c.charger_id, c.evse_id).subquery()
        before = select(status_changes).join(
            last_sub,
            and_(
                c.charger_id == last_sub.c.charger_id,
                c.evse_id == last_sub.c.evse_id,
                c.ts == last_sub.c.ts,
            ),
        )
        out: dict[str, list[StatusChange]] = defaultdict(list)
        async with self.db.engine.connect() as conn:
            for query in (before, inside.order_by(c.ts, c.id)):
                for r in await conn.execute(query):
                    out[r.charger_id].append(
                        StatusChange(r.evse_id, r.status, as_utc(r.ts), r.error_code)
                    )
        return dict(out)

    async def energy_wh(
        self,
        since: datetime,
        until: datetime,
        *,
        charger_id: str | None = None,
        bucket_sec: int | None = None,
    ) -> dict[int, int]:
        """Wh delivered in (since, until]: the sum of each EVSE's register rises between
        readings, the last reading before the period as the baseline; per bucket index when
        `bucket_sec` is given, else all under index 0."""
        m = meter_readings.c
        scope = [m.charger_id == charger_id] if charger_id is not None else []
        last = (
            select(m.charger_id, m.evse_id, func.max(m.read_at).label("read_at"))
            .where(*scope, m.read_at <= since, m.read_at > since - BASELINE_LOOKBACK)
            .group_by(m.charger_id, m.evse_id)
            .subquery()
        )
        baseline = select(m.charger_id, m.evse_id, m.read_at, m.energy_wh).join(
            last,
            and_(
                m.charger_id == last.c.charger_id,
                m.evse_id == last.c.evse_id,
                m.read_at == last.c.read_at,
            ),
        )
        inside = select(m.charger_id, m.evse_id, m.read_at, m.energy_wh).where(
            *scope, m.read_at > since, m.read_at <= until
        )
        rows = union_all(baseline, inside).subquery()
        rise = (
            rows.c.energy_wh
            - func.lag(rows.c.energy_wh).over(
                partition_by=(rows.c.charger_id, rows.c.evse_id), order_by=rows.c.read_at
            )
        ).label("rise")
        lagged = select(rows.c.read_at, rise).subquery()
        bucket = (
            bucket_of(lagged.c.read_at, since, bucket_sec, self.dialect)
            if bucket_sec
            else literal(0)
        ).label("bucket")
        query = (
            select(bucket, func.sum(case((lagged.c.rise > 0, lagged.c.rise), else_=0)).label("wh"))
            .where(lagged.c.read_at > since)
            .group_by(bucket)
        )
        async with self.db.engine.connect() as conn:
            return {int(r.bucket): int(r.wh or 0) for r in await conn.execute(query)}

    async def charger_metrics(
        self, charger_id: str, since: datetime, until: datetime
    ) -> dict[str, Any]:
        async with self.db.engine.connect() as conn:
            seen = (
                await conn.execute(
                    select(chargers.c.last_seen).where(chargers.c.charger_id == charger_id)
                )
            ).scalar()
            now_rows = (
                await conn.execute(
                    select(connectors)
                    .where(connectors.c.charger_id == charger_id)
                    .order_by(connectors.c.evse_id)
                )
            ).all()
            s = sessions.c
            counts = (
                await conn.execute(
                    select(
                        func.count().filter(s.started_at >= since, s.started_at < until),
                        func.count().filter(s.ended_at >= since, s.ended_at < until),
                        func.count().filter(s.started_at < until, s.ended_at.is_(None)),
                    ).where(s.charger_id == charger_id)
                )
            ).one()
        if seen is None:
            raise NotFound(f"ops has heard nothing of charger {charger_id!r}")
        changes = (await self.status_changes(since, until, charger_id)).get(charger_id, [])
        per_evse = domain.connector_intervals(changes, since, until)
        time = domain.charger_time(per_evse)
        wh = (await self.energy_wh(since, until, charger_id=charger_id)).get(0, 0)
        faults = [
            {
                "evse_id": span.evse_id,
                "error_code": span.error_code,
                "from": span.start,
                "to": span.end if span.end < until else None,
                "seconds": round(span.seconds, 3),
            }
            for spans in per_evse.values()
            for span in spans
            if span.status == domain.FAULTED
        ]
        faults.sort(key=lambda f: (f["from"], f["evse_id"]))
        return {
            "charger_id": charger_id,
            "from": since,
            "to": until,
            "status": domain.charger_status(r.status for r in now_rows),
            "connectors": [
                {
                    "evse_id": r.evse_id,
                    "connector_id": r.connector_id,
                    "status": domain.category(r.status),
                    "reported_status": r.status,
                    "error_code": r.error_code,
                    "since": as_utc(r.status_at),
                }
                for r in now_rows
            ],
            "availability_percent": time.availability_percent,
            "uptime_percent": time.uptime_percent,
            "seconds_in_status": {k: round(v, 3) for k, v in time.seconds.items()},
            "sessions": {"started": counts[0], "ended": counts[1], "active": counts[2]},
            "energy_kwh": wh / 1000,
            "faults": faults,
            "fault_count": len(faults),
            "last_seen": as_utc(seen),
        }

    # --- the fleet ------------------------------------------------------------------------

    async def summary(self) -> dict[str, Any]:
        now = self.clock.now()
        today = now.replace(hour=0, minute=0, second=0, microsecond=0)
        async with self.db.engine.connect() as conn:
            statuses: dict[str, list[str]] = defaultdict(list)
            for r in await conn.execute(select(connectors.c.charger_id, connectors.c.status)):
                statuses[r.charger_id].append(r.status)
            s = sessions.c
            session_counts = (
                await conn.execute(
                    select(
                        func.count().filter(s.started_at >= today),
                        func.count().filter(s.ended_at.is_(None)),
                    )
                )
            ).one()
            i = invoices.c
            issued = await conn.execute(
                select(i.currency, func.count(), func.sum(i.total_minor))
                .where(i.issued_at >= today)
                .group_by(i.currency)
            )
            issued_today = {r[0]: (r[1], int(r[2] or 0)) for r in issued}
            paid = await conn.execute(
                select(i.currency, func.count(), func.sum(i.amount_paid_minor))
                .where(i.paid_at >= today)
                .group_by(i.currency)
            )
            paid_today = {r[0]: (r[1], int(r[2] or 0)) for r in paid}
            open_incidents = (
                await conn.execute(
                    select(func.count()).select_from(incidents).where(incidents.c.state == "open")
                )
            ).scalar_one()
        by_status: dict[str, int] = dict.fromkeys((*domain.CATEGORIES, domain.UNKNOWN), 0)
        for values in statuses.values():
            by_status[domain.charger_status(values)] += 1
        lots = await self.occupancy_now()
        occupied = sum(lot["occupied"] for lot in lots)
        capacity = sum(lot["capacity"] or 0 for lot in lots)
        wh = (await self.energy_wh(today, now)).get(0, 0)
        currencies = sorted(set(issued_today) | set(paid_today))
        return {
            "at": now,
            "chargers": {
                "total": len(statuses),
                "online": len(statuses) - by_status[domain.OFFLINE],
                "faulted": by_status[domain.FAULTED],
                "by_status": by_status,
            },
            "occupancy": {
                "occupied": occupied,
                "capacity": capacity or None,
                "percent": domain.percent(occupied, capacity),
                "lots": len(lots),
            },
            "sessions": {"started_today": session_counts[0], "active": session_counts[1]},
            "energy_today_kwh": wh / 1000,
            "revenue_today": [
                {
                    "currency": cur,
                    "issued_count": issued_today.get(cur, (0, 0))[0],
                    "issued_minor": issued_today.get(cur, (0, 0))[1],
                    "paid_count": paid_today.get(cur, (0, 0))[0],
                    "paid_minor": paid_today.get(cur, (0, 0))[1],
                }
                for cur in currencies
            ],
            "incidents_open": open_incidents,
        }

    async def gauges(self) -> dict[str, Any]:
        """What the Prometheus gauges show: read from the small tables only (the newest status
        per connector, the stays still open, the active sessions, the running totals)."""
        async with self.db.engine.connect() as conn:
            statuses: dict[str, list[str]] = defaultdict(list)
            for r in await conn.execute(select(connectors.c.charger_id, connectors.c.status)):
                statuses[r.charger_id].append(r.status)
            active = (
                await conn.execute(
                    select(func.count()).select_from(sessions).where(sessions.c.ended_at.is_(None))
                )
            ).scalar_one()
            kept = [(r.name, r.currency, r.value) for r in await conn.execute(select(totals))]
            open_by_kind = {
                r[0]: r[1]
                for r in await conn.execute(
                    select(incidents.c.rule_kind, func.count())
                    .where(incidents.c.state == "open")
                    .group_by(incidents.c.rule_kind)
                )
            }
        lots = await self.occupancy_now()
        return {
            "connectors": [domain.category(s) for v in statuses.values() for s in v],
            "chargers": [domain.charger_status(v) for v in statuses.values()],
            "sessions_active": active,
            "lots": lots,
            "totals": kept,
            "incidents_open": open_by_kind,
        }

    # --- what a rule is evaluated on ----------------------------------------------------

    async def rule_data(self, spec: RuleSpec, since: datetime, now: datetime) -> RuleData:
        """The facts of [since, now], `now` included (the periods below exclude their end)."""
        until = now + timedelta(microseconds=1)
        data = RuleData()
        if spec.kind in (RuleKind.CHARGER_FAULTED, RuleKind.CHARGER_OFFLINE):
            data.status_changes = await self.status_changes(since, until, spec.charger_id)
        elif spec.kind is RuleKind.OCCUPANCY_HIGH:
            ev = True if spec.ev_only else None
            found = await self.stays_between(since, until, lot_id=spec.lot_id, ev=ev)
            by_lot: dict[str, list[Stay]] = defaultdict(list)
            for stay in found:
                by_lot[stay.lot_id].append(stay)
            data.stays_by_lot = dict(by_lot)
            capacity: dict[str, int] = defaultdict(int)
            for (lot, _level, bay), slots in (await self.capacities(spec.lot_id)).items():
                if bay or not spec.ev_only:
                    capacity[lot] += slots
            data.capacity_by_lot = dict(capacity)
        elif spec.kind is RuleKind.BAY_IDLE:
            found = await self.stays_between(since, until, bays_only=True)
            if spec.charger_id is not None:
                found = [s for s in found if s.charger_id == spec.charger_id]
            data.stays_by_lot = {"": found}
            data.sessions = await self.sessions_between(since, until, spec.charger_id)
        else:
            data.invoices = await self.unpaid_between(since, until)
        return data

    async def sessions_between(
        self, since: datetime, until: datetime, charger_id: str | None
    ) -> list[domain.SessionTime]:
        s = sessions.c
        query = select(s.charger_id, s.evse_id, s.started_at, s.ended_at).where(
            s.started_at < until, or_(s.ended_at.is_(None), s.ended_at > since)
        )
        if charger_id is not None:
            query = query.where(s.charger_id == charger_id)
        async with self.db.engine.connect() as conn:
            return [
                domain.SessionTime(
                    r.charger_id,
                    r.evse_id,
                    as_utc(r.started_at),
                    None if r.ended_at is None else as_utc(r.ended_at),
                )
                for r in await conn.execute(query)
            ]

    async def unpaid_between(self, since: datetime, until: datetime) -> list[domain.InvoiceTime]:
        i = invoices.c
        query = select(i.invoice_id, i.issued_at, i.paid_at).where(
            i.issued_at.is_not(None),
            i.issued_at < until,
            or_(i.paid_at.is_(None), i.paid_at > since),
        )
        async with self.db.engine.connect() as conn:
            return [
                domain.InvoiceTime(
                    r.invoice_id,
                    as_utc(r.issued_at),
                    None if r.paid_at is None else as_utc(r.paid_at),
                )
                for r in await conn.execute(query)
            ]


def stay_of(r: Any) -> Stay:
    return Stay(
        arrived_at=as_utc(r.arrived_at),
        left_at=None if r.left_at is None else as_utc(r.left_at),
        level=r.level,
        ev_bay=bool(r.ev_bay),
        charger_id=r.charger_id,
        connector_id=r.connector_id,
        lot_id=r.lot_id,
    )


def lot_occupancy(
    lot_id: str,
    parked: dict[tuple[str, str, bool], int],
    capacity: dict[tuple[str, str, bool], int],
) -> dict[str, Any]:
    keys = {k for k in (*parked, *capacity) if k[0] == lot_id}
    known = any(k[0] == lot_id for k in capacity)

    def counts(match: Any) -> Counts:
        chosen = [k for k in keys if match(k)]
        slots = sum(capacity.get(k, 0) for k in chosen) if known else None
        return Counts(sum(parked.get(k, 0) for k in chosen), slots)

    levels = sorted({k[1] for k in keys})
    total = counts(lambda k: True)
    return {
        "lot_id": lot_id,
        **total.json(),
        "ev": counts(lambda k: k[2]).json(),
        "levels": [
            {
                "level": level,
                **counts(lambda k, lv=level: k[1] == lv).json(),
                "ev": counts(lambda k, lv=level: k[1] == lv and k[2]).json(),
            }
            for level in levels
        ],
    }
