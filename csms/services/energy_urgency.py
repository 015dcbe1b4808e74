"""When each charging car leaves: what the car said (ISO 15118), else what its driver declared
when parking, else the lot's typical stay for the hour it arrived, else a default."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from csms.ports.energy import ActiveSession, EnergyReadings
from csms.services.energy_demands import ChargerFacts, key_of

# The typical stays change slowly: one query per lot and hour every few minutes is plenty.
TYPICAL_STAY_TTL = timedelta(minutes=10)


class Urgency:
    def __init__(self, readings: EnergyReadings, default_stay: timedelta) -> None:
        self.readings = readings
        self.default_stay = default_stay
        self._typical: dict[tuple[str, int], tuple[datetime, timedelta | None]] = {}

    async def departures(
        self,
        sessions: Sequence[ActiveSession],
        chargers: Sequence[ChargerFacts],
        now: datetime,
    ) -> Mapping[str, datetime | None]:
        facts = {c.charger_id: c for c in chargers}
        stays = await self.readings.stays(sorted({s.charger_id for s in sessions}))
        out: dict[str, datetime | None] = {}
        for session in sessions:
            key = key_of(session.charger_id, session.evse_id)
            charger = facts.get(session.charger_id)
            need = charger.needs.get(session.evse_id) if charger else None
            if need is not None and need.departure is not None:
                out[key] = need.departure
                continue
            stay = stays.get((session.charger_id, session.evse_id))
            if stay is not None and stay.departure_at is not None:
                out[key] = stay.departure_at
            elif stay is not None:
                out[key] = stay.arrived_at + await self.typical(stay.lot_id, stay.arrived_at, now)
            else:
                out[key] = session.started_at + self.default_stay
        return out

    async def typical(self, lot_id: str, arrived_at: datetime, now: datetime) -> timedelta:
        """The lot's median stay for the hour of day the car arrived; the default without
        history."""
        hour = arrived_at.hour
        cached = self._typical.get((lot_id, hour))
        if cached is None or now - cached[0] > TYPICAL_STAY_TTL:
            cached = (now, await self.readings.typical_stay(lot_id, hour, now))
            self._typical[(lot_id, hour)] = cached
        return cached[1] if cached[1] is not None else self.default_stay
