"""The energy manager's SQL side on SQLite and PostgreSQL: a lot's bays from parking's event
make the site's chargers, a declared departure and the typical stay reach the manager, what is
in force survives, and a site's lease passes to another node only once its holder stops
renewing it."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from chargepark.db import migrate
from csms.adapters.energy_readings import SqlEnergyReadings
from csms.adapters.energy_store import SqlInForce, SqlSiteLeases, SqlSiteStore
from csms.adapters.energy_tables import energy_sites
from csms.adapters.repository import CsmsUnitOfWork
from csms.adapters.tables import kernel
from csms.consumers import build_consumer
from csms.domain.energy.site import ExternalLimit, ScheduleEntry, SiteConnection
from csms.ports.energy import InForce, SiteConfig
from csms.services.energy_runner import LEASE_TTL, RENEW_EVERY, EnergyRunner
from tests.conftest import T0


def _event(name: str, **fields):
    return {
        "event": name,
        "event_id": str(uuid.uuid4()),
        "schema_version": 1,
        "correlation_id": None,
        **fields,
    }


async def test_bays_departures_in_force_and_leases(any_db, clock):
    await migrate.upgrade("csms", any_db)

    def uow() -> CsmsUnitOfWork:
        return CsmsUnitOfWork(any_db, kernel.outbox, clock, lambda: None)

    consumer = build_consumer(uow, kernel, clock)
    bays = [
        {"slot_ui": "1", "charger_id": "CP-1", "connector_id": 1},
        {"slot_ui": "2", "charger_id": "CP-2", "connector_id": 1},
    ]
    await consumer.deliver(
        _event("LotBaysChanged", lot_id="LOT-1", ts="2026-11-27T09:00:00Z", bays=bays), 1
    )
    # An older layout arriving late changes nothing.
    await consumer.deliver(
        _event("LotBaysChanged", lot_id="LOT-1", ts="2026-11-27T08:00:00Z", bays=[]), 1
    )
    sites = SqlSiteStore(any_db)
    connection = SiteConnection(
        phases=3,
        voltage=230,
        limit_amps=(63.0, 60.0, 63.0),
        schedule=(
            ScheduleEntry("22:00", "06:00", 110.4, (0, 4), in_kw=True),
            ScheduleEntry("17:00", "19:00", (40.0, 40.0, 30.0)),
        ),
        timezone="Europe/Berlin",
    )
    await sites.put(SiteConfig(site_id="LOT-1", connection=connection, chargers=("CP-9",)), T0)
    assert await sites.members("LOT-1") == ["CP-1", "CP-2", "CP-9"]
    site = await sites.get("LOT-1")
    assert site is not None and site.config.connection == connection
    external = ExternalLimit(T0 + timedelta(hours=1), limit_amps=(10.0, 20.0, 30.0))
    await sites.set_external("LOT-1", external)
    site = await sites.get("LOT-1")
    assert site is not None and site.external == external
    # A row in the older daily UTC form reads as windows from each start to the next.
    old = json.dumps(
        [{"start_minute": 1320, "limit_kw": 110.4}, {"start_minute": 360, "limit_amps": [9] * 3}]
    )
    async with any_db.engine.begin() as conn:
        await conn.execute(energy_sites.update().values(schedule=old))
    site = await sites.get("LOT-1")
    assert site is not None and site.config.connection.schedule == (
        ScheduleEntry("06:00", "22:00", (9.0, 9.0, 9.0), in_kw=False),
        ScheduleEntry("22:00", "06:00", 110.4, in_kw=True),
    )

    parked = _event(
        "VehicleParked",
        lot_id="LOT-1",
        level="L0",
        slot_ui="1",
        regnum="AB1",
        kind="CAR",
        fuel="EV",
        charger_id="CP-1",
        connector_id=1,
        ts="2026-11-27T09:00:00Z",
        departure_at="2026-11-27T17:30:00Z",
    )
    await consumer.deliver(parked, 1)
    readings = SqlEnergyReadings(any_db)
    stays = await readings.stays(["CP-1"])
    assert stays[("CP-1", 1)].departure_at is not None
    assert stays[("CP-1", 1)].departure_at.hour == 17
    assert await readings.typical_stay("LOT-1", 9, T0) is None  # no history yet

    in_force = SqlInForce(any_db)
    await in_force.save("LOT-1", {("CP-1", 0): InForce(16.0, T0), ("CP-1", 1): InForce(16.0, T0)})
    await in_force.save("LOT-1", {("CP-1", 0): InForce(10.0, T0, refused=True)})
    rows = await in_force.load(["CP-1"])
    assert rows[("CP-1", 0)] == InForce(10.0, T0, refused=True)
    assert rows[("CP-1", 1)].limit_amps == 16.0

    leases = SqlSiteLeases(any_db, LEASE_TTL)
    assert await leases.hold(["LOT-1", "LOT-2"], "node-a", T0) == {"LOT-1", "LOT-2"}
    assert await leases.hold(["LOT-1", "LOT-2"], "node-b", T0 + timedelta(seconds=5)) == set()
    assert await leases.hold(["LOT-1"], "node-a", T0 + timedelta(seconds=10)) == {"LOT-1"}
    # node-a stops renewing: node-b takes over each site once its lease ran out.
    later = T0 + timedelta(seconds=10) + LEASE_TTL + timedelta(seconds=1)
    assert await leases.hold(["LOT-1", "LOT-2"], "node-b", later) == {"LOT-1", "LOT-2"}
    assert await leases.hold(["LOT-1"], "node-a", later) == set()
    await leases.release("node-b")
    assert await leases.hold(["LOT-1"], "node-a", later) == {"LOT-1"}


async def test_the_typical_stay_is_the_median_of_the_hours_stays(any_db, clock):
    await migrate.upgrade("csms", any_db)

    def uow() -> CsmsUnitOfWork:
        return CsmsUnitOfWork(any_db, kernel.outbox, clock, lambda: None)

    consumer = build_consumer(uow, kernel, clock)
    for n, (arrived, minutes) in enumerate(
        [("08:10", 60), ("08:20", 120), ("08:50", 90), ("14:00", 600), ("08:30", 30)]
    ):
        fields = {"lot_id": "LOT-1", "level": "L0", "slot_ui": str(n), "regnum": f"AB{n}"}
        fields |= {"kind": "CAR", "fuel": "EV", "charger_id": f"CP-{n}", "connector_id": 1}
        at = T0.replace(hour=int(arrived[:2]), minute=int(arrived[3:])) - timedelta(days=1)
        left = at + timedelta(minutes=minutes)
        await consumer.deliver(
            _event(
                "VehicleLeft",
                **fields,
                arrived_at=at.isoformat(),
                duration_sec=minutes * 60,
                ts=left.isoformat(),
            ),
            1,
        )
    readings = SqlEnergyReadings(any_db)
    assert await readings.typical_stay("LOT-1", 8, T0) == timedelta(minutes=75)
    assert await readings.typical_stay("LOT-1", 14, T0) is None  # one stay is not a habit


async def test_another_node_takes_a_site_over_once_its_holders_lease_lapses(postgres_db, clock):
    await migrate.upgrade("csms", postgres_db)
    sites = SqlSiteStore(postgres_db)
    config = SiteConfig(
        site_id="LOT-1", connection=SiteConnection(phases=3, voltage=230, limit_amps=32.0)
    )
    await sites.put(config, clock.now())

    class Rounds:
        def __init__(self) -> None:
            self.ran: list[str] = []

        async def run_round(self, site_id: str) -> None:
            self.ran.append(site_id)

    a, b = Rounds(), Rounds()
    leases = SqlSiteLeases(postgres_db, LEASE_TTL)
    node_a = EnergyRunner(a, sites, leases, "node-a", clock)  # type: ignore[arg-type]
    node_b = EnergyRunner(b, sites, leases, "node-b", clock)  # type: ignore[arg-type]
    assert await node_a.run_once() == {"LOT-1"}
    assert await node_b.run_once() == set()
    # node-a dies (renews no more): node-b holds the site within the lease and one renewal.
    waited = timedelta()
    while not await node_b.run_once():
        clock.advance(seconds=1)
        waited += timedelta(seconds=1)
    assert waited <= LEASE_TTL + RENEW_EVERY < timedelta(seconds=30)
    assert a.ran == ["LOT-1"] and b.ran == ["LOT-1"]
    # node-a comes back: it sees the site is no longer its own and stays idle.
    clock.advance(seconds=RENEW_EVERY.total_seconds())
    assert await node_a.run_once() == set()
