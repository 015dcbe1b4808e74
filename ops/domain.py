"""What ops computes, without I/O: connector status intervals, occupancy over time, and when an
alert rule's condition held long enough to fire.

Everything works on event time and sorts its input itself, so facts that arrived late or out of
order give the same answer as facts that arrived in order.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any

from chargepark.errors import Invalid

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


# --- connector status intervals -----------------------------------------------------------


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


# --- occupancy over time ------------------------------------------------------------------


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


# --- alert rules --------------------------------------------------------------------------


class RuleKind(StrEnum):
    CHARGER_FAULTED = "charger_faulted"  # a connector Faulted longer than the window
    CHARGER_OFFLINE = "charger_offline"  # reported Offline longer than the window
    OCCUPANCY_HIGH = "occupancy_high"  # above threshold_percent for the window
    BAY_IDLE = "bay_idle"  # a vehicle in a charger's bay and no session, for the window
    INVOICE_UNPAID = "invoice_unpaid"  # issued and not paid within the window


SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class RuleSpec:
    """An alert rule's definition: what it watches and for how long the condition must hold."""

    kind: RuleKind
    window_sec: int
    name: str = ""
    severity: str = "warning"
    charger_id: str | None = None  # charger rules: only this charger
    lot_id: str | None = None  # occupancy: only this lot
    threshold_percent: float | None = None  # occupancy
    ev_only: bool = False  # occupancy: the EV bays only
    enabled: bool = True

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> RuleSpec:
        try:
            kind = RuleKind(body["kind"])
        except (KeyError, ValueError):
            raise Invalid(f"kind must be one of {', '.join(k.value for k in RuleKind)}") from None
        spec = cls(
            kind=kind,
            window_sec=int(body["window_sec"]),
            name=body.get("name") or kind.value,
            severity=body.get("severity", "warning"),
            charger_id=body.get("charger_id"),
            lot_id=body.get("lot_id"),
            threshold_percent=body.get("threshold_percent"),
            ev_only=bool(body.get("ev_only", False)),
            enabled=bool(body.get("enabled", True)),
        )
        spec.check()
        return spec

    def check(self) -> None:
        if self.severity not in SEVERITIES:
            raise Invalid(f"severity must be one of {', '.join(SEVERITIES)}")
        charger_rule = self.kind in (
            RuleKind.CHARGER_FAULTED,
            RuleKind.CHARGER_OFFLINE,
            RuleKind.BAY_IDLE,
        )
        if self.kind is RuleKind.OCCUPANCY_HIGH:
            if self.threshold_percent is None:
                raise Invalid("an occupancy_high rule needs threshold_percent")
        elif self.threshold_percent is not None or self.ev_only:
            raise Invalid("threshold_percent and ev_only are for occupancy_high rules")
        if self.charger_id is not None and not charger_rule:
            raise Invalid("charger_id filters charger_faulted, charger_offline and bay_idle rules")
        if self.lot_id is not None and self.kind not in (RuleKind.OCCUPANCY_HIGH,):
            raise Invalid("lot_id filters occupancy_high rules")

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_sec)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "window_sec": self.window_sec,
            "severity": self.severity,
            "charger_id": self.charger_id,
            "lot_id": self.lot_id,
            "threshold_percent": self.threshold_percent,
            "ev_only": self.ev_only,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class Span:
    """A time the raw condition held for a subject; end None: it still holds."""

    subject: str
    start: datetime
    end: datetime | None
    detail: str = ""


@dataclass(frozen=True)
class Firing:
    """The condition held for the rule's window: fired at `fired_at`; cleared_at None: still."""

    subject: str
    since: datetime
    fired_at: datetime
    cleared_at: datetime | None
    detail: str = ""

    @property
    def active(self) -> bool:
        return self.cleared_at is None


def firings(spans: Iterable[Span], window: timedelta, now: datetime) -> list[Firing]:
    """The spans that lasted longer than `window` by `now`, in the order they fired. A span
    ending after `now` (a clock ahead of ours) still holds."""
    out = []
    for span in spans:
        fired_at = span.start + window
        end = span.end if span.end is not None and span.end <= now else None
        if end is None and fired_at <= now:
            out.append(Firing(span.subject, span.start, fired_at, None, span.detail))
        elif end is not None and end > fired_at:
            out.append(Firing(span.subject, span.start, fired_at, end, span.detail))
    out.sort(key=lambda f: (f.fired_at, f.subject))
    return out


def spans_of(
    subject: str,
    changes: Sequence[tuple[datetime, Callable[[dict[Any, Any]], None]]],
    holds: Callable[[dict[Any, Any]], bool],
    detail: Callable[[dict[Any, Any]], str] = lambda _state: "",
) -> list[Span]:
    """Sweeps changes to a state in time order (all changes at one instant before looking) and
    returns when `holds(state)` was true."""
    state: dict[Any, Any] = {}
    spans: list[Span] = []
    start: datetime | None = None
    text = ""
    ordered = sorted(range(len(changes)), key=lambda i: changes[i][0])
    i = 0
    while i < len(ordered):
        at = changes[ordered[i]][0]
        while i < len(ordered) and changes[ordered[i]][0] == at:
            changes[ordered[i]][1](state)
            i += 1
        now_holds = holds(state)
        if now_holds and start is None:
            start, text = at, detail(state)
        elif not now_holds and start is not None:
            spans.append(Span(subject, start, at, text))
            start = None
    if start is not None:
        spans.append(Span(subject, start, None, text))
    return spans


def _setter(key: Any, value: Any) -> Callable[[dict[Any, Any]], None]:
    def apply(state: dict[Any, Any]) -> None:
        state[key] = value

    return apply


def _adder(key: Any, delta: int) -> Callable[[dict[Any, Any]], None]:
    def apply(state: dict[Any, Any]) -> None:
        state[key] = state.get(key, 0) + delta

    return apply


def status_spans(
    changes_by_charger: Mapping[str, Iterable[StatusChange]], wanted: str
) -> list[Span]:
    """Per charger, when any of its connectors was in the `wanted` category."""
    spans = []
    for charger_id, changes in sorted(changes_by_charger.items()):
        steps = [(c.at, _setter(c.evse_id, (category(c.status), c.error_code))) for c in changes]

        def holds(state: dict[Any, Any]) -> bool:
            return any(v[0] == wanted for v in state.values())

        def detail(state: dict[Any, Any]) -> str:
            hit = sorted((k, v[1]) for k, v in state.items() if v[0] == wanted)
            return ", ".join(f"EVSE {k}" + (f" ({code})" if code else "") for k, code in hit)

        spans += spans_of(charger_id, steps, holds, detail)
    return spans


def occupancy_spans(
    stays_by_lot: Mapping[str, Iterable[Stay]],
    capacity_by_lot: Mapping[str, int],
    threshold_percent: float,
) -> list[Span]:
    """Per lot with a known capacity, when more than `threshold_percent` of it was occupied."""
    spans = []
    for lot_id, stays in sorted(stays_by_lot.items()):
        capacity = capacity_by_lot.get(lot_id)
        if not capacity:
            continue
        steps = []
        for stay in stays:
            steps.append((stay.arrived_at, _adder("n", 1)))
            if stay.left_at is not None:
                steps.append((stay.left_at, _adder("n", -1)))
        spans += spans_of(
            lot_id,
            steps,
            lambda s, c=capacity: 100 * s.get("n", 0) / c > threshold_percent,
            lambda s, c=capacity: f"{s.get('n', 0)} of {c} slots occupied",
        )
    return spans


@dataclass(frozen=True)
class SessionTime:
    charger_id: str
    evse_id: int
    started_at: datetime
    ended_at: datetime | None


def idle_bay_spans(stays: Iterable[Stay], charging: Iterable[SessionTime]) -> list[Span]:
    """Per charger, when a vehicle sat in one of its bays and no session ran on that bay's
    connector (a bay's connector_id is the charger's EVSE id, as parking maps them)."""
    steps: dict[str, list[tuple[datetime, Callable[[dict[Any, Any]], None]]]] = defaultdict(list)
    for stay in stays:
        if stay.charger_id is None:
            continue
        bay = ("parked", stay.connector_id or 0)
        steps[stay.charger_id].append((stay.arrived_at, _adder(bay, 1)))
        if stay.left_at is not None:
            steps[stay.charger_id].append((stay.left_at, _adder(bay, -1)))
    for session in charging:
        if session.charger_id not in steps:
            continue
        key = ("charging", session.evse_id)
        steps[session.charger_id].append((session.started_at, _adder(key, 1)))
        if session.ended_at is not None:
            steps[session.charger_id].append((session.ended_at, _adder(key, -1)))

    def idle(state: dict[Any, Any]) -> list[int]:
        return sorted(
            k[1]
            for k, v in state.items()
            if k[0] == "parked" and v > 0 and state.get(("charging", k[1]), 0) <= 0
        )

    spans = []
    for charger_id, items in sorted(steps.items()):
        spans += spans_of(
            charger_id,
            items,
            lambda s: bool(idle(s)),
            lambda s: "vehicle in the bay of connector " + ", ".join(map(str, idle(s))),
        )
    return spans


@dataclass(frozen=True)
class InvoiceTime:
    invoice_id: str
    issued_at: datetime
    paid_at: datetime | None


def unpaid_spans(invoices: Iterable[InvoiceTime]) -> list[Span]:
    return [
        Span(i.invoice_id, i.issued_at, i.paid_at, "issued and not paid")
        for i in invoices
        if i.paid_at is None or i.paid_at > i.issued_at
    ]


@dataclass
class RuleData:
    """The facts a rule is evaluated on (what its kind needs; the rest stays empty)."""

    status_changes: dict[str, list[StatusChange]] = field(default_factory=dict)
    stays_by_lot: dict[str, list[Stay]] = field(default_factory=dict)
    capacity_by_lot: dict[str, int] = field(default_factory=dict)
    sessions: list[SessionTime] = field(default_factory=list)
    invoices: list[InvoiceTime] = field(default_factory=list)


def condition_spans(spec: RuleSpec, data: RuleData) -> list[Span]:
    if spec.kind is RuleKind.CHARGER_FAULTED:
        return status_spans(data.status_changes, FAULTED)
    if spec.kind is RuleKind.CHARGER_OFFLINE:
        return status_spans(data.status_changes, OFFLINE)
    if spec.kind is RuleKind.OCCUPANCY_HIGH:
        assert spec.threshold_percent is not None
        return occupancy_spans(data.stays_by_lot, data.capacity_by_lot, spec.threshold_percent)
    if spec.kind is RuleKind.BAY_IDLE:
        stays = [s for lot in data.stays_by_lot.values() for s in lot]
        return idle_bay_spans(stays, data.sessions)
    return unpaid_spans(data.invoices)


def evaluate(spec: RuleSpec, data: RuleData, now: datetime) -> list[Firing]:
    return firings(condition_spans(spec, data), spec.window, now)


def message_of(spec: RuleSpec, firing: Firing) -> str:
    minutes = spec.window_sec / 60
    window = f"{minutes:g} min" if spec.window_sec >= 60 else f"{spec.window_sec} s"
    subject = firing.subject
    if spec.kind is RuleKind.CHARGER_FAULTED:
        what = f"charger {subject} faulted for more than {window}"
    elif spec.kind is RuleKind.CHARGER_OFFLINE:
        what = f"charger {subject} offline for more than {window}"
    elif spec.kind is RuleKind.OCCUPANCY_HIGH:
        what = f"lot {subject} above {spec.threshold_percent or 0:g}% occupied for {window}"
    elif spec.kind is RuleKind.BAY_IDLE:
        what = f"charger {subject}: a vehicle in its bay and no session for {window}"
    else:
        what = f"invoice {subject} not paid {window} after issue"
    return (f"{what}: {firing.detail}" if firing.detail else what)[:1024]
