"""Sharing a site's capacity among its charging sessions. Pure; times passed in."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from csms.domain.energy.model import Allocation, Capacity, Demand, RotationState


def allocate(
    capacity: Capacity, demands: Sequence[Demand], now: datetime, state: RotationState
) -> Allocation:
    """Provisional body: non-smart at max, everyone else paused."""
    limits = {d.key: (d.max_amps if not d.smart else 0.0) for d in demands}
    paused = frozenset(d.key for d in demands if d.smart and d.active)
    return Allocation(limits=limits, paused=paused, state=state)
