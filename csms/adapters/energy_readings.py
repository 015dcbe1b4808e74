"""What the energy manager reads of csms's own records: connectors, active sessions, the newest
meter samples, the vehicles on bays and their stays, and which chargers are connected."""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from chargepark.clock import as_utc
from chargepark.db.engine import Database
from csms.adapters.tables import bay_vehicles, charger_presence, connectors, meter_samples, sessions
from csms.ports.energy import ActiveSession, Link, Measured, StayFacts

CURRENT = "Current.Import"
POWER = "Power.Active.Import"
# The typical stay looks this far back, and needs this many stays of the hour to be believed.
HISTORY = timedelta(weeks=4)
MIN_STAYS = 3
_SCALE = {"W": 1.0, "kW": 1000.0, "A": 1.0}


class SqlEnergyReadings:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def evses(self, charger_ids: Sequence[str]) -> Mapping[str, Mapping[int, str]]:
        if not charger_ids:
            return {}
        query = select(connectors.c.charger_id, connectors.c.evse_id, connectors.c.status).where(
            connectors.c.charger_id.in_(charger_ids), connectors.c.evse_id > 0
        )
        found: dict[str, dict[int, str]] = {}
        async with self.db.engine.connect() as conn:
            for charger_id, evse_id, status in await conn.execute(query):
                found.setdefault(charger_id, {})[evse_id] = status
        return found

    async def sessions(self, charger_ids: Sequence[str]) -> Sequence[ActiveSession]:
        if not charger_ids:
            return []
        t = sessions
        query = (
            select(t.c.charger_id, t.c.evse_id, t.c.id, t.c.transaction_id, t.c.started_at)
            .where(t.c.charger_id.in_(charger_ids), t.c.status == "active")
            .order_by(t.c.charger_id, t.c.evse_id, t.c.started_at)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [ActiveSession(r[0], r[1], r[2], r[3], as_utc(r[4])) for r in rows]

    async def measured(
        self, charger_ids: Sequence[str], since: datetime
    ) -> Mapping[tuple[str, int], Measured]:
        if not charger_ids:
            return {}
        t = meter_samples
        query = (
            select(t.c.charger_id, t.c.evse_id, t.c.sampled_at, t.c.measurand, t.c.phase)
            .add_columns(t.c.unit, t.c.multiplier, t.c.value)
            .where(
                t.c.charger_id.in_(charger_ids),
                t.c.sampled_at >= since,
                t.c.measurand.in_((CURRENT, POWER)),
            )
            .order_by(t.c.sampled_at)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return _newest(rows)

    async def stays(self, charger_ids: Sequence[str]) -> Mapping[tuple[str, int], StayFacts]:
        if not charger_ids:
            return {}
        t = bay_vehicles
        query = (
            select(t.c.charger_id, t.c.evse_id, t.c.lot_id, t.c.arrived_at, t.c.departure_at)
            .where(t.c.charger_id.in_(charger_ids), t.c.left_at.is_(None))
            .order_by(t.c.arrived_at)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {
            (r[0], r[1] or 1): StayFacts(r[2], as_utc(r[3]), as_utc(r[4]) if r[4] else None)
            for r in rows
        }

    async def typical_stay(self, lot_id: str, hour: int, now: datetime) -> timedelta | None:
        t = bay_vehicles
        query = select(t.c.arrived_at, t.c.left_at).where(
            t.c.lot_id == lot_id, t.c.left_at.is_not(None), t.c.arrived_at >= now - HISTORY
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        stays = [
            (as_utc(left) - as_utc(arrived)).total_seconds()
            for arrived, left in rows
            if as_utc(arrived).hour == hour and left >= arrived
        ]
        if len(stays) < MIN_STAYS:
            return None
        return timedelta(seconds=statistics.median(stays))

    async def connections(self, charger_ids: Sequence[str]) -> Mapping[str, Link]:
        if not charger_ids:
            return {}
        t = charger_presence
        query = select(t.c.charger_id, t.c.ocpp_version, t.c.connected_at).where(
            t.c.charger_id.in_(charger_ids)
        )
        async with self.db.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return {r[0]: Link(r[1], as_utc(r[2])) for r in rows}


def _newest(rows: Sequence[Any]) -> dict[tuple[str, int], Measured]:
    """Per charger and EVSE, the newest current per phase and power (rows oldest first)."""
    amps: dict[tuple[str, int], list[float]] = {}
    power: dict[tuple[str, int], float] = {}
    at: dict[tuple[str, int], datetime] = {}
    for row in rows:
        key = (row["charger_id"], row["evse_id"])
        value = _value(row)
        if value is None:
            continue
        at[key] = as_utc(row["sampled_at"])
        if row["measurand"] == POWER and not row["phase"]:
            power[key] = value
        elif row["measurand"] == CURRENT:
            phase = _phase(row["phase"])
            per_phase = amps.setdefault(key, [0.0, 0.0, 0.0])
            if phase is None:
                per_phase[:] = [value, value, value]
            else:
                per_phase[phase] = value
    return {
        key: Measured((a[0], a[1], a[2]) if (a := amps.get(key)) else None, power.get(key), when)
        for key, when in at.items()
    }


def _value(row: Mapping[str, Any]) -> float | None:
    try:
        value = float(row["value"])
    except ValueError:
        return None
    value *= 10 ** (row["multiplier"] or 0)
    return value * _SCALE.get(row["unit"] or "", 1.0)


def _phase(text: str | None) -> int | None:
    """ "L1", "L1-N" -> 0 ...; none or "N": None (a total)."""
    if text and text.startswith("L") and text[1:2] in ("1", "2", "3"):
        return int(text[1]) - 1
    return None
