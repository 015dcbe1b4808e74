"""The OccupancyRepository contract (parking/ports.py): the fake and the SQL repository alike."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parking.domain import Fuel, Lot, Stay, UnknownLot, Vehicle, VehicleKind
from tests.conftest import T0
from tests.support.parking import a_slot

CAR, VAN = VehicleKind.CAR, VehicleKind.VAN
EV, ICE = Fuel.EV, Fuel.ICE
ICE_ORDER = (False,)  # an ICE car: ordinary slots only


async def a_lot(units) -> Lot:
    lot = Lot("A1", "Garage", created_at=T0, updated_at=T0)
    lot.add_slots(
        [
            a_slot(1, "L0", ev_bay=True),
            a_slot(2, "L0"),
            a_slot(3, "L0", fits=VAN),
            a_slot(7, "L1", level_rank=1),
        ]
    )
    async with units() as uow:
        await uow.lots.add(lot)
        await uow.commit()
    return lot


async def test_the_nearest_free_slot_of_the_vehicles_kind_is_claimed(units):
    await a_lot(units)
    car = Vehicle("AB1", CAR, ICE)
    async with units() as uow:
        first = await uow.occupancy.claim_nearest("A1", car, ICE_ORDER, T0)
        await uow.commit()
    async with units() as uow:
        second = await uow.occupancy.claim_nearest("A1", Vehicle("CD2", CAR, ICE), ICE_ORDER, T0)
        assert (
            await uow.occupancy.claim_nearest("A1", Vehicle("EF3", CAR, ICE), ICE_ORDER, T0) is None
        )
        assert not await uow.occupancy.has_free("A1", Vehicle("EF3", CAR, ICE), ICE_ORDER)
        await uow.commit()
    assert first is not None and second is not None
    assert (first.slot_ui, second.slot_ui) == (2, 7)
    async with units() as uow:
        assert await uow.occupancy.slot_of("A1", "AB1") == 2
        assert await uow.occupancy.slot_of("A1", "ZZ9") is None
        assert await uow.occupancy.occupied("A1") == {2, 7}
        assert await uow.occupancy.has_free("A1", Vehicle("V1", VAN, ICE), ICE_ORDER)


async def test_a_named_slot_is_claimed_once(units):
    lot = await a_lot(units)
    async with units() as uow:
        assert await uow.occupancy.claim("A1", lot.slot(1), Vehicle("EV1", CAR, EV), T0)
        assert not await uow.occupancy.claim("A1", lot.slot(1), Vehicle("EV2", CAR, EV), T0)
        await uow.commit()


async def test_releasing_returns_the_stay_by_vehicle_or_by_slot_once(units):
    lot = await a_lot(units)
    async with units() as uow:
        await uow.occupancy.claim("A1", lot.slot(2), Vehicle("AB1", CAR, ICE), T0)
        await uow.occupancy.claim("A1", lot.slot(7), Vehicle("CD2", CAR, ICE), T0)
        await uow.commit()
    async with units() as uow:
        stay = await uow.occupancy.release("A1", regnum="AB1")
        assert stay is not None
        assert (stay.slot.slot_ui, stay.vehicle, stay.since) == (2, Vehicle("AB1", CAR, ICE), T0)
        assert await uow.occupancy.release("A1", regnum="AB1") is None
        assert await uow.occupancy.release("A1", regnum="CD2", slot_ui=2) is None
        by_slot = await uow.occupancy.release("A1", slot_ui=7)
        assert by_slot is not None and by_slot.vehicle.regnum == "CD2"
        await uow.commit()
    async with units() as uow:
        assert await uow.occupancy.occupied("A1") == set()


async def test_the_park_context_is_the_lots_policy_and_the_vehicles_newest_event(units):
    lot = await a_lot(units)
    async with units() as uow:
        with pytest.raises(UnknownLot):
            await uow.occupancy.park_context("NOPE", "AB1")
        context = await uow.occupancy.park_context("A1", "AB1")
        assert (context.ev_bays_for_ice, context.last_action, context.last_ts) == (
            False,
            None,
            None,
        )
        stay = Stay("A1", lot.slot(2), Vehicle("AB1", CAR, ICE), T0)
        await uow.occupancy.record("PARK", stay, T0, T0)
        await uow.occupancy.record("LEAVE", stay, T0 + timedelta(hours=1), T0)
        await uow.commit()
    async with units() as uow:
        context = await uow.occupancy.park_context("A1", "AB1")
    assert (context.last_action, context.last_ts) == ("LEAVE", T0 + timedelta(hours=1))
