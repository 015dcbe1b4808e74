"""Park and leave end to end through the use cases, on every storage path: the fakes, the SQL
unit of work on SQLite and PostgreSQL, and PostgreSQL's single statements. Same answers, same
events, same refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parking.domain import (
    AlreadyParked,
    Fuel,
    LotFull,
    NotParked,
    OutOfOrder,
    UnknownLot,
    VehicleKind,
)
from parking.service import CreateLot, LeaveLot, ParkVehicle
from tests.conftest import T0
from tests.support.parking import a_slot

CAR, ICE, EV = VehicleKind.CAR, Fuel.ICE, Fuel.EV


def a_lot() -> CreateLot:
    slots = [
        a_slot(1, "P0", ev_bay=True, charger_id="CP-1", connector_id=1),
        a_slot(2, "P0"),
        a_slot(7, "P1", level_rank=1),
    ]
    return CreateLot("S", "lot", slots)


async def stay_events(parking) -> list[dict]:
    """The stays' events (VehicleParked, VehicleLeft): a lot's creation has its own."""
    return [e for e in await parking.events() if e["event"] != "LotBaysChanged"]


def park(regnum: str, fuel: Fuel = ICE, **more) -> ParkVehicle:
    return ParkVehicle(lot_id="S", regnum=regnum, kind=CAR, fuel=fuel, **more)


async def test_a_stay_parks_nearest_and_leaves_with_its_duration_and_events(parking, clock):
    await parking.service.create_lot(a_lot())
    ev = await parking.service.park(park("ev-1", EV, ts=T0 - timedelta(minutes=5)))
    car = await parking.service.park(park("AB1"))
    assert (ev.slot.slot_ui, ev.since, car.slot.slot_ui, car.since) == (
        1,
        T0 - timedelta(minutes=5),
        2,
        T0,
    )
    clock.advance(minutes=10)
    left = await parking.service.leave(LeaveLot("S", regnum="EV1"))
    assert (left.stay.slot.slot_ui, left.duration_sec) == (1, 900)
    by_slot = await parking.service.leave(LeaveLot("S", slot_ui=2))
    assert by_slot.stay.vehicle.regnum == "AB1"
    events = [(e["event"], e["regnum"], e["slot_ui"]) for e in await stay_events(parking)]
    assert events == [
        ("VehicleParked", "EV1", "1"),
        ("VehicleParked", "AB1", "2"),
        ("VehicleLeft", "EV1", "1"),
        ("VehicleLeft", "AB1", "2"),
    ]
    assert (await stay_events(parking))[2]["duration_sec"] == 900


async def test_refusals_write_nothing(parking, clock):
    with pytest.raises(UnknownLot):
        await parking.service.park(park("AB1"))
    await parking.service.create_lot(a_lot())
    await parking.service.park(park("AB1"))
    with pytest.raises(AlreadyParked):
        await parking.service.park(park("AB 1"))
    await parking.service.park(park("CD2"))
    with pytest.raises(LotFull):  # the EV bay is kept for EVs
        await parking.service.park(park("EF3"))
    with pytest.raises(NotParked):
        await parking.service.leave(LeaveLot("S", regnum="ZZ9"))
    with pytest.raises(OutOfOrder):
        await parking.service.leave(LeaveLot("S", regnum="AB1", ts=T0 - timedelta(seconds=1)))
    assert len(await stay_events(parking)) == 2
