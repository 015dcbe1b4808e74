"""Parking's rules without storage: regnums, event times, lots and the events a stay makes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chargepark.errors import Invalid
from chargepark.events.envelope import envelope_of
from chargepark.events.registry import validate_event
from parking.allocation import choose_slot, preference
from parking.domain import (
    Fuel,
    Lot,
    OutOfOrder,
    SlotOccupied,
    Stay,
    UnknownSlot,
    Vehicle,
    VehicleKind,
    event_time,
    normalize_regnum,
)
from tests.conftest import T0
from tests.support.parking import a_slot


@pytest.mark.parametrize(
    ("raw", "regnum"),
    [
        ("ab-123 c", "AB123C"),
        ("AB123", "AB123"),
        ("x", "X"),
        ("1234567890abcdef", "1234567890ABCDEF"),
    ],
)
def test_a_regnum_is_upper_case_without_spaces_or_dashes(raw, regnum):
    assert normalize_regnum(raw) == regnum


@pytest.mark.parametrize("raw", ["", " - ", "AB$1", "ÄB1", "A" * 17, "X" * 10_000, "AB\n1"])
def test_anything_else_is_not_a_regnum(raw):
    with pytest.raises(Invalid):
        normalize_regnum(raw)


def test_an_event_time_defaults_to_now_and_may_be_late_but_never_ahead():
    assert event_time(None, T0, None) == T0
    assert event_time(T0 - timedelta(hours=3), T0, None) == T0 - timedelta(hours=3)
    with pytest.raises(Invalid):
        event_time(T0 + timedelta(seconds=1), T0, None)


def test_an_event_time_never_precedes_the_vehicles_previous_event():
    assert event_time(T0, T0, T0) == T0
    with pytest.raises(OutOfOrder):
        event_time(T0 - timedelta(seconds=1), T0, T0)


def test_new_levels_rank_above_the_existing_ones():
    lot = Lot("A1", "A")
    lot.add_slots([a_slot(1, "P0"), a_slot(2, "P1"), a_slot(3, "P0")])
    lot.add_slots([a_slot(4, "P-1")])
    assert lot.levels == ["P0", "P1", "P-1"]
    assert lot.slot(4).level_rank == 2


@pytest.mark.parametrize(
    "slots",
    [
        [a_slot(1), a_slot(1)],
        [a_slot(0)],
        [a_slot(1, ev_bay=True, charger_id=None)],
        [a_slot(1, charger_id="CP-1")],
        [a_slot(1, ev_bay=True, charger_id="CP-1"), a_slot(2, ev_bay=True, charger_id="CP-1")],
    ],
)
def test_a_lot_refuses_inconsistent_slots(slots):
    with pytest.raises(Invalid):
        Lot("A1", "A").add_slots(slots)


def test_an_occupied_slot_cannot_be_removed_and_an_unknown_one_is_named():
    lot = Lot("A1", "A")
    lot.add_slots([a_slot(1), a_slot(2)])
    with pytest.raises(SlotOccupied):
        lot.remove_slots([1, 2], occupied={2})
    assert set(lot.slots) == {1, 2}
    with pytest.raises(UnknownSlot):
        lot.remove_slots([9], occupied=set())


def test_a_stay_makes_events_that_match_their_schemas():
    bay = a_slot(7, "P1", ev_bay=True, charger_id="CP-9", connector_id=2)
    stay = Stay("A1", bay, Vehicle("AB123", VehicleKind.CAR, Fuel.EV), T0)
    parked = envelope_of(stay.parked())
    left = envelope_of(stay.left(T0 + timedelta(minutes=90)))
    for event in (parked, left):
        validate_event(event)
    assert (parked["slot_ui"], parked["charger_id"], parked["connector_id"]) == ("7", "CP-9", 2)
    assert (left["duration_sec"], left["arrived_at"]) == (5400, parked["ts"])


def test_an_ev_prefers_a_bay_an_ice_car_a_regular_slot():
    ev = Vehicle("E1", VehicleKind.CAR, Fuel.EV)
    ice = Vehicle("I1", VehicleKind.CAR, Fuel.ICE)
    assert preference(ev, False) == (True, False)
    assert preference(ice, False) == (False,)
    assert preference(ice, True) == (False, True)
    upstairs_bay = a_slot(5, "P1", level_rank=1, ev_bay=True)
    regular = a_slot(1)
    assert choose_slot([regular, upstairs_bay], ev, False) is upstairs_bay
    assert choose_slot([upstairs_bay], ice, False) is None
    assert choose_slot([upstairs_bay], ice, True) is upstairs_bay


def test_nearest_means_lowest_level_then_lowest_slot_ui_and_the_right_kind():
    car = Vehicle("C1", VehicleKind.CAR, Fuel.ICE)
    slots = [
        a_slot(1, "P1", level_rank=1),
        a_slot(9, "P0"),
        a_slot(3, "P0"),
        a_slot(2, "P0", fits=VehicleKind.VAN),
        a_slot(4, "P0", in_service=False),
    ]
    assert choose_slot(slots, car, False).slot_ui == 3
