"""The energy manager: keeps each site's chargers inside its connection. A round: the facts
(csms's records), the capacity now, the allocator's targets, then lowers, and once accepted
the raises that still fit. What each charger accepted is kept (`InForceStore`): only changes
go out, and another node can take the site over. Commands go out from the manager's own
task, never from an OCPP handler (docs/energy.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from chargepark.clock import Clock
from csms.domain.charging_profiles import UNKNOWN_LIMITS, EvChargingNeeds, SmartChargingLimits
from csms.domain.energy import (
    Allocation,
    Capacity,
    Demand,
    RotationState,
    allocate,
    clip_raises,
    plan_transition,
    with_idle_reserve,
)
from csms.ports.energy import (
    ActiveSession,
    Amps3,
    ChargerLinks,
    EnergyEvents,
    EnergyReadings,
    InForce,
    InForceStore,
    Link,
    ProfileCommands,
    Site,
    SiteStore,
    SmartChargingFacts,
)
from csms.services.energy_commands import (
    ChargerLink,
    LimitSender,
    as_raised,
    charger_links,
    held_before,
    needs_answers,
    station_profile,
)
from csms.services.energy_demands import (
    ChargerFacts,
    Snapshot,
    build_demands,
    charger_load,
    key_of,
    known_limits,
    meter_load,
    split_key,
)
from csms.services.energy_events import LoadFigures, load_report, refused_report
from csms.services.energy_urgency import Urgency

log = logging.getLogger(__name__)

Allocator = Callable[[Capacity, Sequence[Demand], datetime, RotationState], Allocation]
REPORT_EVERY = timedelta(seconds=15)  # SiteLoadReported at least this often per site
RETRY_REFUSED = timedelta(minutes=10)
MEASURED_WITHIN = timedelta(minutes=2)  # older samples say nothing of the draw now


@dataclass
class _Memory:
    """What this node remembers of a site between rounds (lost on a takeover: harmless)."""

    state: RotationState = field(default_factory=RotationState)
    reported_at: datetime | None = None
    last: Mapping[str, float] = field(default_factory=dict)
    reported: Mapping[str, float] | None = None
    answered: set[str] = field(default_factory=set)  # see energy_commands.needs_answers


@dataclass(frozen=True)
class EnergyPorts:
    sites: SiteStore
    readings: EnergyReadings
    in_force: InForceStore
    facts: SmartChargingFacts
    commands: ProfileCommands
    links: ChargerLinks
    events: EnergyEvents


class EnergyManager:
    def __init__(
        self,
        ports: EnergyPorts,
        clock: Clock,
        default_stay: timedelta,
        allocator: Allocator = allocate,
    ) -> None:
        self.allocate = allocator
        self.ports = ports
        self.clock = clock
        self.sender = LimitSender(ports.commands)
        self.urgency = Urgency(ports.readings, default_stay)
        self._memory: dict[str, _Memory] = {}
        # Chargers found without smart charging, and the connection it was told to ops for.
        self._unsupported: dict[str, datetime] = {}
        self._told: dict[str, datetime] = {}
        # What `secure` needs of each charger, from the last round of its site.
        self._site_of: dict[str, str] = {}
        self._secure: dict[str, tuple[Site, SmartChargingLimits, InForce | None]] = {}

    async def run_round(self, site_id: str) -> LoadFigures | None:
        """One allocation round of the site; its figures (None: no such site)."""
        site = await self.ports.sites.get(site_id)
        if site is None:
            self._memory.pop(site_id, None)
            return None
        now = self.clock.now()
        memory = self._memory.setdefault(site_id, _Memory())
        snapshot = await self._snapshot(site, now)
        cap = site.connection.capacity_at(now, snapshot.other_load)
        allocation = self.allocate(cap, snapshot.demands, now, memory.state)
        memory.state = allocation.state
        # Idle chargers hold their reserve: a car plugging in while csms is away can charge.
        target = with_idle_reserve(cap, snapshot.demands, allocation.limits)
        in_force = await self._transition(site, snapshot, cap, target, memory)
        self._remember(site, snapshot, in_force, now)
        figures = LoadFigures(
            site_id=site_id,
            phases=site.config.phases,
            voltage=site.config.voltage,
            capacity=cap.per_phase,
            other_load=snapshot.other_load,
            in_force=in_force,
            demands=snapshot.demands,
            paused=allocation.paused,
        )
        await self._report(figures, memory, now)
        await self._tell_unsupported(site_id, snapshot, now)
        return figures

    def _remember(
        self, site: Site, snap: Snapshot, in_force: Mapping[str, float], now: datetime
    ) -> None:
        """What `secure` sends a charger of the site that connects before the next round: the
        station maximum in force after this round (an offline one: the one it holds)."""
        for charger_id, facts in snap.chargers.items():
            self._site_of[charger_id] = site.config.site_id
            if facts.version is None:
                held = snap.rows.get((charger_id, 0))
            elif facts.smart:
                held = InForce(charger_load(in_force, snap.demands, charger_id), now)
            else:
                self._secure.pop(charger_id, None)
                continue
            self._secure[charger_id] = (site, facts.limits, held)

    def site_of(self, charger_id: str) -> str | None:
        """The site a charger was in at its site's last round here (no query)."""
        return self._site_of.get(charger_id)

    async def secure(self, charger_id: str, version: str) -> None:
        """A charger just booted or reconnected: its station maximum goes out at once, at what
        its site counts it at (0 when nothing is known), so the failsafe holds before its
        first car rather than from the next round; the round then sends its share. Only what
        the last round kept in memory is used: no query stands between the boot and the
        command."""
        known = self._secure.get(charger_id)
        if known is None:
            return
        site, limits, held = known
        amps = held.limit_amps if held is not None and not held.refused else 0.0
        link = ChargerLink(version, limits, site.config.voltage, site.config.phases)
        await self.sender.send(charger_id, link, station_profile(amps, link))

    async def describe(self, site_id: str) -> tuple[Site, LoadFigures] | None:
        """The site's figures as they stand, without sending anything (any node may answer)."""
        site = await self.ports.sites.get(site_id)
        if site is None:
            return None
        now = self.clock.now()
        snapshot = await self._snapshot(site, now)
        cap = site.connection.capacity_at(now, snapshot.other_load).per_phase
        in_force = {key: row.limit_amps for key, row in snapshot.known.items()}
        paused = frozenset(
            d.key for d in snapshot.demands if d.active and d.smart and not in_force.get(d.key)
        )
        figures = LoadFigures(
            site_id=site_id,
            phases=site.config.phases,
            voltage=site.config.voltage,
            capacity=cap,
            other_load=snapshot.other_load,
            in_force=in_force,
            demands=snapshot.demands,
            paused=paused,
            sessions={key_of(s.charger_id, s.evse_id): s.session_id for s in snapshot.sessions},
            power_w={
                key_of(*k): m.power_w for k, m in snapshot.measured.items() if m.power_w is not None
            },
        )
        return site, figures

    async def _snapshot(self, site: Site, now: datetime) -> Snapshot:
        config = site.config
        members = [c for c in await self.ports.sites.members(config.site_id)]
        members = [c for c in members if c != config.meter_charger]
        watched = members + ([config.meter_charger] if config.meter_charger else [])
        readings = self.ports.readings
        links = await self.ports.links.connections(members)
        rows = await self.ports.in_force.load(members)
        sessions = await readings.sessions(members)
        measured = await readings.measured(watched, now - MEASURED_WITHIN)
        evses = await readings.evses(members)
        chargers = [
            await self._facts(site, cid, links.get(cid), rows, evses.get(cid, {}), sessions)
            for cid in members
        ]
        departures = await self.urgency.departures(sessions, chargers, now)
        demands = build_demands(
            site_phases=config.phases,
            chargers=chargers,
            sessions=sessions,
            measured=measured,
            departures=departures,
            in_force=rows,
            now=now,
        )
        other: Amps3 = (0.0, 0.0, 0.0)
        if config.meter_charger:
            other = meter_load(measured, config.meter_charger)
        elif site.other_load is not None:
            other = site.other_load.amps
        return Snapshot(
            demands=demands,
            chargers={c.charger_id: c for c in chargers},
            links=links,
            known=known_limits(rows, links),
            rows=rows,
            sessions=sessions,
            other_load=other,
            measured=measured,
        )

    async def _facts(
        self,
        site: Site,
        charger_id: str,
        link: Link | None,
        rows: Mapping[tuple[str, int], InForce],
        evses: Mapping[int, str],
        sessions: Sequence[ActiveSession],
    ) -> ChargerFacts:
        rating = site.config.ratings.get(charger_id, site.config.charger_max_amps)
        if link is None:
            return ChargerFacts(
                charger_id=charger_id, version=None, evses=evses, rating=rating, smart=False
            )
        facts = self.ports.facts
        limits = await facts.limits(charger_id) or UNKNOWN_LIMITS
        if not limits.supported:
            self._unsupported[charger_id] = link.connected_at
        station = rows.get((charger_id, 0))
        # A refusal holds until the charger connects again (it may have been fixed), or for
        # RETRY_REFUSED (a charger that once did not answer in time is tried again).
        refused = (
            station is not None
            and station.refused
            and station.changed_at >= link.connected_at
            and self.clock.now() - station.changed_at < RETRY_REFUSED
        )
        needs: dict[int, EvChargingNeeds] = {}
        for session in sessions:
            if session.charger_id == charger_id:
                need = await facts.ev_needs(charger_id, session.evse_id)
                if need is not None:
                    needs[session.evse_id] = need
        return ChargerFacts(
            charger_id=charger_id,
            version=link.version,
            evses=evses,
            rating=rating,
            smart=limits.supported and not refused,
            limits=limits,
            external=tuple(await facts.external_limits(charger_id)),
            needs=needs,
        )

    async def _transition(
        self,
        site: Site,
        snap: Snapshot,
        cap: Capacity,
        target: Mapping[str, float],
        memory: _Memory,
    ) -> dict[str, float]:
        """Lower, wait, raise what still fits; what is in force afterwards."""
        smart = [d for d in snap.demands if d.smart]
        in_force = {k: v.limit_amps for k, v in snap.known.items() if not v.refused}
        goal = {d.key: target.get(d.key, 0.0) for d in smart}
        plan = plan_transition(in_force, goal)
        now = self.clock.now()
        changed: dict[tuple[str, int], InForce] = {}
        links = charger_links(snap.links, snap.chargers, site.config.voltage, site.config.phases)
        refused, _ = await self._step(site, plan.lower, in_force, snap, links, changed, now)
        # Kept before anything is raised: a node that takes the site over after a crash here
        # must not plan against the higher limits that were lowered.
        await self._keep(site, changed)
        # A charger that refused its lower is counted at its rating from now on.
        demands = [
            replace(d, smart=False, max_amps=snap.chargers[split_key(d.key)[0]].rating)
            if split_key(d.key)[0] in refused
            else d
            for d in snap.demands
        ]
        # A charger whose lower did not go out (it went offline meanwhile) may draw anything
        # up to its maximum: the raises must fit next to that.
        basis = {d.key: in_force.get(d.key, d.max_amps) for d in demands if d.smart}
        raises = clip_raises(cap, basis, demands, plan.raise_)
        answers = needs_answers(snap.sessions, snap.chargers, in_force, memory.answered)
        raises = {**answers, **raises}
        # Raises are kept as if accepted before they go out (a crash mid-way must not leave a
        # record lower than what a charger may now draw), then put back where not taken.
        await self._keep(site, as_raised(raises, in_force, snap.demands, now))
        no_answer = {split_key(key)[0] for key in raises}
        refused, accepted = await self._step(site, raises, in_force, snap, links, changed, now)
        no_answer -= refused | accepted
        changed.update(held_before(raises, no_answer, snap.known, snap.rows))
        await self._keep(site, changed)
        memory.last = dict(in_force)
        return in_force

    async def _keep(self, site: Site, rows: dict[tuple[str, int], InForce]) -> None:
        if rows:
            await self.ports.in_force.save(site.config.site_id, rows)

    async def _step(
        self,
        site: Site,
        changes: Mapping[str, float],
        in_force: dict[str, float],
        snap: Snapshot,
        links: Mapping[str, ChargerLink],
        changed: dict[tuple[str, int], InForce],
        now: datetime,
    ) -> tuple[set[str], set[str]]:
        """Send `changes` (grouped per charger); what was accepted joins `in_force`. The
        chargers that refused, and those that accepted."""
        changes = {k: v for k, v in changes.items() if split_key(k)[0] in links}
        if not changes:
            return set(), set()
        limits = {**in_force, **changes}
        results = await self.sender.apply(changes, limits, snap.demands, links, snap.sessions)
        events: list[dict[str, Any]] = []
        refused: set[str] = set()
        accepted: set[str] = set()
        for sent in results:
            keys = [k for k in changes if split_key(k)[0] == sent.charger_id]
            if sent.accepted:
                accepted.add(sent.charger_id)
                for key in keys:
                    in_force[key] = changes[key]
                    changed[split_key(key)] = InForce(changes[key], now)
                station = charger_load(limits, snap.demands, sent.charger_id)
                changed[(sent.charger_id, 0)] = InForce(station, now)
            elif sent.refused:
                held = snap.rows.get((sent.charger_id, 0))
                limit = held.limit_amps if held else snap.chargers[sent.charger_id].rating
                changed[(sent.charger_id, 0)] = InForce(limit, now, refused=True)
                for key in keys:
                    in_force.pop(key, None)
                refused.add(sent.charger_id)
                reason = sent.reason or "refused"
                events.append(refused_report(site.config.site_id, sent.charger_id, reason, now))
        if events:
            await self.ports.events.publish(events)
        return refused, accepted

    async def _tell_unsupported(self, site_id: str, snap: Snapshot, now: datetime) -> None:
        """SmartChargingRefused once per connection of a charger without smart charging."""
        events = []
        for charger_id in snap.chargers:
            since = self._unsupported.get(charger_id)
            if since is not None and self._told.get(charger_id) != since:
                self._told[charger_id] = since
                reason = "does not support smart charging"
                events.append(refused_report(site_id, charger_id, reason, now))
        if events:
            await self.ports.events.publish(events)

    async def _report(self, figures: LoadFigures, memory: _Memory, now: datetime) -> None:
        """SiteLoadReported when the limits changed, else at least every REPORT_EVERY."""
        due = memory.reported_at is None or now - memory.reported_at >= REPORT_EVERY
        if not due and memory.last == memory.reported:
            return
        memory.reported = dict(memory.last)
        memory.reported_at = now
        await self.ports.events.publish([load_report(figures, now)])
