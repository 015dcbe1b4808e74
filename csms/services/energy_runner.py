"""Runs the energy manager's rounds: every tick (1 s by default) and at once when nudged (a
session started or stopped, a status changed, a vehicle left, a limit changed), for the sites
this node holds the lease of. Each site runs on one csms node at a time: the lease is renewed
every few seconds and lapses after LEASE_TTL, when another node takes the site over."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from chargepark.clock import Clock
from csms.ports.energy import SiteLeases, SiteStore
from csms.services.energy import EnergyManager

log = logging.getLogger(__name__)

LEASE_TTL = timedelta(seconds=15)  # a dead holder's sites are taken over within this + a tick
RENEW_EVERY = timedelta(seconds=5)
# Rounds never follow each other closer than this, however often nudged (meter values of many
# chargers would otherwise keep the loop spinning).
MIN_GAP_SEC = 0.2


class Nudge:
    """Bound late to the runner: csms's commits call it (a status changed, a vehicle parked or
    left) before the runner exists. Never waits."""

    def __init__(self) -> None:
        self.target: Callable[[], None] | None = None

    def __call__(self) -> None:
        if self.target is not None:
            self.target()


class EnergyRunner:
    def __init__(
        self,
        manager: EnergyManager,
        sites: SiteStore,
        leases: SiteLeases,
        node_id: str,
        clock: Clock,
        tick_sec: float = 1.0,
    ) -> None:
        self.manager = manager
        self.sites = sites
        self.leases = leases
        self.node_id = node_id
        self.clock = clock
        self.tick_sec = tick_sec
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._held: set[str] = set()
        self._held_until: datetime | None = None
        self._renewed_at: datetime | None = None

    def nudge(self) -> None:
        """Something changed: run a round now rather than at the next tick. Never waits, so an
        OCPP handler or a commit may call it."""
        self._wake.set()

    def renew(self) -> None:
        """A site was added or changed: take its lease and run it now."""
        self._renewed_at = None
        self._wake.set()

    async def charger_ready(self, charger_id: str, version: str, booted: bool) -> None:
        """A charger booted or reconnected (and was set up): its station maximum goes out at
        once if one of this node's sites has it, and its share in the next round (it connected
        after the limit in force was set)."""
        site_id = self.manager.site_of(charger_id)
        if site_id is not None and site_id in self._held:
            try:
                await self.manager.secure(charger_id, version)
            except Exception:
                log.exception("energy: station maximum at connect failed")
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="csms-energy")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):  # the database may be gone already
            await self.leases.release(self.node_id)

    async def run_once(self) -> set[str]:
        """Renew the leases when due, then a round of every site held; the sites run."""
        now = self.clock.now()
        if self._renewed_at is None or now - self._renewed_at >= RENEW_EVERY:
            sites = [s.config.site_id for s in await self.sites.all()]
            self._held = await self.leases.hold(sites, self.node_id, now)
            self._renewed_at = now
            self._held_until = now + LEASE_TTL
        if self._held_until is None or now >= self._held_until:
            return set()  # the lease may have passed to another node: do nothing
        for site_id in sorted(self._held):
            try:
                await self.manager.run_round(site_id)
            except Exception:
                log.exception("energy round failed", extra={"site_id": site_id})
        return set(self._held)

    async def _run(self) -> None:
        failing_since: float | None = None
        while True:
            try:
                await self.run_once()
                failing_since = None
            except Exception:  # the database may be down for a while: next tick
                # Once with the traceback, then a line a minute while it lasts.
                now = asyncio.get_running_loop().time()
                if failing_since is None:
                    log.exception("energy manager round failed")
                    failing_since = now
                elif now - failing_since >= 60:
                    log.warning("energy manager rounds still failing")
                    failing_since = now
                self._renewed_at = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.tick_sec)
            self._wake.clear()
            await asyncio.sleep(MIN_GAP_SEC)
