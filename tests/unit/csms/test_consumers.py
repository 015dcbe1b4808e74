"""The parking events csms applies, against in-memory bays: a parked vehicle names the
sessions on its charger, in either order of the park and leave events."""

from __future__ import annotations

from csms.consumers import left, parked
from csms.domain.sessions import Session
from tests.conftest import T0
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
