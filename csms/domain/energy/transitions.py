"""Changing limits without ever exceeding the site: lower first, then raise what still fits.
Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from csms.domain.energy.model import TOLERANCE_AMPS, Capacity, Demand, Transition


def load_per_phase(
    limits: Mapping[str, float], demands: Iterable[Demand]
) -> tuple[float, float, float]:
    """The load on L1, L2, L3 if every demand drew its limit: a smart demand its entry of
    `limits` (0 when it has none), a non-smart one its max_amps whatever `limits` says. Keys
    that are no demand of the site are not its load and are ignored."""
    load = [0.0, 0.0, 0.0]
    for demand in demands:
        amps = demand.max_amps if not demand.smart else limits.get(demand.key, 0.0)
        if amps:
            for phase in demand.phases:
                load[phase - 1] += amps
    return load[0], load[1], load[2]


def plan_transition(in_force: Mapping[str, float], target: Mapping[str, float]) -> Transition:
    """Split the change into lowers and raises. A key of `target` with nothing known in force
    is a lower (the charger may be drawing anything: it must be limited before anyone gets
    more). Keys only in `in_force` and unchanged keys are left alone."""
    lower: dict[str, float] = {}
    raise_: dict[str, float] = {}
    for key, new in target.items():
        old = in_force.get(key)
        if old is None or new < old:
            lower[key] = new
        elif new > old:
            raise_[key] = new
    return Transition(lower=lower, raise_=raise_)


def clip_raises(
    capacity: Capacity,
    in_force: Mapping[str, float],
    demands: Iterable[Demand],
    raises: Mapping[str, float],
    *,
    resolution_amps: float = 0.1,
) -> dict[str, float]:
    """The raises that fit next to the limits really in force (after some lowers were refused,
    or the capacity fell): each raise whole if it fits, else as far as the room on its phases
    allows (rounded down to the resolution), else not at all. A paused session is never raised
    to less than its minimum. Sessions starting from below their minimum go first (a car that
    cannot charge at all gains more than one that charges a little faster), then the others,
    each group in key order, so the same input gives the same answer. Keys with no demand or
    of non-smart demands are dropped. A smart demand with nothing in `in_force` counts as 0:
    put its max_amps there while nothing is known."""
    demands = list(demands)
    by_key = {demand.key: demand for demand in demands}
    load = list(load_per_phase(in_force, demands))
    steps = max(1, round(1.0 / resolution_amps)) if resolution_amps > 0 else 0
    order = sorted(
        (key for key in raises if key in by_key and by_key[key].smart),
        key=lambda key: (in_force.get(key, 0.0) >= by_key[key].min_amps, key),
    )
    granted: dict[str, float] = {}
    for key in order:
        demand = by_key[key]
        old = in_force.get(key, 0.0)
        room = min(capacity.per_phase[p - 1] - load[p - 1] for p in demand.phases)
        new = raises[key]
        if new - old > room + TOLERANCE_AMPS:
            new = old + max(0.0, room)
            if steps:
                new = max(old, math.floor(new * steps + 1e-10) / steps)
        if new <= old or (new < demand.min_amps and new > 0):
            continue
        granted[key] = new
        for phase in demand.phases:
            load[phase - 1] += new - old
    return granted
