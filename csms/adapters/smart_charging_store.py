"""Smart charging over SQL: chargers' limits, external limits, cars' needs, the profiles a
charger reports holding (`SmartChargingStore`) and the operator's profiles
(`OperatorProfileStore`).

Each write is one small transaction that deletes the row it replaces and inserts the new one:
the same statements on SQLite and PostgreSQL, and the rows are few (per charger and EVSE).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, delete, func, insert, select, update

from chargepark.clock import as_utc
from chargepark.db.engine import Database
from csms.adapters.tables import (
    chargers,
    charging_profiles,
    ev_charging_needs,
    external_charging_limits,
    installed_charging_profiles,
    smart_charging_limits,
)
from csms.domain.chargers import UnknownCharger
from csms.domain.charging_profiles import (
    ChargingProfile,
    Delivery,
    EvChargingNeeds,
    ExternalLimit,
    RateUnit,
    SmartChargingLimits,
    StoredProfile,
    profile_as_dict,
    profile_from_dict,
)

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
# Ids csms gives operator profiles that came without one; the energy manager's own profiles
# keep below it, so the two never replace each other on a charger.
OPERATOR_PROFILE_ID_BASE = 1_000_000


class SqlSmartCharging:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def limits(self, charger_id: str) -> SmartChargingLimits | None:
        t = smart_charging_limits
        async with self.db.engine.connect() as conn:
            row = (await conn.execute(select(t).where(t.c.charger_id == charger_id))).first()
        if row is None:
            return None
        r = row._mapping
        return SmartChargingLimits(
            supported=bool(r["supported"]),
            max_stack_level=r["max_stack_level"],
            units=tuple(RateUnit(u) for u in r["units"].split(",") if u),
            max_periods=r["max_periods"],
            max_profiles=r["max_profiles"],
        )

    async def save_limits(self, charger_id: str, limits: SmartChargingLimits, at: datetime) -> None:
        t = smart_charging_limits
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(t).where(t.c.charger_id == charger_id))
            await conn.execute(
                insert(t).values(
                    charger_id=charger_id,
                    supported=limits.supported,
                    max_stack_level=limits.max_stack_level,
                    units=",".join(u.value for u in limits.units),
                    max_periods=limits.max_periods,
                    max_profiles=limits.max_profiles,
                    read_at=at,
                )
            )

    async def ev_needs(self, charger_id: str, evse_id: int) -> EvChargingNeeds | None:
        t = ev_charging_needs
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t).where(t.c.charger_id == charger_id, t.c.evse_id == evse_id)
                )
            ).first()
        if row is None or row._mapping["reported_at"] is None:
            return None
        r = row._mapping
        return EvChargingNeeds(
            evse_id=r["evse_id"],
            requested_transfer=r["requested_transfer"] or "",
            departure=as_utc(r["departure"]) if r["departure"] is not None else None,
            energy_wh=r["energy_wh"],
            max_current=r["max_current"],
            min_current=r["min_current"],
            reported_at=as_utc(r["reported_at"]),
        )

    async def save_ev_needs(
        self, charger_id: str, needs: EvChargingNeeds, raw: dict[str, Any]
    ) -> None:
        # A new car's needs replace the last one's, and its schedule with them.
        t = ev_charging_needs
        async with self.db.engine.begin() as conn:
            await conn.execute(
                delete(t).where(t.c.charger_id == charger_id, t.c.evse_id == needs.evse_id)
            )
            await conn.execute(
                insert(t).values(
                    charger_id=charger_id,
                    evse_id=needs.evse_id,
                    requested_transfer=needs.requested_transfer,
                    departure=needs.departure,
                    energy_wh=needs.energy_wh,
                    max_current=needs.max_current,
                    min_current=needs.min_current,
                    needs=_dumps(raw),
                    reported_at=needs.reported_at,
                )
            )

    async def save_ev_schedule(
        self, charger_id: str, evse_id: int, schedule: dict[str, Any], at: datetime
    ) -> None:
        t = ev_charging_needs
        where = (t.c.charger_id == charger_id, t.c.evse_id == evse_id)
        async with self.db.engine.begin() as conn:
            done = await conn.execute(
                update(t).where(*where).values(ev_schedule=_dumps(schedule), ev_schedule_at=at)
            )
            if not done.rowcount:
                await conn.execute(
                    insert(t).values(
                        charger_id=charger_id,
                        evse_id=evse_id,
                        ev_schedule=_dumps(schedule),
                        ev_schedule_at=at,
                    )
                )

    async def external_limits(self, charger_id: str) -> Sequence[ExternalLimit]:
        t = external_charging_limits
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(t).where(t.c.charger_id == charger_id).order_by(t.c.evse_id, t.c.source)
            )
            return [_external(r._mapping) for r in rows]

    async def save_external_limit(
        self, charger_id: str, limit: ExternalLimit, schedule: Any
    ) -> None:
        t = external_charging_limits
        async with self.db.engine.begin() as conn:
            await conn.execute(
                delete(t).where(
                    t.c.charger_id == charger_id,
                    t.c.evse_id == limit.evse_id,
                    t.c.source == limit.source,
                )
            )
            await conn.execute(
                insert(t).values(
                    charger_id=charger_id,
                    evse_id=limit.evse_id,
                    source=limit.source,
                    limit_value=limit.limit,
                    unit=limit.unit.value if limit.unit else None,
                    grid_critical=limit.grid_critical,
                    schedule=_dumps(schedule) if schedule is not None else None,
                    reported_at=limit.reported_at,
                )
            )

    async def clear_external_limit(self, charger_id: str, source: str, evse_id: int | None) -> None:
        t = external_charging_limits
        where = [t.c.charger_id == charger_id, t.c.source == source]
        if evse_id is not None:
            where.append(t.c.evse_id == evse_id)
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(t).where(*where))

    async def save_installed(
        self,
        charger_id: str,
        request_id: int,
        source: str,
        profiles: Sequence[ChargingProfile],
        at: datetime,
    ) -> None:
        t = installed_charging_profiles
        async with self.db.engine.begin() as conn:
            # What an earlier request said is stale once a new one reports; the reports of one
            # request (tbc) add up.
            await conn.execute(
                delete(t).where(
                    t.c.charger_id == charger_id,
                    (t.c.request_id != request_id)
                    | t.c.profile_id.in_([p.profile_id for p in profiles]),
                )
            )
            if profiles:
                await conn.execute(
                    insert(t),
                    [
                        {
                            "charger_id": charger_id,
                            "profile_id": p.profile_id,
                            "evse_id": p.evse_id,
                            "source": source,
                            "request_id": request_id,
                            "profile": _dumps(profile_as_dict(p)),
                            "reported_at": at,
                        }
                        for p in profiles
                    ],
                )

    async def forget_installed(self, charger_id: str) -> None:
        """The charger said it holds none (GetChargingProfiles: NoProfiles)."""
        t = installed_charging_profiles
        async with self.db.engine.begin() as conn:
            await conn.execute(delete(t).where(t.c.charger_id == charger_id))

    async def installed(self, charger_id: str) -> Sequence[ChargingProfile]:
        t = installed_charging_profiles
        async with self.db.engine.connect() as conn:
            rows = await conn.execute(
                select(t.c.profile).where(t.c.charger_id == charger_id).order_by(t.c.profile_id)
            )
            return [profile_from_dict(json.loads(r.profile)) for r in rows]


class SqlOperatorProfiles:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, charger_id: str, profile: ChargingProfile, at: datetime) -> StoredProfile:
        t = charging_profiles
        async with self.db.engine.begin() as conn:
            await _known(conn, charger_id)
            if profile.profile_id == 0:
                top = await conn.scalar(
                    select(func.max(t.c.profile_id)).where(t.c.charger_id == charger_id)
                )
                next_id = max(int(top or 0), OPERATOR_PROFILE_ID_BASE - 1) + 1
                profile = replace(profile, profile_id=next_id)
            await conn.execute(
                delete(t).where(t.c.charger_id == charger_id, t.c.profile_id == profile.profile_id)
            )
            await conn.execute(
                insert(t).values(
                    charger_id=charger_id,
                    profile_id=profile.profile_id,
                    profile=_dumps(profile_as_dict(profile)),
                    delivery=Delivery.PENDING.value,
                    detail=None,
                    updated_at=at,
                )
            )
        return StoredProfile(charger_id, profile, Delivery.PENDING, None, at)

    async def settle(
        self, charger_id: str, profile_id: int, delivery: Delivery, detail: str | None, at: datetime
    ) -> StoredProfile | None:
        t = charging_profiles
        async with self.db.engine.begin() as conn:
            await conn.execute(
                update(t)
                .where(t.c.charger_id == charger_id, t.c.profile_id == profile_id)
                .values(
                    delivery=delivery.value,
                    detail=detail[:512] if detail else None,
                    updated_at=at,
                )
            )
        return await self.get(charger_id, profile_id)

    async def get(self, charger_id: str, profile_id: int) -> StoredProfile | None:
        t = charging_profiles
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(t).where(t.c.charger_id == charger_id, t.c.profile_id == profile_id)
                )
            ).first()
        return _stored(row._mapping) if row is not None else None

    async def of_charger(self, charger_id: str) -> Sequence[StoredProfile]:
        t = charging_profiles
        async with self.db.engine.connect() as conn:
            await _known(conn, charger_id)
            rows = await conn.execute(
                select(t).where(t.c.charger_id == charger_id).order_by(t.c.profile_id)
            )
            return [_stored(r._mapping) for r in rows]

    async def remove(self, charger_id: str, profile_id: int) -> bool:
        t = charging_profiles
        async with self.db.engine.begin() as conn:
            done = await conn.execute(
                delete(t).where(t.c.charger_id == charger_id, t.c.profile_id == profile_id)
            )
        return bool(done.rowcount)


async def _known(conn: Any, charger_id: str) -> None:
    if await conn.scalar(select(chargers.c.id).where(chargers.c.id == charger_id)) is None:
        raise UnknownCharger(f"no charger {charger_id!r}")


def _stored(r: RowMapping) -> StoredProfile:
    return StoredProfile(
        charger_id=r["charger_id"],
        profile=profile_from_dict(json.loads(r["profile"])),
        delivery=Delivery(r["delivery"]),
        detail=r["detail"],
        updated_at=as_utc(r["updated_at"]),
    )


def _external(r: RowMapping) -> ExternalLimit:
    return ExternalLimit(
        evse_id=r["evse_id"],
        source=r["source"],
        limit=r["limit_value"],
        unit=RateUnit(r["unit"]) if r["unit"] else None,
        grid_critical=r["grid_critical"],
        reported_at=as_utc(r["reported_at"]),
    )
