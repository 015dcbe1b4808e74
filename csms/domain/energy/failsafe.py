"""The idle reserve: what an idle charger of a site may draw when nobody is watching. Pure.

Every charger of a site holds a station-wide maximum (the failsafe: it stays in force if the
CSMS dies or the charger loses its connection). A charger with a car charging holds that car's
share; an idle one holds its reserve: the minimum a car needs to charge (6 A for AC), given
out of what the allocation left free, so that a car plugging in while the CSMS is away can
still charge, and the site stays inside its connection whatever the cars do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from csms.domain.energy.model import TOLERANCE_AMPS, Capacity, Demand
from csms.domain.energy.transitions import load_per_phase


def with_idle_reserve(
    capacity: Capacity, demands: Sequence[Demand], limits: Mapping[str, float]
) -> dict[str, float]:
    """`limits` (an allocation) with each idle smart demand given its minimum where it still
    fits next to everything else (in key order, so rounds agree), and 0 where it does not.
    The load of the result, every demand at its limit, fits `capacity` wherever the load of
    `limits` did."""
    out = dict(limits)
    load = list(load_per_phase(limits, demands))
    for demand in sorted(demands, key=lambda d: d.key):
        if demand.active or not demand.smart or limits.get(demand.key, 0.0) > 0:
            continue
        amps = demand.min_amps if demand.max_amps >= demand.min_amps else 0.0
        fits = all(
            load[p - 1] + amps <= capacity.per_phase[p - 1] + TOLERANCE_AMPS for p in demand.phases
        )
        if amps and fits:
            out[demand.key] = amps
            for phase in demand.phases:
                load[phase - 1] += amps
        else:
            out[demand.key] = 0.0
    return out
