"""parking and the energy manager in one platform: a lot's EV bays become its site's chargers
through LotBaysChanged, and a driver's declared departure rides on VehicleParked to csms."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.support.e2e_parking import a_lot, call


async def _site_chargers(http, parking) -> list[str]:
    url = f"{parking.platform.base_url}/charging/sites/A1"
    async with http.get(url, headers=parking.charging) as r:
        assert r.status == 200, await r.text()
        return [c["charger_id"] for c in (await r.json())["chargers"]]


async def test_a_lots_bays_are_its_sites_chargers_and_departures_reach_csms(parking, http):
    await a_lot(http, parking)
    site = {"phases": 3, "voltage": 230, "limit_kw": 44, "chargers": ["CP-X"]}
    url = f"{parking.platform.base_url}/charging/sites/A1"
    async with http.put(url, json=site, headers=parking.charging) as r:
        assert r.status == 201, await r.text()
    async with asyncio.timeout(5):
        while await _site_chargers(http, parking) != ["CP-1", "CP-X"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    # A new EV bay joins the site; a plain slot changes nothing.
    bay = {"slot_ui": 4, "level": "P0", "fits": "CAR", "ev_bay": True, "charger_id": "CP-4"}
    status, _, body = await call(
        http, parking, "PATCH", "/lots/A1", {"add_slots": [{**bay, "connector_id": 1}]}
    )
    assert status == 200, body
    async with asyncio.timeout(5):
        while await _site_chargers(http, parking) != ["CP-1", "CP-4", "CP-X"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    park = {"regnum": "EV1", "kind": "CAR", "fuel": "EV", "departure_at": past}
    status, kind, problem = await call(http, parking, "POST", "/lots/A1/park", park)
    assert status == 422 and kind == "application/problem+json", problem
    status, _, problem = await call(
        http, parking, "POST", "/lots/A1/park", {**park, "departure_at": "soon"}
    )
    assert status == 422, problem
    leaving = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    park["departure_at"] = leaving.isoformat()
    status, _, body = await call(http, parking, "POST", "/lots/A1/park", park)
    assert status == 200, body
    [parked] = await parking.events_named("VehicleParked", 1)
    assert parked["departure_at"] == leaving.isoformat().replace("+00:00", "Z")
