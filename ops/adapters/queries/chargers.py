"""One charger's figures: status changes, energy from register readings, sessions, faults."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select, union_all

from chargepark.clock import as_utc
from chargepark.errors import NotFound
from ops import domain
from ops.adapters.queries.base import BASELINE_LOOKBACK, bucket_of
from ops.adapters.queries.occupancy import OccupancyQueries
from ops.domain import StatusChange, metrics
from ops.store import chargers, connectors, meter_readings, sessions, status_changes


class ChargerQueries(OccupancyQueries):
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
        faults = metrics.faults_of(per_evse, until)
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
