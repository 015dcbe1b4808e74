"""What operators and outside tools do to sites (csms/api/sites.py): create or change a site,
set an external limit, push the other load, read a site's figures. Every change nudges the
energy manager, so new limits go out within a round."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from chargepark.clock import Clock
from chargepark.errors import Conflict, Invalid, NotFound
from csms.domain.energy.site import ExternalLimit
from csms.ports.energy import OtherLoad, Site, SiteConfig, SiteStore
from csms.services.energy import EnergyManager
from csms.services.energy_events import LoadFigures


class UnknownSite(NotFound):
    def __init__(self, site_id: str) -> None:
        super().__init__(f"no site {site_id!r}")


class SiteAdmin:
    def __init__(
        self,
        sites: SiteStore,
        manager: EnergyManager,
        clock: Clock,
        nudge: Callable[[], None] = lambda: None,
    ) -> None:
        self.sites = sites
        self.manager = manager
        self.clock = clock
        self.nudge = nudge

    async def put(self, config: SiteConfig) -> bool:
        """Create or replace the site (its connection was validated when built); whether it
        is new."""
        if config.meter_charger is not None and config.meter_charger in config.chargers:
            raise Invalid("the meter charger measures other load: it is not one of the chargers")
        await self._check_free(config)
        new = await self.sites.put(config, self.clock.now())
        self.nudge()
        return new

    async def _check_free(self, config: SiteConfig) -> None:
        """A charger belongs to one site: two managers of its limit would fight over it."""
        wanted = set(config.chargers)
        for site in await self.sites.all():
            if site.config.site_id == config.site_id or not wanted:
                continue
            taken = wanted & set(await self.sites.members(site.config.site_id))
            if taken:
                raise Conflict(f"charger {sorted(taken)[0]} is in site {site.config.site_id!r}")

    async def set_external(self, site_id: str, limit: ExternalLimit | None) -> Site:
        site = await self.get(site_id)
        if limit is not None and limit.until <= self.clock.now():
            raise Invalid("until must be in the future")
        if limit is not None:  # the connection checks it against the site's phases
            replace(site.config.connection, external=limit)
        await self.sites.set_external(site_id, limit)
        self.nudge()
        return await self.get(site_id)

    async def set_other_load(self, site_id: str, amps: Sequence[float], at: datetime) -> Site:
        await self.get(site_id)
        if at > self.clock.now():
            raise Invalid("at must not be in the future")
        load = (float(amps[0]), float(amps[1]), float(amps[2]))
        await self.sites.set_other_load(site_id, OtherLoad(load, at))
        self.nudge()
        return await self.get(site_id)

    async def get(self, site_id: str) -> Site:
        site = await self.sites.get(site_id)
        if site is None:
            raise UnknownSite(site_id)
        return site

    async def all(self) -> Sequence[Site]:
        return await self.sites.all()

    async def describe(self, site_id: str) -> tuple[Site, LoadFigures]:
        found = await self.manager.describe(site_id)
        if found is None:
            raise UnknownSite(site_id)
        return found
