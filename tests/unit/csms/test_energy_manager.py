"""The energy manager's rounds against in-memory ports: lower before raise, only changes sent,
a refusing charger counted at its rating, reports to ops."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from chargepark.events.registry import validate_event
from csms.domain.charging_profiles import EvChargingNeeds
from csms.domain.energy import Allocation, Capacity, Demand, RotationState
from csms.domain.energy.site import ExternalLimit, ScheduleEntry, SiteConnection
from csms.ports.energy import (
    ActiveSession,
    Link,
    Measured,
    OtherLoad,
    Site,
    SiteConfig,
)
from csms.services.energy import EnergyManager, EnergyPorts
from csms.services.energy_runner import RENEW_EVERY, EnergyRunner
from tests.support.fakes.csms.energy import (
    FakeReadings,
    FakeSmartCharging,
    InMemoryInForce,
    InMemorySites,
    RecordingEvents,
    RecordingProfiles,
)

T0 = datetime.fromisoformat("2026-12-07T18:00:00+00:00")


def fair_share(
    cap: Capacity, demands: Sequence[Demand], now: datetime, state: RotationState
) -> Allocation:
    """A stand-in allocator: non-smart at their maximum, the rest shared equally."""
    fixed = sum(d.max_amps for d in demands if not d.smart)
    active = [d for d in demands if d.smart and d.active]
    each = (min(cap.per_phase) - fixed) / len(active) if active else 0.0
    limits = {d.key: (d.max_amps if not d.smart else 0.0) for d in demands}
    limits.update({d.key: min(d.max_amps, int(each * 10) / 10) for d in active})
    return Allocation(limits=limits, paused=frozenset(), state=state)


def _world(clock):
    sites, readings, in_force = InMemorySites(), FakeReadings(), InMemoryInForce()
    profiles, events = RecordingProfiles(), RecordingEvents()
    ports = EnergyPorts(
        sites=sites,
        readings=readings,
        in_force=in_force,
        facts=FakeSmartCharging(),
        commands=profiles,
        links=readings,
        events=events,
    )
    manager = EnergyManager(ports, clock, timedelta(hours=3), allocator=fair_share)
    return manager, sites, readings, profiles, events


def _start(readings: FakeReadings, charger_id: str, at: datetime) -> None:
    readings.active.append(ActiveSession(charger_id, 1, f"s-{charger_id}", "7", at))


async def test_a_third_start_lowers_the_others_before_raising_and_the_site_never_exceeds(clock):
    clock.at = T0
    manager, sites, readings, profiles, events = _world(clock)
    config = SiteConfig(
        site_id="LOT-1",
        connection=SiteConnection(phases=3, voltage=230, limit_amps=(64.0, 64.0, 64.0)),
        chargers=("A", "B", "C"),
        charger_max_amps=32,
    )
    await sites.put(config, T0)
    for cid in "ABC":
        readings.connected[cid] = Link("2.0.1", T0 - timedelta(hours=1))
    _start(readings, "A", T0)
    _start(readings, "B", T0)
    await manager.run_round("LOT-1")
    assert sorted(profiles.calls) == [
        ("A", "ChargingStationMaxProfile", 32.0),
        ("B", "ChargingStationMaxProfile", 32.0),
        ("C", "ChargingStationMaxProfile", 0.0),
    ]
    profiles.calls.clear()

    clock.advance(seconds=5)
    _start(readings, "C", clock.now())
    await manager.run_round("LOT-1")
    assert [c[0] for c in profiles.calls][-1] == "C"  # raised last, after A and B lowered
    station = {"A": 32.0, "B": 32.0, "C": 0.0}
    for charger_id, _, limit in profiles.calls:
        station[charger_id] = limit
        assert sum(station.values()) <= 64.0
    assert station == {"A": 21.3, "B": 21.3, "C": 21.3}

    profiles.calls.clear()
    await manager.run_round("LOT-1")
    assert profiles.calls == []  # nothing changed: nothing re-sent

    # A reboots: it gets at once the station maximum the site counts it at, before any round.
    assert manager.site_of("A") == "LOT-1"
    await manager.secure("A", "1.6")
    assert profiles.calls == [("A", "ChargingStationMaxProfile", 21.3)]
    report = events.named("SiteLoadReported")[-1]
    assert report["site_id"] == "LOT-1" and report["limit_amps"] == [64.0, 64.0, 64.0]
    assert report["allocated_amps"] == [63.9, 63.9, 63.9]


async def test_a_charger_that_rejects_profiles_is_counted_at_its_rating(clock):
    clock.at = T0
    manager, sites, readings, profiles, events = _world(clock)
    config = SiteConfig(
        site_id="LOT-2",
        connection=SiteConnection(phases=3, voltage=230, limit_amps=(64.0, 64.0, 64.0)),
        chargers=("A", "B", "C"),
        charger_max_amps=32,
    )
    await sites.put(config, T0)
    for cid in "ABC":
        readings.connected[cid] = Link("1.6", T0 - timedelta(hours=1))
        _start(readings, cid, T0)
    profiles.answers["C"] = "Rejected"
    await manager.run_round("LOT-2")
    refused = events.named("SmartChargingRefused")
    assert [(e["site_id"], e["charger_id"]) for e in refused] == [("LOT-2", "C")]
    clock.advance(seconds=1)
    profiles.calls.clear()
    await manager.run_round("LOT-2")
    # C may draw its 32 A: A and B share what is left.
    assert sorted(profiles.calls) == [
        ("A", "ChargingStationMaxProfile", 16.0),
        ("B", "ChargingStationMaxProfile", 16.0),
    ]
    # A charger without smart charging at all: counted at its rating, told to ops once.
    manager.ports.facts.unsupported.add("B")  # type: ignore[attr-defined]
    await manager.run_round("LOT-2")
    await manager.run_round("LOT-2")
    refused = events.named("SmartChargingRefused")
    assert [(e["charger_id"], e["reason"]) for e in refused[1:]] == [
        ("B", "does not support smart charging")
    ]
    figures = await manager.describe("LOT-2")
    assert figures is not None
    c = next(d for d in figures[1].demands if d.key == "C/1")
    assert not c.smart and c.max_amps == 32
    assert figures[1].in_force["A/1"] == 0.0  # B and C take their full 32 A: A gets nothing


def test_the_limit_in_force_follows_schedule_external_limit_other_load_and_margin():
    # A kW site with a night entry in amps, in the site's time zone (UTC+1 in December).
    night_entry = ScheduleEntry("23:00", "07:00", (150.0, 150.0, 150.0), in_kw=False)
    connection = SiteConnection(
        phases=3,
        voltage=230,
        limit_kw=69.0,
        margin_amps=5,
        schedule=(night_entry,),
        timezone="Europe/Berlin",
    )
    config = SiteConfig(site_id="S", connection=connection)
    day = datetime.fromisoformat("2026-12-07T12:00:00+00:00")
    night = datetime.fromisoformat("2026-12-07T23:00:00+00:00")  # 00:00 in Berlin
    early = datetime.fromisoformat("2026-12-07T05:30:00+00:00")  # 06:30 in Berlin
    late = datetime.fromisoformat("2026-12-07T06:30:00+00:00")  # 07:30 in Berlin: over
    site = Site(config)
    assert site.connection.limit_at(day) == (100.0, 100.0, 100.0)
    assert site.connection.limit_at(night) == (150.0, 150.0, 150.0)
    assert site.connection.limit_at(early) == (150.0, 150.0, 150.0)  # past midnight
    assert site.connection.limit_at(late) == (100.0, 100.0, 100.0)
    curtailed = Site(
        config, external=ExternalLimit(night + timedelta(hours=1), limit_amps=(40.0, 50.0, 60.0))
    )
    assert curtailed.connection.limit_at(night) == (40.0, 50.0, 60.0)
    assert curtailed.connection.limit_at(night + timedelta(hours=2)) == (150.0, 150.0, 150.0)
    loaded = Site(config, other_load=OtherLoad((10.0, 20.0, 200.0), night))
    cap = loaded.connection.capacity_at(night, (10.0, 20.0, 200.0))
    assert cap == Capacity((135.0, 125.0, 0.0))


async def test_a_meter_charger_is_other_load_and_two_evses_get_a_tx_profile_each(clock):
    clock.at = T0
    manager, sites, readings, profiles, events = _world(clock)
    config = SiteConfig(
        site_id="LOT-3",
        connection=SiteConnection(phases=3, voltage=230, limit_amps=(64.0, 64.0, 64.0)),
        chargers=("TWIN",),
        meter_charger="METER",
    )
    await sites.put(config, T0)
    readings.connected["TWIN"] = Link("2.0.1", T0 - timedelta(hours=1))
    readings.statuses["TWIN"] = {1: "Charging", 2: "Charging"}
    readings.active += [
        ActiveSession("TWIN", 1, "s-1", "tx-1", T0),
        ActiveSession("TWIN", 2, "s-2", "tx-2", T0),
    ]
    readings.amps[("METER", 0)] = Measured((24.0, 24.0, 24.0), None, T0)
    figures = await manager.run_round("LOT-3")
    assert figures is not None and figures.capacity == (40.0, 40.0, 40.0)
    assert ("TWIN", "ChargingStationMaxProfile", 40.0) in profiles.calls
    assert [c for c in profiles.calls if c[1] == "TxProfile"] == [
        ("TWIN", "TxProfile", 20.0),
        ("TWIN", "TxProfile", 20.0),
    ]
    [report] = events.named("SiteLoadReported")
    validate_event(report)  # what ops reads: the schema ops owns
    assert report["other_load_amps"] == [24.0, 24.0, 24.0]
    assert [(c["charger_id"], c["evse_id"], c["limit_amps"]) for c in report["chargers"]] == [
        ("TWIN", 1, 20.0),
        ("TWIN", 2, 20.0),
    ]


async def test_a_site_runs_only_on_the_node_holding_its_lease(clock):
    clock.at = T0
    manager, sites, _, _, _ = _world(clock)
    await sites.put(
        SiteConfig(site_id="LOT-4", connection=SiteConnection(phases=1, voltage=230, limit_kw=7.4)),
        T0,
    )

    class Leases:
        def __init__(self) -> None:
            self.holder: str | None = None

        async def hold(self, site_ids, node_id, now):
            self.holder = self.holder or node_id
            return set(site_ids) if self.holder == node_id else set()

        async def release(self, node_id):
            if self.holder == node_id:
                self.holder = None

    leases = Leases()
    first = EnergyRunner(manager, sites, leases, "node-a", clock)
    second = EnergyRunner(manager, sites, leases, "node-b", clock)
    assert await first.run_once() == {"LOT-4"}
    assert await second.run_once() == set()
    await first.stop()  # releases its leases
    clock.advance(seconds=RENEW_EVERY.total_seconds())
    assert await second.run_once() == {"LOT-4"}


async def test_an_iso15118_car_s_charging_needs_are_answered_by_a_tx_profile_once(clock):
    clock.at = T0
    manager, sites, readings, profiles, _events = _world(clock)
    config = SiteConfig(
        site_id="LOT-4",
        connection=SiteConnection(phases=3, voltage=230, limit_amps=(32.0, 32.0, 32.0)),
        chargers=("ISO",),
    )
    await sites.put(config, T0)
    readings.connected["ISO"] = Link("2.0.1", T0 - timedelta(hours=1))
    readings.statuses["ISO"] = {1: "Charging"}
    _start(readings, "ISO", T0)
    await manager.run_round("LOT-4")
    # One EVSE, no needs yet: the station maximum alone carries its limit.
    assert [c[1] for c in profiles.calls] == ["ChargingStationMaxProfile"]
    needs = EvChargingNeeds(
        evse_id=1,
        requested_transfer="AC_three_phase",
        departure=T0 + timedelta(hours=2),
        energy_wh=20_000,
        max_current=32,
        min_current=6,
        reported_at=T0,
    )
    facts = manager.ports.facts
    assert isinstance(facts, FakeSmartCharging)
    facts.needs[("ISO", 1)] = needs
    profiles.calls.clear()
    clock.at = T0 + timedelta(seconds=2)
    await manager.run_round("LOT-4")
    assert ("ISO", "TxProfile", 32.0) in profiles.calls  # its share did not change
    profiles.calls.clear()
    clock.at = T0 + timedelta(seconds=4)
    await manager.run_round("LOT-4")
    assert profiles.calls == []  # answered once, not every round


async def test_an_idle_charger_holds_the_minimum_a_car_needs_while_the_site_has_room(clock):
    clock.at = T0
    manager, sites, readings, profiles, _events = _world(clock)
    config = SiteConfig(
        site_id="LOT-5",
        connection=SiteConnection(phases=3, voltage=230, limit_amps=(40.0, 40.0, 40.0)),
        chargers=("BUSY", "IDLE"),
        charger_max_amps=32,
    )
    await sites.put(config, T0)
    for cid in ("BUSY", "IDLE"):
        readings.connected[cid] = Link("1.6", T0 - timedelta(hours=1))
    readings.statuses["BUSY"] = {1: "Charging"}
    readings.statuses["IDLE"] = {1: "Available"}
    _start(readings, "BUSY", T0)
    await manager.run_round("LOT-5")
    # A car plugging into IDLE while csms is away can charge at 6 A: 32 + 6 fit in 40.
    assert ("IDLE", "ChargingStationMaxProfile", 6.0) in profiles.calls
    assert ("BUSY", "ChargingStationMaxProfile", 32.0) in profiles.calls
    profiles.calls.clear()
    readings.connected["LATE"] = Link("1.6", T0)
    readings.statuses["LATE"] = {1: "Available"}
    await sites.put(replace(config, chargers=("BUSY", "IDLE", "LATE")), T0)
    clock.at = T0 + timedelta(seconds=2)
    await manager.run_round("LOT-5")
    # No room for a second reserve (32 + 6 + 6 > 40): the late charger holds 0 A.
    assert ("LATE", "ChargingStationMaxProfile", 0.0) in profiles.calls


async def test_a_raise_is_kept_before_it_goes_out_and_put_back_when_nobody_answered(clock):
    clock.at = T0
    sites, readings, in_force = InMemorySites(), FakeReadings(), InMemoryInForce()
    profiles = RecordingProfiles(watch=in_force)
    ports = EnergyPorts(
        sites=sites,
        readings=readings,
        in_force=in_force,
        facts=FakeSmartCharging(),
        commands=profiles,
        links=readings,
        events=RecordingEvents(),
    )
    manager = EnergyManager(ports, clock, timedelta(hours=3), allocator=fair_share)
    config = SiteConfig(
        site_id="LOT-6",
        connection=SiteConnection(phases=3, voltage=230, limit_amps=(64.0, 64.0, 64.0)),
        chargers=("A", "B"),
        charger_max_amps=32,
    )
    await sites.put(config, T0)
    for cid in "AB":
        readings.connected[cid] = Link("1.6", T0 - timedelta(hours=1))
        readings.statuses[cid] = {1: "Available"}
    readings.statuses["A"] = {1: "Charging"}
    _start(readings, "A", T0)
    await manager.run_round("LOT-6")
    assert in_force.rows[("B", 1)].limit_amps == 6.0  # idle: its reserve
    # B starts: its raise to 32 A is on record before the call goes out, so a node that
    # takes the site over after a crash mid-round plans against what B may now draw.
    readings.statuses["B"] = {1: "Charging"}
    _start(readings, "B", T0)
    profiles.calls.clear()
    profiles.recorded.clear()
    profiles.answers["B"] = "offline"  # ... and B is gone before it answers
    clock.at = T0 + timedelta(seconds=2)
    await manager.run_round("LOT-6")
    [raised] = [i for i, call in enumerate(profiles.calls) if call[0] == "B"]
    assert profiles.recorded[raised][("B", 1)] == 32.0
    # Not taken: the 6 A it held before stands on record.
    assert in_force.rows[("B", 1)].limit_amps == 6.0
    assert in_force.rows[("B", 0)].limit_amps == 6.0
