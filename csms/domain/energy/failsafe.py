"""The failsafe share of each charger: a station-wide maximum that keeps the site inside its
connection when the CSMS is down or a charger loses its connection, whatever the cars do.
Pure."""

from __future__ import annotations

import math
from collections.abc import Sequence

from csms.domain.energy.filling import water_fill
from csms.domain.energy.model import Capacity, Demand


def failsafe_limits(
    capacity: Capacity, demands: Sequence[Demand], *, resolution_amps: float = 0.1
) -> dict[str, float]:
    """A limit for every smart demand, active or not (any car may start while nobody is
    watching), such that all of them drawing their limit at once fit `capacity` next to the
    non-smart load. Pass the lowest capacity the site may have until the next update
    (SiteConnection.lowest_capacity). Equal shares when every minimum fits; else as many
    demands as fit get their minimum (active ones first, then in key order) and the others 0,
    since a car cannot charge below its minimum anyway. For a charger of several EVSEs, its
    station-wide limit is the sum of its EVSEs'."""
    room = [capacity.per_phase[0], capacity.per_phase[1], capacity.per_phase[2]]
    smart: list[Demand] = []
    for demand in demands:
        if demand.smart:
            smart.append(demand)
        else:
            for phase in demand.phases:
                room[phase - 1] -= demand.max_amps
    smart.sort(key=lambda d: (not d.active, d.key))
    used = [0.0, 0.0, 0.0]
    admitted: list[Demand] = []
    for demand in smart:
        if demand.max_amps >= demand.min_amps and all(
            used[p - 1] + demand.min_amps <= room[p - 1] for p in demand.phases
        ):
            admitted.append(demand)
            for phase in demand.phases:
                used[phase - 1] += demand.min_amps
    shares = water_fill(
        [d.phases for d in admitted],
        [d.min_amps for d in admitted],
        [d.max_amps for d in admitted],
        [1.0] * len(admitted),
        room,
    )
    steps = max(1, round(1.0 / resolution_amps)) if resolution_amps > 0 else 0
    limits = {d.key: 0.0 for d in smart}
    for demand, share in zip(admitted, shares, strict=True):
        # Down, never up: a failsafe a hair over its share would break the sum.
        amps = math.floor(share * steps) / steps if steps else share
        limits[demand.key] = max(demand.min_amps, amps)
    return limits
