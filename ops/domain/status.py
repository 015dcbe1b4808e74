"""Connector statuses: the categories ops reports, a connector's status over a period, and a
charger's time per category (availability, uptime).

Everything works on event time and sorts its input itself, so facts that arrived late or out of
order give the same answer as facts that arrived in order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

# The categories ops reports a connector in, from the OCPP 1.6 and 2.0.1 statuses.
AVAILABLE, OCCUPIED, CHARGING = "Available", "Occupied", "Charging"
FAULTED, UNAVAILABLE, OFFLINE, UNKNOWN = "Faulted", "Unavailable", "Offline", "Unknown"
CATEGORIES = (AVAILABLE, OCCUPIED, CHARGING, FAULTED, UNAVAILABLE, OFFLINE)
_CATEGORY = {
    "Available": AVAILABLE,
    "Preparing": OCCUPIED,
    "Occupied": OCCUPIED,
    "Reserved": OCCUPIED,
    "Finishing": OCCUPIED,
    "Charging": CHARGING,
    "SuspendedEV": CHARGING,  # a session is on; the car or the charger paused the power
    "SuspendedEVSE": CHARGING,
    "Faulted": FAULTED,
    "Unavailable": UNAVAILABLE,
    "Offline": OFFLINE,
}
USABLE = frozenset({AVAILABLE, OCCUPIED, CHARGING})  # counts towards availability
# A whole-charger status (EVSE 0) that takes every EVSE of the charger out with it.
OUTAGES = frozenset({FAULTED, UNAVAILABLE, OFFLINE})
# The one status a charger is counted under in the fleet view: the worst of its connectors'.
CHARGER_RANK = (OFFLINE, FAULTED, UNAVAILABLE, CHARGING, OCCUPIED, AVAILABLE, UNKNOWN)


def category(status: str) -> str:
    return _CATEGORY.get(status, UNKNOWN)


def charger_status(connector_statuses: Iterable[str]) -> str:
    found = {category(s) for s in connector_statuses}
    return next((c for c in CHARGER_RANK if c in found), UNKNOWN)


@dataclass(frozen=True)
class StatusChange:
    evse_id: int
    status: str  # as reported
    at: datetime
    error_code: str | None = None


@dataclass(frozen=True)
class StatusInterval:
    evse_id: int
    status: str  # a category
    start: datetime
    end: datetime
    error_code: str | None = None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def connector_intervals(
    changes: Iterable[StatusChange], since: datetime, until: datetime
) -> dict[int, list[StatusInterval]]:
    """Per EVSE, its status over [since, until): each change holds until the next one of that
    EVSE. Changes before `since` set the state it starts in; before its first change an EVSE is
    Unknown."""
    by_evse: dict[int, list[StatusChange]] = defaultdict(list)
    for change in changes:
        by_evse[change.evse_id].append(change)
    out: dict[int, list[StatusInterval]] = {}
    for evse_id, items in sorted(by_evse.items()):
        items.sort(key=lambda c: c.at)
        current: StatusChange | None = None
        at = since
        spans: list[StatusInterval] = []
        for change in items:
            if change.at >= until:
                break
            if change.at > at:
                spans.append(_interval(evse_id, current, at, change.at))
                at = change.at
            current = change
        if until > at:
            spans.append(_interval(evse_id, current, at, until))
        out[evse_id] = _merge_same(spans)
    return out


def _interval(
    evse_id: int, change: StatusChange | None, start: datetime, end: datetime
) -> StatusInterval:
    if change is None:
        return StatusInterval(evse_id, UNKNOWN, start, end)
    return StatusInterval(evse_id, category(change.status), start, end, change.error_code)


def _merge_same(spans: list[StatusInterval]) -> list[StatusInterval]:
    merged: list[StatusInterval] = []
    for span in spans:
        last = merged[-1] if merged else None
        if (
            last is not None
            and last.status == span.status
            and last.error_code == span.error_code
            and last.end == span.start
        ):
            merged[-1] = StatusInterval(
                span.evse_id, span.status, last.start, span.end, span.error_code
            )
        else:
            merged.append(span)
    return merged


@dataclass(frozen=True)
class ChargerTime:
    """A charger's connector-seconds per category over a period, and what follows from them."""

    seconds: Mapping[str, float]

    @property
    def known(self) -> float:
        return sum(v for k, v in self.seconds.items() if k != UNKNOWN)

    @property
    def availability_percent(self) -> float | None:
        """Share of the known time its EVSEs could serve a driver (not faulted, unavailable or
        offline)."""
        known = self.known
        usable = sum(self.seconds.get(c, 0.0) for c in USABLE)
        return round(100 * usable / known, 2) if known else None

    @property
    def uptime_percent(self) -> float | None:
        """Share of the known time it was connected (not offline)."""
        known = self.known
        return round(100 * (known - self.seconds.get(OFFLINE, 0.0)) / known, 2) if known else None


def charger_time(intervals: Mapping[int, list[StatusInterval]]) -> ChargerTime:
    """Time per category over the charger's EVSEs (EVSE 0 alone when it reports no other). An
    outage of EVSE 0 (the whole charger) counts for every EVSE while it lasts."""
    evses = [e for e in intervals if e != 0] or [0]
    whole = intervals.get(0, []) if evses != [0] else []
    seconds: dict[str, float] = defaultdict(float)
    for evse in evses:
        for span in intervals.get(evse, []):
            cuts = sorted(
                {span.start, span.end}
                | {t for w in whole for t in (w.start, w.end) if span.start < t < span.end}
            )
            for start, end in pairwise(cuts):
                outage = next(
                    (w.status for w in whole if w.start <= start < w.end and w.status in OUTAGES),
                    None,
                )
                seconds[outage or span.status] += (end - start).total_seconds()
    return ChargerTime({c: seconds.get(c, 0.0) for c in (*CATEGORIES, UNKNOWN)})
