"""In-memory smart charging stores: `FakeSmartCharging` (SmartChargingStore, whose reads the
energy manager uses) and `FakeOperatorProfiles` (OperatorProfileStore)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from csms.domain.chargers import UnknownCharger
from csms.domain.charging_profiles import (
    ChargingProfile,
    Delivery,
    EvChargingNeeds,
    ExternalLimit,
    SmartChargingLimits,
    StoredProfile,
)

OPERATOR_PROFILE_ID_BASE = 1_000_000


class FakeSmartCharging:
    def __init__(self) -> None:
        self.limit_rows: dict[str, SmartChargingLimits] = {}
        self.needs: dict[tuple[str, int], EvChargingNeeds] = {}
        self.schedules: dict[tuple[str, int], dict[str, Any]] = {}
        self.external: dict[tuple[str, int, str], ExternalLimit] = {}
        self.held: dict[str, dict[int, tuple[int, ChargingProfile]]] = {}

    async def limits(self, charger_id: str) -> SmartChargingLimits | None:
        return self.limit_rows.get(charger_id)

    async def save_limits(self, charger_id: str, limits: SmartChargingLimits, at: datetime) -> None:
        self.limit_rows[charger_id] = limits

    async def ev_needs(self, charger_id: str, evse_id: int) -> EvChargingNeeds | None:
        return self.needs.get((charger_id, evse_id))

    async def save_ev_needs(
        self, charger_id: str, needs: EvChargingNeeds, raw: dict[str, Any]
    ) -> None:
        self.needs[(charger_id, needs.evse_id)] = needs

    async def save_ev_schedule(
        self, charger_id: str, evse_id: int, schedule: dict[str, Any], at: datetime
    ) -> None:
        self.schedules[(charger_id, evse_id)] = schedule

    async def external_limits(self, charger_id: str) -> Sequence[ExternalLimit]:
        return [v for (c, _, _), v in sorted(self.external.items()) if c == charger_id]

    async def save_external_limit(
        self, charger_id: str, limit: ExternalLimit, schedule: Any
    ) -> None:
        self.external[(charger_id, limit.evse_id, limit.source)] = limit

    async def clear_external_limit(self, charger_id: str, source: str, evse_id: int | None) -> None:
        for key in [k for k in self.external if k[0] == charger_id and k[2] == source]:
            if evse_id is None or key[1] == evse_id:
                del self.external[key]

    async def save_installed(
        self,
        charger_id: str,
        request_id: int,
        source: str,
        profiles: Sequence[ChargingProfile],
        at: datetime,
    ) -> None:
        rows = self.held.setdefault(charger_id, {})
        for key in [k for k, (r, _) in rows.items() if r != request_id]:
            del rows[key]
        rows.update({p.profile_id: (request_id, p) for p in profiles})

    async def forget_installed(self, charger_id: str) -> None:
        self.held.pop(charger_id, None)

    async def installed(self, charger_id: str) -> Sequence[ChargingProfile]:
        return [p for _, (_, p) in sorted(self.held.get(charger_id, {}).items())]


class FakeOperatorProfiles:
    def __init__(self, chargers: Sequence[str] = ()) -> None:
        self.chargers = set(chargers)
        self.rows: dict[tuple[str, int], StoredProfile] = {}

    async def add(self, charger_id: str, profile: ChargingProfile, at: datetime) -> StoredProfile:
        self._known(charger_id)
        if profile.profile_id == 0:
            ids = [p for c, p in self.rows if c == charger_id]
            profile = replace(profile, profile_id=max([*ids, OPERATOR_PROFILE_ID_BASE - 1]) + 1)
        stored = StoredProfile(charger_id, profile, Delivery.PENDING, None, at)
        self.rows[(charger_id, profile.profile_id)] = stored
        return stored

    async def settle(
        self, charger_id: str, profile_id: int, delivery: Delivery, detail: str | None, at: datetime
    ) -> StoredProfile | None:
        stored = self.rows.get((charger_id, profile_id))
        if stored is None:
            return None
        stored = replace(stored, delivery=delivery, detail=detail, updated_at=at)
        self.rows[(charger_id, profile_id)] = stored
        return stored

    async def get(self, charger_id: str, profile_id: int) -> StoredProfile | None:
        return self.rows.get((charger_id, profile_id))

    async def of_charger(self, charger_id: str) -> Sequence[StoredProfile]:
        self._known(charger_id)
        return [s for (c, _), s in sorted(self.rows.items()) if c == charger_id]

    async def remove(self, charger_id: str, profile_id: int) -> bool:
        return self.rows.pop((charger_id, profile_id), None) is not None

    def _known(self, charger_id: str) -> None:
        if charger_id not in self.chargers:
            raise UnknownCharger(f"no charger {charger_id!r}")
