"""The failsafe over real WebSockets: csms goes away, and every charger of a site keeps the
station maximum it last accepted, so the site stays inside its connection. A charging car
holds its share, an idle charger its reserve (the 6 A minimum, out of what was free), one
with no room left 0 A. Chargers are the simulator (1.6 and 2.0.1), which keeps its profiles
through a lost connection as real chargers do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest_asyncio

from chargepark.platform.config import SERVICES, load_settings
from chargepark.platform.runtime import Platform
from simulators.chargepoint import ChargePointSimulator, PowerCurve, Vehicle
from simulators.rest import PlatformClient
from tests.support import templates
from tests.support.procs import free_port
from tests.support.sim_site import CLIENT, Site

LIMIT_AMPS = 40.0  # one car at 32 A, one reserve of 6 A; no room for a second reserve


@pytest_asyncio.fixture
async def site(tmp_path) -> AsyncIterator[Site]:
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path),
        "CHARGEPARK_BOOTSTRAP_CLIENT_ID": CLIENT[0],
        "CHARGEPARK_BOOTSTRAP_CLIENT_SECRET": CLIENT[1],
        "CHARGEPARK_LOG_LEVEL": "warning",
    }
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(settings, SERVICES)
    await templates.seed(settings)
    await platform.start()
    try:
        async with PlatformClient(
            platform.base_url, client_id=CLIENT[0], client_secret=CLIENT[1]
        ) as client:
            yield Site(platform, client)
    finally:
        await platform.stop()  # a second stop, after the test's own, changes nothing


def station_amps(cp: ChargePointSimulator) -> float | None:
    """The station maximum the charger holds now (None: none)."""
    held = cp.profiles.limit_at(0, cp.clock.now())
    return None if held is None else held.amps


async def test_with_csms_gone_each_charger_keeps_its_station_maximum_and_the_site_its_limit(
    site: Site,
) -> None:
    ids = {"FS-A": "1.6", "FS-B": "2.0.1", "FS-C": "1.6"}
    for cp_id in ids:
        await site.client.post("/charging/chargers", {"id": cp_id})
    customer = await site.client.post("/accounts/customers", {"name": "Failsafe"})
    await site.client.post(
        f"/accounts/customers/{customer['id']}/id-tokens",
        {"id_token": "FSCARD", "type": "ISO14443"},
    )
    body = {"phases": 3, "voltage": 230, "limit_amps": LIMIT_AMPS, "chargers": list(ids)}
    await site.client.request("PUT", "/charging/sites/FS-LOT", body)
    bays = PowerCurve.ac(22)  # 32 A on three phases, the site's rating per charger
    a, b, c = (site.charger(cp_id, version, curve=bays) for cp_id, version in ids.items())
    async with a, b, c:
        for cp in (a, b, c):
            await cp.wait_booted(10)
        await a.plug(1, Vehicle(battery_kwh=80, soc=0.1))
        assert await a.authorize(1, "FSCARD") == "Accepted"
        want = {a: 32.0, b: 6.0, c: 0.0}  # the car its rating, FS-B the reserve, FS-C none
        for cp, amps in want.items():
            await cp.wait_for(lambda cp=cp, amps=amps: station_amps(cp) == amps, 15)
        charging = asyncio.create_task(a.charge(1, kwh=60))  # the car draws what it may
        await a.wait_for(lambda: a.evses[1].amps > 30, 15)

        await site.platform.stop()  # csms is gone: nobody lowers or raises anything now
        for cp in (a, b, c):
            await cp.wait_for(lambda cp=cp: not cp.connected, 10)
        await asyncio.sleep(0.5)  # at 1500x: over 12 simulated minutes without csms

        held = {cp: station_amps(cp) for cp in (a, b, c)}
        assert held == want
        assert sum(amps or 0.0 for amps in held.values()) <= LIMIT_AMPS
        # The car charges on, within its station maximum.
        assert 0 < a.evses[1].amps <= 32.0
        assert a.evses[1].tx is not None and not charging.done()
        charging.cancel()
