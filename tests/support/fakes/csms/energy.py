"""The energy manager's ports in memory: sites, readings, limits in force, leases, a gateway
that records SetChargingProfile in order and answers what each charger is set to answer."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from csms.domain.charging_profiles import (
    UNKNOWN_LIMITS,
    ChargingProfile,
    EvChargingNeeds,
    ExternalLimit,
    SmartChargingLimits,
)
from csms.domain.energy.site import ExternalLimit as SiteExternalLimit
from csms.ports.energy import (
    ActiveSession,
    InForce,
    Link,
    Measured,
    OtherLoad,
    Site,
    SiteConfig,
    StayFacts,
)
from csms.ports.gateway import CommandOutcome, CommandStatus


class InMemorySites:
    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.bays: dict[str, list[str]] = {}

    async def get(self, site_id: str) -> Site | None:
        return self.sites.get(site_id)

    async def all(self) -> Sequence[Site]:
        return [self.sites[k] for k in sorted(self.sites)]

    async def put(self, config: SiteConfig, now: datetime) -> bool:
        old = self.sites.get(config.site_id)
        self.sites[config.site_id] = replace(old, config=config) if old else Site(config)
        return old is None

    async def set_external(self, site_id: str, limit: SiteExternalLimit | None) -> None:
        self.sites[site_id] = replace(self.sites[site_id], external=limit)

    async def set_other_load(self, site_id: str, load: OtherLoad) -> None:
        self.sites[site_id] = replace(self.sites[site_id], other_load=load)

    async def members(self, site_id: str) -> Sequence[str]:
        site = self.sites[site_id]
        return sorted(set(site.config.chargers) | set(self.bays.get(site_id, [])))


class FakeReadings:
    def __init__(self) -> None:
        self.active: list[ActiveSession] = []
        self.amps: dict[tuple[str, int], Measured] = {}
        self.bay_stays: dict[tuple[str, int], StayFacts] = {}
        self.statuses: dict[str, dict[int, str]] = {}
        self.typical: timedelta | None = None
        self.connected: dict[str, Link] = {}

    async def evses(self, charger_ids: Sequence[str]) -> Mapping[str, Mapping[int, str]]:
        return {c: self.statuses[c] for c in charger_ids if c in self.statuses}

    async def sessions(self, charger_ids: Sequence[str]) -> Sequence[ActiveSession]:
        return [s for s in self.active if s.charger_id in charger_ids]

    async def measured(
        self, charger_ids: Sequence[str], since: datetime
    ) -> Mapping[tuple[str, int], Measured]:
        return {k: v for k, v in self.amps.items() if k[0] in charger_ids}

    async def stays(self, charger_ids: Sequence[str]) -> Mapping[tuple[str, int], StayFacts]:
        return {k: v for k, v in self.bay_stays.items() if k[0] in charger_ids}

    async def typical_stay(self, lot_id: str, hour: int, now: datetime) -> timedelta | None:
        return self.typical

    async def connections(self, charger_ids: Sequence[str]) -> Mapping[str, Link]:
        return {c: self.connected[c] for c in charger_ids if c in self.connected}


class InMemoryInForce:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, int], InForce] = {}

    async def load(self, charger_ids: Sequence[str]) -> Mapping[tuple[str, int], InForce]:
        return {k: v for k, v in self.rows.items() if k[0] in charger_ids}

    async def save(self, site_id: str, rows: Mapping[tuple[str, int], InForce]) -> None:
        self.rows.update(rows)


class FakeSmartCharging:
    def __init__(self) -> None:
        self.unsupported: set[str] = set()
        self.needs: dict[tuple[str, int], EvChargingNeeds] = {}

    async def limits(self, charger_id: str) -> SmartChargingLimits:
        if charger_id in self.unsupported:
            return replace(UNKNOWN_LIMITS, supported=False)
        return UNKNOWN_LIMITS

    async def ev_needs(self, charger_id: str, evse_id: int) -> EvChargingNeeds | None:
        return self.needs.get((charger_id, evse_id))

    async def external_limits(self, charger_id: str) -> Sequence[ExternalLimit]:
        return ()


class RecordingProfiles:
    """`calls` lists (charger_id, purpose, limit) in the order they were sent; `answers`
    names a charger's answer status (default Accepted; "offline": nothing was sent). With
    `watch`, `recorded` has the limits in force that store held as each call went out."""

    def __init__(self, watch: InMemoryInForce | None = None) -> None:
        self.calls: list[tuple[str, str, float]] = []
        self.answers: dict[str, str] = {}
        self.watch = watch
        self.recorded: list[dict[tuple[str, int], float]] = []

    async def set_charging_profile(
        self,
        charger_id: str,
        version: str,
        profile: ChargingProfile,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome:
        self.calls.append((charger_id, profile.purpose.value, profile.periods[0].limit))
        if self.watch is not None:
            self.recorded.append({k: v.limit_amps for k, v in self.watch.rows.items()})
        status = self.answers.get(charger_id, "Accepted")
        if status == "offline":
            return CommandOutcome(CommandStatus.OFFLINE, "SetChargingProfile", detail="offline")
        return CommandOutcome(
            CommandStatus.ANSWERED, "SetChargingProfile", response={"status": status}
        )


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []

    async def publish(self, events: Sequence[Mapping[str, Any]]) -> None:
        self.events.extend(events)

    def named(self, name: str) -> list[Mapping[str, Any]]:
        return [e for e in self.events if e["event"] == name]
