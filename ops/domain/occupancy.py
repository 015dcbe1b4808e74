"""Occupancy over time (vehicles parked per bucket) and energy delivered from register
readings."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class Stay:
    arrived_at: datetime
    left_at: datetime | None
    level: str = ""
    ev_bay: bool = False
    charger_id: str | None = None
    connector_id: int | None = None
    lot_id: str = ""


def occupancy_steps(stays: Iterable[Stay]) -> list[tuple[datetime, int]]:
    """(time, vehicles parked from then on), one entry per distinct time, in time order."""
    deltas: dict[datetime, int] = defaultdict(int)
    for stay in stays:
        deltas[stay.arrived_at] += 1
        if stay.left_at is not None:
            deltas[stay.left_at] -= 1
    steps: list[tuple[datetime, int]] = []
    count = 0
    for at in sorted(deltas):
        count += deltas[at]
        steps.append((at, count))
    return steps


def occupancy_buckets(
    stays: Iterable[Stay], since: datetime, until: datetime, bucket_sec: int
) -> list[dict[str, Any]]:
    """Per bucket of [since, until): the time-weighted mean and the peak of vehicles parked."""
    step = timedelta(seconds=bucket_sec)
    count_buckets = max(1, math.ceil((until - since).total_seconds() / bucket_sec))
    area = [0.0] * count_buckets
    peak = [0] * count_buckets
    steps = occupancy_steps(stays)
    count = 0
    index = 0
    while index < len(steps) and steps[index][0] <= since:
        count = steps[index][1]
        index += 1
    at = since
    for i in range(count_buckets):
        start = since + i * step
        end = min(start + step, until)
        while index < len(steps) and steps[index][0] <= start:  # changes at the bucket's start
            count = steps[index][1]
            index += 1
        peak[i] = count
        while index < len(steps) and steps[index][0] < end:
            change_at, new_count = steps[index]
            area[i] += count * (change_at - at).total_seconds()
            at, count = change_at, new_count
            peak[i] = max(peak[i], count)
            index += 1
        area[i] += count * (end - at).total_seconds()
        at = end
    out = []
    for i in range(count_buckets):
        start = since + i * step
        end = min(start + step, until)
        length = max(1e-9, (end - start).total_seconds())
        out.append(
            {"from": start, "to": end, "mean_occupied": area[i] / length, "peak_occupied": peak[i]}
        )
    return out


def percent(part: float, whole: int | None) -> float | None:
    return round(100 * part / whole, 1) if whole else None


# --- energy -------------------------------------------------------------------------------


def energy_delivered_wh(readings: Iterable[tuple[datetime, int]], since: datetime) -> int:
    """Wh delivered after `since` by one meter, from its register readings (a reading before
    `since` is the baseline). A register that goes down (meter swapped or reset) starts over."""
    total = 0
    previous: int | None = None
    for at, wh in sorted(readings):
        if previous is not None and at > since and wh > previous:
            total += wh - previous
        previous = wh
    return total
