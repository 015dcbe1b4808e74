"""Parking's use cases on in-memory storage: park and leave, their events, and the refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargepark.errors import Invalid
from parking.domain import (
    AlreadyParked,
    Fuel,
    LotFull,
    LotNotEmpty,
    NotParked,
    OutOfOrder,
    SlotUnavailable,
    UnknownLot,
    VehicleKind,
)
from parking.service import ChangeLot, CreateLot, LeaveLot, ParkingService, ParkVehicle
from tests.conftest import T0
from tests.support.fakes.parking import fake_units
from tests.support.parking import a_slot

CAR, VAN = VehicleKind.CAR, VehicleKind.VAN
EV, ICE = Fuel.EV, Fuel.ICE


@pytest.fixture
async def parking(clock):
    state, units = fake_units()
    service = ParkingService(units, clock)
    await service.create_lot(
        CreateLot("A1", "A", [a_slot(1, ev_bay=True), a_slot(2), a_slot(3, fits=VAN)])
    )
    # The lot's EV bays go to csms's energy manager; the tests below look at what follows.
    [bays] = state.outbox
    assert bays["event"] == "LotBaysChanged" and bays["bays"] == [
        {"slot_ui": "1", "charger_id": "CP-1", "connector_id": 1}
    ]
    state.outbox.clear()
    service.state = state  # type: ignore[attr-defined]
    return service


async def test_a_declared_departure_rides_on_vehicle_parked_and_must_be_in_the_future(
    parking, clock
):
    with pytest.raises(Invalid):
        await parking.park(
            ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=EV, departure_at=T0)
        )
    leaving = T0 + timedelta(hours=2)
    await parking.park(
        ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=EV, departure_at=leaving)
    )
    [event] = parking.state.outbox
    assert event["departure_at"] == "2026-11-27T11:00:00Z"
    parking.state.outbox.clear()
    await parking.change_lot(ChangeLot(lot_id="A1", name="renamed"))
    assert parking.state.outbox == []  # the bays did not change: nothing to tell
    await parking.change_lot(ChangeLot(lot_id="A1", add_slots=[a_slot(4, ev_bay=True)]))
    [event] = parking.state.outbox
    assert event["event"] == "LotBaysChanged" and [b["charger_id"] for b in event["bays"]] == [
        "CP-1",
        "CP-4",
    ]


async def test_a_park_records_history_and_emits_vehicle_parked_in_one_commit(parking):
    stay = await parking.park(ParkVehicle(lot_id="A1", regnum="ab-1", kind=CAR, fuel=EV))
    assert (stay.slot.slot_ui, stay.since) == (1, T0)
    [event] = parking.state.outbox
    assert event["event"] == "VehicleParked" and event["regnum"] == "AB1"
    assert parking.state.history == [("A1", "PARK", "AB1", 1, T0)]


async def test_a_refused_park_changes_nothing(parking):
    await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE))
    with pytest.raises(AlreadyParked):
        await parking.park(ParkVehicle(lot_id="A1", regnum="ab 1", kind=CAR, fuel=EV))
    with pytest.raises(LotFull) as full:
        await parking.park(
            ParkVehicle(lot_id="A1", regnum="CD2", kind=CAR, fuel=ICE)
        )  # slot 1 is the EV bay
    assert full.value.extra == {"ok": False, "message": "lot full"}
    assert len(parking.state.outbox) == 1 and len(parking.state.history) == 1


async def test_an_attendant_may_name_a_free_slot_that_takes_the_vehicle(parking):
    with pytest.raises(SlotUnavailable, match="for a VAN"):
        await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE, slot_ui=3))
    with pytest.raises(SlotUnavailable, match="EV bay"):
        await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE, slot_ui=1))
    stay = await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=EV, slot_ui=2))
    assert stay.slot.slot_ui == 2
    with pytest.raises(SlotUnavailable, match="occupied"):
        await parking.park(ParkVehicle(lot_id="A1", regnum="CD2", kind=CAR, fuel=ICE, slot_ui=2))


async def test_leave_computes_the_duration_from_the_event_times(parking, clock):
    await parking.park(
        ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE, ts=T0 - timedelta(hours=2))
    )
    with pytest.raises(OutOfOrder):
        await parking.leave(LeaveLot("A1", "AB1", ts=T0 - timedelta(hours=3)))
    clock.advance(minutes=30)
    left = await parking.leave(LeaveLot("A1", slot_ui=2))
    assert left.duration_sec == 2 * 3600 + 1800
    event = parking.state.outbox[-1]
    assert event["event"] == "VehicleLeft" and event["duration_sec"] == left.duration_sec
    with pytest.raises(NotParked):
        await parking.leave(LeaveLot("A1", "AB1"))
    with pytest.raises(UnknownLot):
        await parking.leave(LeaveLot("B9", "AB1"))


async def test_a_vehicle_parks_again_only_after_its_leave(parking, clock):
    await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE))
    clock.advance(hours=1)
    await parking.leave(LeaveLot("A1", "AB1"))
    with pytest.raises(OutOfOrder):
        await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE, ts=T0))
    assert (
        await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE))
    ).since == clock.now()
    with pytest.raises(Invalid):
        await parking.park(
            ParkVehicle(
                lot_id="A1", regnum="CD2", kind=CAR, fuel=ICE, ts=clock.now() + timedelta(1)
            )
        )


async def test_out_of_service_slots_are_skipped_and_empty_lots_only_are_deleted(parking):
    await parking.change_lot(ChangeLot(lot_id="A1", out_of_service=[2], ev_bays_for_ice=True))
    stay = await parking.park(ParkVehicle(lot_id="A1", regnum="AB1", kind=CAR, fuel=ICE))
    assert stay.slot.slot_ui == 1  # the EV bay: ICE cars may use them in this lot now
    with pytest.raises(Invalid):
        await parking.change_lot(ChangeLot(lot_id="A1", in_service=[2], out_of_service=[2]))
    with pytest.raises(LotNotEmpty):
        await parking.delete_lot("A1")
    await parking.leave(LeaveLot("A1", "AB1"))
    await parking.delete_lot("A1")
    with pytest.raises(UnknownLot):
        await parking.get_lot("A1")
