"""The figures the metrics routes answer with, from the facts the read side fetched: a lot's
occupancy now, its occupancy per bucket, a charger's faults, the day's revenue per currency."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ops.domain.occupancy import Stay, occupancy_buckets, percent
from ops.domain.status import FAULTED, StatusInterval

# (lot_id, level, EV bay): how vehicles parked and slots are counted.
SlotKey = tuple[str, str, bool]


@dataclass(frozen=True)
class Counts:
    occupied: int
    capacity: int | None

    def json(self) -> dict[str, Any]:
        return {
            "occupied": self.occupied,
            "capacity": self.capacity,
            "percent": percent(self.occupied, self.capacity),
        }


def lot_occupancy(
    lot_id: str, parked: Mapping[SlotKey, int], capacity: Mapping[SlotKey, int]
) -> dict[str, Any]:
    """Vehicles parked in a lot, in all, in its EV bays, per level; with the slots and
    percentages where its capacity is known."""
    keys = {k for k in (*parked, *capacity) if k[0] == lot_id}
    known = any(k[0] == lot_id for k in capacity)

    def counts(match: Callable[[SlotKey], bool]) -> Counts:
        chosen = [k for k in keys if match(k)]
        slots = sum(capacity.get(k, 0) for k in chosen) if known else None
        return Counts(sum(parked.get(k, 0) for k in chosen), slots)

    def level_counts(level: str) -> dict[str, Any]:
        return {
            "level": level,
            **counts(lambda k: k[1] == level).json(),
            "ev": counts(lambda k: k[1] == level and k[2]).json(),
        }

    return {
        "lot_id": lot_id,
        **counts(lambda k: True).json(),
        "ev": counts(lambda k: k[2]).json(),
        "levels": [level_counts(level) for level in sorted({k[1] for k in keys})],
    }


def capacity_of(capacity: Mapping[SlotKey, int], level: str | None, ev: bool | None) -> int | None:
    """The slots of a lot's capacity on `level` (all when None) of a kind (all when None)."""
    if not capacity:
        return None
    chosen = [
        v
        for (_, lv, bay), v in capacity.items()
        if (level is None or lv == level) and (ev is None or bay == ev)
    ]
    return sum(chosen) if chosen else None


def occupancy_series(
    stays: Iterable[Stay],
    moves: Mapping[int, tuple[int, int]],
    capacity: int | None,
    since: datetime,
    until: datetime,
    bucket_sec: int,
) -> dict[str, Any]:
    """Per bucket: time-weighted mean and peak vehicles (and % of `capacity`), arrivals and
    departures (`moves` per bucket index)."""
    buckets = []
    for i, b in enumerate(occupancy_buckets(stays, since, until, bucket_sec)):
        arrivals, departures = moves.get(i, (0, 0))
        buckets.append(
            {
                "from": b["from"],
                "to": b["to"],
                "mean_occupied": round(b["mean_occupied"], 2),
                "peak_occupied": b["peak_occupied"],
                "mean_percent": percent(b["mean_occupied"], capacity),
                "peak_percent": percent(b["peak_occupied"], capacity),
                "arrivals": arrivals,
                "departures": departures,
            }
        )
    return {"capacity": capacity, "buckets": buckets}


def faults_of(
    per_evse: Mapping[int, list[StatusInterval]], until: datetime
) -> list[dict[str, Any]]:
    """A charger's Faulted spans, oldest first; `to` None: still faulted at `until`."""
    faults = [
        {
            "evse_id": span.evse_id,
            "error_code": span.error_code,
            "from": span.start,
            "to": span.end if span.end < until else None,
            "seconds": round(span.seconds, 3),
        }
        for spans in per_evse.values()
        for span in spans
        if span.status == FAULTED
    ]
    faults.sort(key=lambda f: (f["from"], f["evse_id"]))
    return faults


def revenue(
    issued: Mapping[str, tuple[int, int]], paid: Mapping[str, tuple[int, int]]
) -> list[dict[str, Any]]:
    """Per currency: invoices issued and paid (count, minor units)."""
    return [
        {
            "currency": cur,
            "issued_count": issued.get(cur, (0, 0))[0],
            "issued_minor": issued.get(cur, (0, 0))[1],
            "paid_count": paid.get(cur, (0, 0))[0],
            "paid_minor": paid.get(cur, (0, 0))[1],
        }
        for cur in sorted(set(issued) | set(paid))
    ]


def every_bucket(
    found: Mapping[int, dict[str, Any]],
    since: datetime,
    until: datetime,
    bucket_sec: int,
    empty: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Every bucket of [since, until) with its figures (`found` per bucket index); one without
    reports has `reports` 0 and the figures of `empty`."""
    out = []
    start, i = since, 0
    while start < until:
        end = min(start + timedelta(seconds=bucket_sec), until)
        figures = found.get(i, empty)
        out.append({"from": start, "to": end, "reports": 0, **figures})
        start, i = end, i + 1
    return out
