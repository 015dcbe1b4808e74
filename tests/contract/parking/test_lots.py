"""The LotRepository contract (parking/ports.py): the fake and the SQL repository alike."""

from __future__ import annotations

import pytest

from parking.domain import (
    BayTaken,
    Fuel,
    Lot,
    LotExists,
    LotNotEmpty,
    UnknownLot,
    Vehicle,
    VehicleKind,
)
from tests.conftest import T0
from tests.support.parking import a_slot

CAR = VehicleKind.CAR


def a_lot(lot_id: str = "A1") -> Lot:
    lot = Lot(lot_id, "Garage", created_at=T0, updated_at=T0)
    lot.add_slots([a_slot(1, ev_bay=True, charger_id="CP-A", connector_id=1), a_slot(2), a_slot(3)])
    return lot


async def test_a_lot_reads_back_as_it_was_added_and_only_once_committed(units):
    async with units() as uow:
        await uow.lots.add(a_lot())
    async with units() as uow:  # not committed: not there
        with pytest.raises(UnknownLot):
            await uow.lots.get("A1")
        await uow.lots.add(a_lot())
        await uow.commit()
    async with units() as uow:
        assert await uow.lots.get("A1") == a_lot()
        with pytest.raises(LotExists):
            await uow.lots.add(a_lot())


async def test_a_charger_connector_is_the_bay_of_one_slot_only(units):
    async with units() as uow:
        await uow.lots.add(a_lot("A1"))
        await uow.commit()
    async with units() as uow:
        with pytest.raises(BayTaken):
            await uow.lots.add(a_lot("B1"))


async def test_saving_renames_switches_adds_and_removes_slots(units):
    async with units() as uow:
        await uow.lots.add(a_lot())
        await uow.commit()
    async with units() as uow:
        lot = await uow.lots.get("A1", for_update=True)
        lot.name, lot.ev_bays_for_ice = "Renamed", True
        lot.remove_slots([3], set())
        lot.set_in_service([2], False)
        added = [a_slot(4, "L1", level_rank=1)]
        lot.add_slots(added)
        await uow.lots.save(lot, added=added, removed=[3], switched=[2])
        await uow.commit()
    async with units() as uow:
        lot = await uow.lots.get("A1")
    assert (lot.name, lot.ev_bays_for_ice) == ("Renamed", True)
    assert {ui: s.in_service for ui, s in lot.slots.items()} == {1: True, 2: False, 4: True}


async def test_a_lot_goes_only_when_no_vehicle_is_parked_in_it(units):
    async with units() as uow:
        await uow.lots.add(a_lot())
        await uow.commit()
    async with units() as uow:
        lot = await uow.lots.get("A1")
        assert await uow.occupancy.claim("A1", lot.slot(2), Vehicle("AB1", CAR, Fuel.ICE), T0)
        await uow.commit()
    async with units() as uow:
        with pytest.raises(LotNotEmpty):
            await uow.lots.remove("A1")
    async with units() as uow:
        await uow.occupancy.release("A1", regnum="AB1")
        await uow.lots.remove("A1")
        await uow.commit()
    async with units() as uow:
        with pytest.raises(UnknownLot):
            await uow.lots.get("A1")
