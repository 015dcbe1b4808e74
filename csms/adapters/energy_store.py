"""Sites, lots' EV bays, limits in force and site leases over SQL (csms/adapters/energy_tables.py).

Each store works on the database directly (a short transaction per call), except
`SqlLotLayouts`, which writes in an event's unit of work (the inbox's transaction).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from chargepark.clock import as_utc
from chargepark.db.engine import Database
from chargepark.db.uow import UnitOfWork
from csms.adapters.energy_tables import (
    energy_in_force,
    energy_leases,
    energy_lot_bays,
    energy_lots,
    energy_site_chargers,
    energy_sites,
)
from csms.domain.energy.site import ExternalLimit, ScheduleEntry, SiteConnection
from csms.ports.energy import Amps3, Bay, InForce, OtherLoad, Site, SiteConfig


def _dialect(db: Database) -> Any:
    return postgresql if db.dialect == "postgresql" else sqlite


class SqlSiteStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, site_id: str) -> Site | None:
        sites = await self._load(site_id)
        return sites[0] if sites else None

    async def all(self) -> Sequence[Site]:
        return await self._load(None)

    async def _load(self, site_id: str | None) -> list[Site]:
        query = select(energy_sites).order_by(energy_sites.c.site_id)
        chargers = select(energy_site_chargers).order_by(energy_site_chargers.c.charger_id)
        if site_id is not None:
            query = query.where(energy_sites.c.site_id == site_id)
            chargers = chargers.where(energy_site_chargers.c.site_id == site_id)
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
            assigned = (await conn.execute(chargers)).all()
        by_site: dict[str, list[str]] = {}
        for site_id, charger_id in assigned:
            by_site.setdefault(site_id, []).append(charger_id)
        return [_site(row, tuple(by_site.get(row["site_id"], ()))) for row in rows]

    async def put(self, config: SiteConfig, now: datetime) -> bool:
        values = _config_row(config)
        async with self.db.engine.begin() as conn:
            found = await conn.execute(
                update(energy_sites)
                .where(energy_sites.c.site_id == config.site_id)
                .values(**values, updated_at=now)
            )
            new = found.rowcount == 0
            if new:
                await conn.execute(
                    insert(energy_sites).values(
                        site_id=config.site_id, **values, created_at=now, updated_at=now
                    )
                )
            await conn.execute(
                delete(energy_site_chargers).where(energy_site_chargers.c.site_id == config.site_id)
            )
            if config.chargers:
                await conn.execute(
                    insert(energy_site_chargers),
                    [{"site_id": config.site_id, "charger_id": c} for c in set(config.chargers)],
                )
        return new

    async def set_external(self, site_id: str, limit: ExternalLimit | None) -> None:
        values = {
            "external_limit_amps": _json(limit.limit_amps) if limit else None,
            "external_limit_kw": limit.limit_kw if limit else None,
            "external_until": limit.until if limit else None,
        }
        await self._update(site_id, values)

    async def set_other_load(self, site_id: str, load: OtherLoad) -> None:
        await self._update(site_id, {"other_load_amps": _json(load.amps), "other_load_at": load.at})

    async def _update(self, site_id: str, values: dict[str, Any]) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(energy_sites).where(energy_sites.c.site_id == site_id).values(**values)
            )

    async def members(self, site_id: str) -> Sequence[str]:
        async with self.db.engine.connect() as conn:
            bays = await conn.execute(
                select(energy_lot_bays.c.charger_id).where(energy_lot_bays.c.lot_id == site_id)
            )
            assigned = await conn.execute(
                select(energy_site_chargers.c.charger_id).where(
                    energy_site_chargers.c.site_id == site_id
                )
            )
            return sorted({r[0] for r in bays} | {r[0] for r in assigned})


class SqlLotLayouts:
    """A lot's EV bays, replaced in the event's transaction unless a newer layout is kept."""

    def __init__(self, unit: UnitOfWork) -> None:
        self.unit = unit

    async def replace(self, lot_id: str, at: datetime, bays: Sequence[Bay]) -> bool:
        session = self.unit.session
        known = (
            await session.execute(
                select(energy_lots.c.layout_at).where(energy_lots.c.lot_id == lot_id)
            )
        ).scalar()
        if known is not None and as_utc(known) > at:
            return False
        if known is None:
            await session.execute(insert(energy_lots).values(lot_id=lot_id, layout_at=at))
        else:
            await session.execute(
                update(energy_lots).where(energy_lots.c.lot_id == lot_id).values(layout_at=at)
            )
        await session.execute(delete(energy_lot_bays).where(energy_lot_bays.c.lot_id == lot_id))
        if bays:
            await session.execute(
                insert(energy_lot_bays),
                [
                    {
                        "lot_id": lot_id,
                        "slot_ui": b.slot_ui,
                        "charger_id": b.charger_id,
                        "connector_id": b.connector_id,
                    }
                    for b in bays
                ],
            )
        return True


class SqlInForce:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self, charger_ids: Sequence[str]) -> Mapping[tuple[str, int], InForce]:
        if not charger_ids:
            return {}
        query = select(energy_in_force).where(energy_in_force.c.charger_id.in_(charger_ids))
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return {
            (r["charger_id"], r["evse_id"]): InForce(
                r["limit_amps"], as_utc(r["changed_at"]), refused=r["refused"]
            )
            for r in rows
        }

    async def save(self, site_id: str, rows: Mapping[tuple[str, int], InForce]) -> None:
        if not rows:
            return
        values = [
            {
                "charger_id": charger_id,
                "evse_id": evse_id,
                "site_id": site_id,
                "limit_amps": row.limit_amps,
                "refused": row.refused,
                "changed_at": row.changed_at,
            }
            for (charger_id, evse_id), row in rows.items()
        ]
        statement = _dialect(self.db).insert(energy_in_force)
        statement = statement.on_conflict_do_update(
            index_elements=["charger_id", "evse_id"],
            set_={
                k: statement.excluded[k] for k in ("site_id", "limit_amps", "refused", "changed_at")
            },
        )
        async with self.db.engine.begin() as conn:
            await conn.execute(statement, values)


class SqlSiteLeases:
    """One row per site: the node running its allocation until `expires_at`. Taking or renewing
    is one upsert that only succeeds on a free, expired or own row, so two nodes never both
    hold a site (PostgreSQL and SQLite alike)."""

    def __init__(self, db: Database, ttl: timedelta) -> None:
        self.db = db
        self.ttl = ttl

    async def hold(self, site_ids: Sequence[str], node_id: str, now: datetime) -> set[str]:
        if not site_ids:
            return set()
        statement = _dialect(self.db).insert(energy_leases)
        statement = statement.on_conflict_do_update(
            index_elements=["site_id"],
            set_={
                "node_id": statement.excluded.node_id,
                "expires_at": statement.excluded.expires_at,
            },
            where=or_(energy_leases.c.node_id == node_id, energy_leases.c.expires_at < now),
        )
        until = now + self.ttl
        rows = [{"site_id": s, "node_id": node_id, "expires_at": until} for s in site_ids]
        async with self.db.engine.begin() as conn:
            await conn.execute(statement, rows)
            held = await conn.execute(
                select(energy_leases.c.site_id).where(
                    energy_leases.c.node_id == node_id, energy_leases.c.site_id.in_(site_ids)
                )
            )
            return {r[0] for r in held}

    async def release(self, node_id: str) -> None:
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(energy_leases).where(energy_leases.c.node_id == node_id))


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _amps(text: str | None) -> Amps3 | None:
    if text is None:
        return None
    a = json.loads(text)
    return float(a[0]), float(a[1]), float(a[2])


def _limit(text: str | None, phases: int) -> float | tuple[float, ...] | None:
    """A stored limit in amps: one number, or one per phase. Rows written before limits
    were kept as given hold [L1, L2, L3] even for a single-phase site (L1 only)."""
    if text is None:
        return None
    value = json.loads(text)
    if isinstance(value, list):
        return float(value[0]) if phases == 1 else tuple(float(v) for v in value)
    return float(value)


def _config_row(config: SiteConfig) -> dict[str, Any]:
    link = config.connection
    schedule = {
        "timezone": link.timezone,
        "entries": [
            {
                "start": e.start,
                "end": e.end,
                "limit": e.limit,
                "weekdays": list(e.weekdays),
                "in_kw": e.in_kw,
            }
            for e in link.schedule
        ],
    }
    plain = not link.schedule and link.timezone == "UTC"
    return {
        "phases": link.phases,
        "voltage": link.voltage,
        "limit_amps": _json(link.limit_amps),
        "limit_kw": link.limit_kw,
        "margin_amps": link.margin_amps,
        "schedule": None if plain else json.dumps(schedule),
        "charger_max_amps": config.charger_max_amps,
        "ratings": json.dumps(dict(config.ratings)) if config.ratings else None,
        "meter_charger": config.meter_charger,
    }


def _schedule(text: str | None, phases: int) -> tuple[str, tuple[ScheduleEntry, ...]]:
    """The stored time zone and schedule; a list is the older daily UTC form (each entry
    from its start until the next one's), read as windows."""
    stored = json.loads(text or "[]")
    if isinstance(stored, dict):
        entries = tuple(
            ScheduleEntry(
                e["start"],
                e["end"],
                tuple(e["limit"]) if isinstance(e["limit"], list) else e["limit"],
                tuple(e["weekdays"]),
                in_kw=e["in_kw"],
            )
            for e in stored["entries"]
        )
        return stored["timezone"], entries
    old = sorted(stored, key=lambda e: e["start_minute"])
    clock = [f"{e['start_minute'] // 60:02d}:{e['start_minute'] % 60:02d}" for e in old]
    # A single entry was in force all day; zip drops the whole-day window when there is none.
    ends = clock[1:] + clock[:1] if len(old) > 1 else ["24:00"]
    starts = clock if len(old) > 1 else ["00:00"]
    return "UTC", tuple(
        ScheduleEntry(start, end, _old_limit(e, phases), in_kw=e.get("limit_kw") is not None)
        for start, end, e in zip(starts, ends, old, strict=False)
    )


def _old_limit(entry: dict[str, Any], phases: int) -> float | tuple[float, ...]:
    if entry.get("limit_kw") is not None:
        return float(entry["limit_kw"])
    return _limit(json.dumps(entry["limit_amps"]), phases) or 0.0


def _site(row: Any, chargers: tuple[str, ...]) -> Site:
    phases = row["phases"]
    timezone, schedule = _schedule(row["schedule"], phases)
    connection = SiteConnection(
        phases=phases,
        voltage=row["voltage"],
        limit_amps=_limit(row["limit_amps"], phases),
        limit_kw=row["limit_kw"],
        margin_amps=row["margin_amps"],
        schedule=schedule,
        timezone=timezone,
    )
    config = SiteConfig(
        site_id=row["site_id"],
        connection=connection,
        chargers=chargers,
        charger_max_amps=row["charger_max_amps"],
        ratings=json.loads(row["ratings"] or "{}"),
        meter_charger=row["meter_charger"],
    )
    external = None
    if row["external_until"] is not None:
        external = ExternalLimit(
            as_utc(row["external_until"]),
            _limit(row["external_limit_amps"], phases),
            row["external_limit_kw"],
        )
    other = None
    if row["other_load_amps"] is not None and row["other_load_at"] is not None:
        amps = _amps(row["other_load_amps"])
        assert amps is not None
        other = OtherLoad(amps, as_utc(row["other_load_at"]))
    return Site(config, external, other)
