"""Sites' load: each site's newest report, its series per time bucket (averages and extremes
computed in SQL, on PostgreSQL and SQLite alike), and the reports and refusals alert rules are
evaluated on."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.sql.elements import ColumnElement

from chargepark.clock import as_utc
from ops.adapters.queries.base import QueryBase, bucket_of
from ops.domain.energy import ChargerLoad, Refusal, SiteLoad
from ops.domain.metrics import every_bucket
from ops.store import PER_PHASE, charger_loads, site_loads, sites, smart_charging_refusals

_PHASES = (1, 2, 3)


def site_load_of(r: Any) -> SiteLoad:
    def amps(name: str) -> tuple[float, float, float]:
        return (r[f"{name}_l1"], r[f"{name}_l2"], r[f"{name}_l3"])

    return SiteLoad(
        site_id=r.site_id,
        at=as_utc(r.ts),
        phases=r.phases,
        voltage=r.voltage,
        **{name: amps(name) for name in PER_PHASE},
    )


def charger_load_of(r: Any) -> ChargerLoad:
    return ChargerLoad(
        site_id=r.site_id,
        charger_id=r.charger_id,
        evse_id=r.evse_id,
        at=as_utc(r.ts),
        limit_amps=r.limit_amps,
        drawn_amps=r.drawn_amps,
        paused=bool(r.paused),
    )


def _num(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


class EnergyQueries(QueryBase):
    async def sites_now(self, site_id: str | None = None) -> list[dict[str, Any]]:
        s, c = site_loads.c, charger_loads.c
        newest = select(site_loads).join(
            sites, and_(s.site_id == sites.c.site_id, s.ts == sites.c.last_at)
        )
        lines = select(charger_loads).join(
            sites, and_(c.site_id == sites.c.site_id, c.ts == sites.c.last_at)
        )
        if site_id is not None:
            newest = newest.where(s.site_id == site_id)
            lines = lines.where(c.site_id == site_id)
        async with self.db.engine.connect() as conn:
            reports = [site_load_of(r._mapping) for r in await conn.execute(newest)]
            by_site: dict[str, list[ChargerLoad]] = defaultdict(list)
            for r in await conn.execute(lines.order_by(c.charger_id, c.evse_id)):
                by_site[r.site_id].append(charger_load_of(r))
        return [
            {**r.as_json(), "chargers": [line.as_json() for line in by_site[r.site_id]]}
            for r in sorted(reports, key=lambda r: r.site_id)
        ]

    async def site_gauges(self) -> list[tuple[str, float, float, float]]:
        """Each site's newest (site_id, power_kw, limit_kw, allocated_kw), by site id."""
        s = site_loads.c
        query = (
            select(s.site_id, s.power_kw, s.limit_kw, s.allocated_kw)
            .join(sites, and_(s.site_id == sites.c.site_id, s.ts == sites.c.last_at))
            .order_by(s.site_id)
        )
        async with self.db.engine.connect() as conn:
            return [(r[0], r[1], r[2], r[3]) for r in await conn.execute(query)]

    async def site_series(
        self, site_id: str, since: datetime, until: datetime, bucket_sec: int
    ) -> dict[str, Any]:
        s = site_loads.c
        bucket = bucket_of(s.ts, since, bucket_sec, self.dialect).label("bucket")
        columns: list[ColumnElement[Any]] = [bucket, func.count().label("reports")]
        for name in ("power_kw", "allocated_kw"):
            columns += [func.avg(s[name]).label(f"{name}_mean"), func.max(s[name])]
        columns += [func.avg(s.limit_kw).label("limit_kw_mean"), func.min(s.limit_kw)]
        for n in _PHASES:
            columns += [func.avg(s[f"drawn_amps_l{n}"]), func.max(s[f"drawn_amps_l{n}"])]
            columns += [func.avg(s[f"limit_amps_l{n}"]), func.min(s[f"limit_amps_l{n}"])]
        query = (
            select(*columns)
            .where(s.site_id == site_id, s.ts >= since, s.ts < until)
            .group_by(bucket)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        found = {int(r[0]): _site_bucket(r) for r in rows}
        empty = _site_bucket(None)
        chargers = await self._charger_series(site_id, since, until, bucket_sec)
        return {
            "buckets": every_bucket(found, since, until, bucket_sec, empty),
            "chargers": chargers,
        }

    async def _charger_series(
        self, site_id: str, since: datetime, until: datetime, bucket_sec: int
    ) -> list[dict[str, Any]]:
        c = charger_loads.c
        bucket = bucket_of(c.ts, since, bucket_sec, self.dialect).label("bucket")
        query = (
            select(
                c.charger_id,
                c.evse_id,
                bucket,
                func.count(),
                func.avg(c.drawn_amps),
                func.max(c.drawn_amps),
                func.avg(c.limit_amps),
                func.min(c.limit_amps),
                func.max(c.drawn_amps - c.limit_amps),
                func.sum(case((c.paused.is_(True), 1), else_=0)),
            )
            .where(c.site_id == site_id, c.ts >= since, c.ts < until)
            .group_by(c.charger_id, c.evse_id, bucket)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        per: dict[tuple[str, int], dict[int, dict[str, Any]]] = defaultdict(dict)
        for r in rows:
            per[(r[0], r[1])][int(r[2])] = {
                "reports": r[3],
                "drawn_amps": {"mean": _num(r[4]), "max": _num(r[5])},
                "limit_amps": {"mean": _num(r[6]), "min": _num(r[7])},
                "over_amps_max": _num(r[8]),
                "paused_reports": int(r[9] or 0),
            }
        empty = {
            "drawn_amps": {"mean": None, "max": None},
            "limit_amps": {"mean": None, "min": None},
            "over_amps_max": None,
            "paused_reports": 0,
        }
        return [
            {
                "charger_id": charger_id,
                "evse_id": evse_id,
                "buckets": every_bucket(found, since, until, bucket_sec, empty),
            }
            for (charger_id, evse_id), found in sorted(per.items())
        ]

    async def site_loads_between(
        self, since: datetime, until: datetime, site_id: str | None = None
    ) -> list[SiteLoad]:
        s = site_loads.c
        query = select(site_loads).where(s.ts >= since, s.ts < until)
        if site_id is not None:
            query = query.where(s.site_id == site_id)
        async with self.db.engine.connect() as conn:
            return [site_load_of(r._mapping) for r in await conn.execute(query)]

    async def charger_loads_between(
        self,
        since: datetime,
        until: datetime,
        site_id: str | None = None,
        charger_id: str | None = None,
    ) -> list[ChargerLoad]:
        c = charger_loads.c
        query = select(charger_loads).where(c.ts >= since, c.ts < until)
        if site_id is not None:
            query = query.where(c.site_id == site_id)
        if charger_id is not None:
            query = query.where(c.charger_id == charger_id)
        async with self.db.engine.connect() as conn:
            return [charger_load_of(r) for r in await conn.execute(query)]

    async def refusals_between(
        self,
        since: datetime,
        until: datetime,
        site_id: str | None = None,
        charger_id: str | None = None,
    ) -> list[Refusal]:
        r = smart_charging_refusals.c
        query = select(smart_charging_refusals).where(r.ts >= since, r.ts < until)
        if site_id is not None:
            query = query.where(r.site_id == site_id)
        if charger_id is not None:
            query = query.where(r.charger_id == charger_id)
        async with self.db.engine.connect() as conn:
            return [
                Refusal(
                    site_id=row.site_id,
                    charger_id=row.charger_id,
                    at=as_utc(row.ts),
                    reason=row.reason,
                )
                for row in await conn.execute(query)
            ]


def _site_bucket(r: Any) -> dict[str, Any]:
    """A bucket's figures from its aggregate row (None: a bucket without reports)."""

    def at(i: int) -> float | None:
        return None if r is None else _num(r[i])

    phase = 8  # the per-phase aggregates start here, four per phase
    return {
        "reports": 0 if r is None else r[1],
        "power_kw": {"mean": at(2), "max": at(3)},
        "allocated_kw": {"mean": at(4), "max": at(5)},
        "limit_kw": {"mean": at(6), "min": at(7)},
        "drawn_amps": {
            "mean": [at(phase + 4 * k) for k in range(3)],
            "max": [at(phase + 4 * k + 1) for k in range(3)],
        },
        "limit_amps": {
            "mean": [at(phase + 4 * k + 2) for k in range(3)],
            "min": [at(phase + 4 * k + 3) for k in range(3)],
        },
    }
