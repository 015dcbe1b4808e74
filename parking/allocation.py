"""Which slot a vehicle gets: the nearest free one that fits.

Nearest is the lowest level, then the lowest slot_ui. An EV takes an EV bay while one is free and
a regular slot otherwise; an ICE vehicle takes a regular slot, and an EV bay only in a lot that
allows it (`ev_bays_for_ice`), after the regular slots. A slot fits exactly its own kind.

The SQL repository runs the same rule as one statement (`preference` gives it the order), and a
test checks that both choose alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from parking.domain import Fuel, Slot, Vehicle


def preference(vehicle: Vehicle, ev_bays_for_ice: bool) -> tuple[bool, ...]:
    """The kinds of slot the vehicle may take, as `ev_bay` values, most wanted first."""
    if vehicle.fuel is Fuel.EV:
        return (True, False)
    return (False, True) if ev_bays_for_ice else (False,)


def can_take(slot: Slot, vehicle: Vehicle, ev_bays_for_ice: bool) -> bool:
    """Whether the vehicle may use the slot at all (free or not)."""
    return (
        slot.in_service
        and slot.fits is vehicle.kind
        and slot.ev_bay in preference(vehicle, ev_bays_for_ice)
    )


def choose_slot(free: Iterable[Slot], vehicle: Vehicle, ev_bays_for_ice: bool) -> Slot | None:
    """The slot the vehicle gets among the free ones, or None when none can take it."""
    order = preference(vehicle, ev_bays_for_ice)
    candidates = [s for s in free if can_take(s, vehicle, ev_bays_for_ice)]
    if not candidates:
        return None
    return min(candidates, key=lambda s: (order.index(s.ev_bay), s.level_rank, s.slot_ui))


def refusal_detail(vehicle: Vehicle) -> str:
    return f"no free slot in service takes a {vehicle.kind.value} ({vehicle.fuel.value})"
