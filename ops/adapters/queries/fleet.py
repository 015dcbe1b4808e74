"""Reads of the ops service: occupancy now and over time, a charger's metrics, the fleet summary,
the facts an alert rule is evaluated on, and the small snapshot behind the Prometheus gauges.

Time buckets are computed in SQL where rows are only counted or summed (arrivals, energy), on
PostgreSQL and SQLite alike (`bucket_of`); time-weighted figures (occupancy, status durations)
are integrated in Python from the rows of the period (ops.domain).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, select

from ops import domain
from ops.adapters.queries.rule_facts import RuleFactQueries
from ops.domain import metrics
from ops.store import connectors, incidents, invoices, sessions, totals


class OpsQueries(RuleFactQueries):
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
            "revenue_today": metrics.revenue(issued_today, paid_today),
            "incidents_open": open_incidents,
        }

    async def gauges(self) -> dict[str, Any]:
        """What the Prometheus gauges show: read from the small tables only (the newest status
        per connector, the stays still open, the active sessions, the running totals, each
        site's newest load report)."""
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
            "sites": await self.site_gauges(),
        }
