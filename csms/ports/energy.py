"""What the energy manager (csms/services/energy.py) needs of the world, as Protocols.

Everything is in amps per phase (L1, L2, L3), the allocator's unit; a kW figure is converted
with the site's voltage and phases by the site's connection (csms/domain/energy/site.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from csms.domain.charging_profiles import (
    ChargingProfile,
    EvChargingNeeds,
    ExternalLimit,
    SmartChargingLimits,
)
from csms.domain.energy.site import ExternalLimit as SiteExternalLimit
from csms.domain.energy.site import SiteConnection
from csms.ports.gateway import CommandOutcome

Amps3 = tuple[float, float, float]


@dataclass(frozen=True, kw_only=True)
class SiteConfig:
    """What the operator said of a site (PUT /charging/sites/{id}): its connection (phases,
    voltage, limit, margin, schedule, time zone; validated by the domain) and its chargers."""

    site_id: str
    connection: SiteConnection
    chargers: tuple[str, ...] = ()  # assigned explicitly, besides the lot's EV bays
    charger_max_amps: float = 32.0  # a charger's rating unless `ratings` names it
    ratings: Mapping[str, float] = field(default_factory=dict)
    meter_charger: str | None = None

    @property
    def phases(self) -> int:
        return self.connection.phases

    @property
    def voltage(self) -> float:
        return self.connection.voltage


@dataclass(frozen=True)
class OtherLoad:
    """The connection's other consumers (the building), measured at `at`."""

    amps: Amps3
    at: datetime


@dataclass(frozen=True)
class Site:
    config: SiteConfig
    external: SiteExternalLimit | None = None
    other_load: OtherLoad | None = None

    @property
    def connection(self) -> SiteConnection:
        """The site's connection with its external limit: what gives its limit now."""
        if self.external is None:
            return self.config.connection
        return replace(self.config.connection, external=self.external)


@dataclass(frozen=True)
class Bay:
    """One of a lot's EV bays, as parking describes it (LotBaysChanged)."""

    slot_ui: str
    charger_id: str
    connector_id: int | None


class SiteStore(Protocol):
    async def get(self, site_id: str) -> Site | None: ...

    async def all(self) -> Sequence[Site]: ...

    async def put(self, config: SiteConfig, now: datetime) -> bool:
        """Create or replace the site's configuration (its external limit and other load
        stay); whether it was new."""
        ...

    async def set_external(self, site_id: str, limit: SiteExternalLimit | None) -> None: ...

    async def set_other_load(self, site_id: str, load: OtherLoad) -> None: ...

    async def members(self, site_id: str) -> Sequence[str]:
        """The site's chargers: its lot's EV bays' chargers and the ones assigned to it."""
        ...


class LotLayouts(Protocol):
    """The lots' EV bays, written in an event's unit of work."""

    async def replace(self, lot_id: str, at: datetime, bays: Sequence[Bay]) -> bool:
        """Keep this layout unless a newer one is known; whether it was kept."""
        ...


@dataclass(frozen=True)
class ActiveSession:
    charger_id: str
    evse_id: int
    session_id: str
    transaction_id: str | None
    started_at: datetime


@dataclass(frozen=True)
class Measured:
    """What a charger's EVSE (0: the whole charger) last measured."""

    amps: Amps3 | None  # Current.Import per phase (a phase not reported: 0)
    power_w: float | None
    at: datetime


@dataclass(frozen=True)
class StayFacts:
    """The vehicle on a bay now: when it came and when its driver said it leaves."""

    lot_id: str
    arrived_at: datetime
    departure_at: datetime | None


class EnergyReadings(Protocol):
    """What csms knows of the site's chargers now (read only)."""

    async def evses(self, charger_ids: Sequence[str]) -> Mapping[str, Mapping[int, str]]:
        """charger -> EVSE id (> 0) -> the newest connector status on it."""
        ...

    async def sessions(self, charger_ids: Sequence[str]) -> Sequence[ActiveSession]: ...

    async def measured(
        self, charger_ids: Sequence[str], since: datetime
    ) -> Mapping[tuple[str, int], Measured]: ...

    async def stays(self, charger_ids: Sequence[str]) -> Mapping[tuple[str, int], StayFacts]: ...

    async def typical_stay(self, lot_id: str, hour: int, now: datetime) -> timedelta | None:
        """The median stay of the lot's vehicles that arrived in that hour of day (UTC) over
        the last weeks; None without history."""
        ...


@dataclass(frozen=True)
class InForce:
    """A limit a charger accepted (evse 0: its station maximum; n: the session's TxProfile)."""

    limit_amps: float
    changed_at: datetime
    refused: bool = False  # it rejected a profile or did not answer: counted at its rating


class InForceStore(Protocol):
    async def load(self, charger_ids: Sequence[str]) -> Mapping[tuple[str, int], InForce]: ...

    async def save(self, site_id: str, rows: Mapping[tuple[str, int], InForce]) -> None: ...


@dataclass(frozen=True)
class Link:
    """A charger's live socket, on any csms node."""

    version: str  # "1.6", "2.0.1"
    connected_at: datetime


class ChargerLinks(Protocol):
    async def connections(self, charger_ids: Sequence[str]) -> Mapping[str, Link]: ...


class SiteLeases(Protocol):
    async def hold(self, site_ids: Sequence[str], node_id: str, now: datetime) -> set[str]:
        """Take or renew the lease of each site that is free, expired or this node's; the
        sites this node now holds."""
        ...

    async def release(self, node_id: str) -> None: ...


class ProfileCommands(Protocol):
    """The part of the charger gateway the energy manager uses (ChargerGateway has it)."""

    async def set_charging_profile(
        self,
        charger_id: str,
        version: str,
        profile: ChargingProfile,
        *,
        requested_by: str | None = None,
    ) -> CommandOutcome: ...


class SmartChargingFacts(Protocol):
    """What chargers said of their smart charging (csms/ports/smart_charging.py)."""

    async def limits(self, charger_id: str) -> SmartChargingLimits | None:
        """None: not read yet (the charger is taken as able, until it refuses)."""
        ...

    async def ev_needs(self, charger_id: str, evse_id: int) -> EvChargingNeeds | None: ...

    async def external_limits(self, charger_id: str) -> Sequence[ExternalLimit]: ...


class EnergyEvents(Protocol):
    """SiteLoadReported and SmartChargingRefused into csms's outbox."""

    async def publish(self, events: Sequence[Mapping[str, Any]]) -> None: ...
