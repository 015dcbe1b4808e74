"""Lot capacities: read from counts or from parking's lot document, kept per level and kind of
slot, and replaced whole."""

from __future__ import annotations

import pytest

from chargepark.errors import Invalid
from ops.domain.capacity import LevelCapacity, SlotCount, levels_of, slot_counts
from ops.services.capacity import LotCapacities
from tests.support.fakes.ops import FakeOps


def test_levels_from_counts_or_from_parkings_slot_documents():
    body = {
        "levels": [
            {"level": "P0", "slots": 10, "ev_bays": 2},
            {"level": "P1", "slots": [{"ev_bay": True}, {}, {"in_service": False}]},
        ]
    }
    levels = levels_of(body)
    assert levels == [LevelCapacity("P0", 10, 2), LevelCapacity("P1", 2, 1)]
    assert slot_counts(levels) == [
        SlotCount("P0", False, 8),
        SlotCount("P0", True, 2),
        SlotCount("P1", False, 1),
        SlotCount("P1", True, 1),
    ]
    with pytest.raises(Invalid):
        levels_of({"levels": [{"level": "P0", "slots": 1}, {"level": "P0", "slots": 2}]})
    with pytest.raises(Invalid):
        levels_of({"levels": [{"level": "P0", "slots": 1, "ev_bays": 2}]})


async def test_a_lots_capacity_is_replaced_whole(clock):
    fake = FakeOps()
    capacities = LotCapacities(fake.units, clock)
    await capacities.replace("A", [LevelCapacity("P0", 4, 1), LevelCapacity("P1", 2, 0)])
    await capacities.replace("B", [LevelCapacity("P0", 3, 0)])
    await capacities.replace("A", [LevelCapacity("P2", 5, 5)])
    assert fake.state.capacity == {
        ("A", "P2", False): 0,
        ("A", "P2", True): 5,
        ("B", "P0", False): 3,
        ("B", "P0", True): 0,
    }
