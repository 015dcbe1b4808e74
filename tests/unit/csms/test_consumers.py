"""The events csms applies, against in-memory ports: accounts' word on an id token goes into
the cache; a parked vehicle names the sessions on its charger, in either order of the park and
leave events."""

from __future__ import annotations

from csms.consumers import left, parked, token_changed
from csms.domain.authorization import Authorization
from csms.domain.sessions import Session
from tests.conftest import T0
from tests.support.fakes.csms.authorization import InMemoryIdTokenCache
from tests.support.fakes.csms.parked_vehicles import InMemoryParkedVehicles

ARRIVED = "2026-11-27T08:00:00Z"


def event(**extra):
    return {"lot_id": "L-1", "regnum": "ABC-1", "slot_ui": "A1", "ts": ARRIVED, **extra}


def session(sid: str, evse_id: int, status: str = "active") -> Session:
    return Session(
        id=sid,
        charger_id="CP-1",
        transaction_id=None,
        evse_id=evse_id,
        connector_id=1,
        started_at=T0,
        status=status,
    )


async def test_a_parked_vehicle_names_the_ongoing_sessions_on_its_evse():
    sessions = [session("s-1", 1), session("s-2", 2), session("s-3", 1, status="closed")]
    stays = InMemoryParkedVehicles(sessions)
    await parked(event(charger_id="CP-1", connector_id=1), stays)
    assert [s.regnum for s in sessions] == ["ABC-1", None, None]


async def test_a_vehicle_on_a_bay_without_a_charger_is_ignored():
    stays = InMemoryParkedVehicles([session("s-1", 1)])
    await parked(event(), stays)
    assert stays.stays == {} and stays.sessions[0].regnum is None


async def test_a_leave_that_overtook_the_park_is_not_undone_by_it():
    sessions = [session("s-1", 1)]
    stays = InMemoryParkedVehicles(sessions)
    await left(
        event(charger_id="CP-1", arrived_at=ARRIVED, ts="2026-11-27T08:30:00Z"),
        stays,
    )
    await parked(event(charger_id="CP-1", connector_id=None), stays)
    assert sessions[0].regnum is None
    [stay] = stays.stays.values()
    assert stay.left_at is not None


async def test_an_id_token_change_replaces_the_cache_entry(clock):
    cache = InMemoryIdTokenCache()
    await cache.put("RFID-1", Authorization("Accepted", "c-1"), T0)
    clock.advance(minutes=1)
    changed = {"id_token": "RFID-1", "customer_id": "c-1", "status": "Blocked"}
    await token_changed({**changed, "expires_at": "2027-01-01T00:00:00Z"}, cache, clock)
    auth, fetched_at = cache.entries["RFID-1"]
    assert (auth.status, auth.expires_at.year, fetched_at) == ("Blocked", 2027, clock.now())


async def test_a_declared_departure_is_kept_with_the_stay():
    stays = InMemoryParkedVehicles([])
    await parked(
        event(charger_id="CP-1", connector_id=1, departure_at="2026-11-27T18:00:00Z"), stays
    )
    [stay] = stays.stays.values()
    assert stay.departure_at is not None and stay.departure_at.hour == 18
