"""The ParkedVehicles port: the same cases in memory and on SQL (in a unit of work's
transaction, as the consumer runs it)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from csms.adapters.parked_vehicles import SqlParkedVehicles
from csms.adapters.session_queries import SessionQueries
from csms.domain.sessions import Session
from csms.ports.parked_vehicles import BayStay, ParkedVehicles
from tests.conftest import T0
from tests.support.fakes.csms.parked_vehicles import InMemoryParkedVehicles


class Bays:
    def __init__(self, backend) -> None:
        self.backend = backend
        self.fake = InMemoryParkedVehicles()

    async def run(self, step: Callable[[ParkedVehicles], Awaitable[object]]) -> object:
        if self.backend.fake:
            return await step(self.fake)
        async with self.backend.uow()() as unit:
            result = await step(SqlParkedVehicles(unit))
            await unit.commit()
        return result

    async def add(self, session: Session) -> None:
        if self.backend.fake:
            self.fake.sessions.append(session)
            return
        async with self.backend.uow()() as unit:
            await unit.sessions.add(session)
            await unit.commit()

    async def regnum(self, session_id: str) -> str | None:
        if self.backend.fake:
            return next(s.regnum for s in self.fake.sessions if s.id == session_id)
        return (await SessionQueries(self.backend.db).get(session_id)).regnum


@pytest.fixture
async def bays(backend) -> Bays:
    await backend.register("CP-1")
    return Bays(backend)


def stay(**changes) -> BayStay:
    base = {
        "lot_id": "L-1",
        "regnum": "ABC-1",
        "arrived_at": T0,
        "slot_ui": "A1",
        "charger_id": "CP-1",
        "evse_id": 1,
    }
    return BayStay(**{**base, **changes})


def session(sid: str, evse_id: int, status: str = "active") -> Session:
    return Session(
        id=sid,
        charger_id="CP-1",
        transaction_id=sid,
        evse_id=evse_id,
        connector_id=1,
        started_at=T0,
        status=status,
    )


async def test_an_arrival_is_recorded_once_and_a_leave_that_came_first_wins(bays):
    assert await bays.run(lambda s: s.arrived(stay())) is True
    assert await bays.run(lambda s: s.arrived(stay())) is True
    later = T0 + timedelta(hours=1)
    await bays.run(lambda s: s.left(stay(regnum="XYZ-9", left_at=later)))
    assert await bays.run(lambda s: s.arrived(stay(regnum="XYZ-9"))) is False


async def test_ongoing_sessions_without_a_regnum_on_the_evse_are_tagged(bays):
    for s in (session("s-1", 1), session("s-2", 2), session("s-3", 1, status="closed")):
        await bays.add(s)
    await bays.run(lambda s: s.tag_sessions("CP-1", 1, "ABC-1"))
    assert [await bays.regnum(i) for i in ("s-1", "s-2", "s-3")] == ["ABC-1", None, None]
    await bays.run(lambda s: s.tag_sessions("CP-1", None, "XYZ-9"))
    assert [await bays.regnum(i) for i in ("s-1", "s-2")] == ["ABC-1", "XYZ-9"]
