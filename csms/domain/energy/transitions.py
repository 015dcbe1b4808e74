"""Changing limits without ever exceeding the site: lower first, then raise what still fits.
Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from csms.domain.energy.model import Capacity, Demand, Transition


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
) -> dict[str, float]:
    """The raises that fit next to the limits really in force (some lowers may have been
    refused). Provisional body: raises that fit whole, in key order."""
    demands = list(demands)
    by_key = {demand.key: demand for demand in demands}
    load = list(load_per_phase(in_force, demands))
    granted: dict[str, float] = {}
    for key in sorted(raises):
        demand = by_key.get(key)
        if demand is None or not demand.smart:
            continue
        step = raises[key] - in_force.get(key, 0.0)
        if all(load[p - 1] + step <= capacity.per_phase[p - 1] for p in demand.phases):
            granted[key] = raises[key]
            for p in demand.phases:
                load[p - 1] += step
    return granted
