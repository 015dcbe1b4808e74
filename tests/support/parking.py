"""Builders of parking test data, and the allocation property's strategies and checker (run on
the fakes in tests/unit/parking and on SQL in tests/integration/parking)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from chargepark.errors import DomainError
from parking.allocation import choose_slot
from parking.domain import Fuel, LotFull, Slot, Vehicle, VehicleKind
from parking.service import CreateLot, LeaveLot, ParkingService, ParkVehicle
from tests.conftest import FixedClock


def a_slot(slot_ui: int, level: str = "L0", **overrides: Any) -> Slot:
    fields: dict[str, Any] = {"level_rank": 0, "fits": VehicleKind.CAR}
    fields.update(overrides)
    if fields.get("ev_bay"):
        fields.setdefault("charger_id", f"CP-{slot_ui}")
        fields.setdefault("connector_id", 1)
    return Slot(slot_ui=slot_ui, level=level, **fields)


def a_lot(lot_id: str, ev_bays_for_ice: bool = False) -> CreateLot:
    """A lot of six slots on two levels, with two EV bays on one charger."""
    slots = [
        a_slot(1, "P0", ev_bay=True, charger_id=f"{lot_id}-CP", connector_id=1),
        a_slot(2, "P0"),
        a_slot(3, "P0", fits=VehicleKind.VAN),
        a_slot(7, "P1", level_rank=1),
        a_slot(8, "P1", level_rank=1, ev_bay=True, charger_id=f"{lot_id}-CP", connector_id=2),
        a_slot(9, "P1", level_rank=1),
    ]
    return CreateLot(lot_id, "lot", slots, ev_bays_for_ice)


KINDS = list(VehicleKind)
FUELS = list(Fuel)


@st.composite
def lots(draw):
    count = draw(st.integers(1, 12))
    slots = []
    for ui in draw(st.lists(st.integers(1, 99), min_size=count, max_size=count, unique=True)):
        ev_bay = draw(st.booleans())
        slots.append(
            Slot(
                slot_ui=ui,
                level=f"L{draw(st.integers(0, 2))}",
                level_rank=0,
                fits=draw(st.sampled_from(KINDS)),
                ev_bay=ev_bay,
                charger_id=f"CP-{ui}" if ev_bay else None,
                connector_id=1 if ev_bay else None,
                in_service=draw(st.booleans()) or draw(st.booleans()),
            )
        )
    return slots, draw(st.booleans())


operations = st.lists(
    st.tuples(
        st.sampled_from(["park", "leave"]),
        st.integers(0, 15),  # which vehicle
        st.sampled_from(KINDS),
        st.sampled_from(FUELS),
    ),
    max_size=60,
)


async def run_sequence(
    parking: ParkingService,
    clock: FixedClock,
    lot_id: str,
    slots: list[Slot],
    ev_bays_for_ice: bool,
    ops: list[tuple[str, int, VehicleKind, Fuel]],
    parked_now: Callable[[], Awaitable[dict[int, str]]],
) -> None:
    """Runs `ops` on a new lot and checks every answer against a model of the lot; shared with
    the same property on SQLite and PostgreSQL (tests/integration/parking)."""
    lot = await parking.create_lot(CreateLot(lot_id, "p", slots, ev_bays_for_ice))
    model: dict[int, str] = {}  # slot_ui -> regnum, as the answers say
    for action, n, kind, fuel in ops:
        clock.advance(seconds=1)
        regnum = f"V{n}"
        if action == "park":
            vehicle = Vehicle(regnum, kind, fuel)
            free = [s for s in lot.slots.values() if s.slot_ui not in model]
            expected = choose_slot(free, vehicle, ev_bays_for_ice)
            try:
                stay = await parking.park(
                    ParkVehicle(lot_id=lot_id, regnum=regnum, kind=kind, fuel=fuel)
                )
            except LotFull:
                assert expected is None
                continue
            except DomainError:
                assert regnum in model.values()  # already parked: refused, never a 500
                continue
            assert regnum not in model.values()
            assert stay.slot.slot_ui not in model, "a slot was given twice"
            assert expected is not None and stay.slot.slot_ui == expected.slot_ui
            model[stay.slot.slot_ui] = regnum
        else:
            try:
                left = await parking.leave(LeaveLot(lot_id, regnum))
            except DomainError:
                assert regnum not in model.values()
                continue
            assert model.pop(left.stay.slot.slot_ui) == regnum
            assert left.at - left.stay.since >= timedelta(0)
        parked = await parked_now()
        assert parked == model
        assert len(parked) <= len(slots)
        free = [s for s in lot.slots.values() if s.slot_ui not in parked]
        assert len(free) + len(parked) == len(slots)
