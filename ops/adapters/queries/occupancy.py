"""Occupancy now and over time, from the stays and the lot capacities."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select

from ops.adapters.queries.base import QueryBase, bucket_of
from ops.adapters.rows import stay_of
from ops.domain import Stay, metrics
from ops.store import lot_capacity, stays


class OccupancyQueries(QueryBase):
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
        return [metrics.lot_occupancy(lot, parked, capacity) for lot in sorted(lot_ids)]

    async def lot_capacity(self, lot_id: str, level: str | None, ev: bool | None) -> int | None:
        return metrics.capacity_of(await self.capacities(lot_id), level, ev)

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
        return metrics.occupancy_series(found, moves, capacity, since, until, bucket_sec)
