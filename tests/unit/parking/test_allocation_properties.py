"""Allocation under random park/leave sequences (hypothesis), on in-memory storage: no slot is
ever given twice, a lot never holds more than its slots, free + occupied = total, and every
park gets the nearest free slot the rules allow or a clean refusal."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings

from parking.service import ParkingService
from tests.conftest import FixedClock
from tests.support.fakes.parking import fake_units
from tests.support.parking import lots, operations, run_sequence


@settings(max_examples=300, deadline=None)
@given(lots(), operations)
def test_random_park_leave_sequences_never_double_book(lot, ops):
    slots, ev_bays_for_ice = lot
    clock = FixedClock()
    state, units = fake_units()

    async def parked_now() -> dict[int, str]:
        return {k[1]: s.vehicle.regnum for k, s in state.parked.items()}

    parking = ParkingService(units, clock)
    asyncio.run(run_sequence(parking, clock, "P", slots, ev_bays_for_ice, ops, parked_now))
