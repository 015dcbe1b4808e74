"""When each kind of alert rule's raw condition held, from the facts it is evaluated on, and
the message an incident of it carries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ops.domain.energy import (
    ChargerLoad,
    Refusal,
    SiteLoad,
    charger_over_limit_spans,
    refusal_spans,
    site_over_limit_spans,
)
from ops.domain.occupancy import Stay
from ops.domain.rules import Firing, RuleKind, RuleSpec, Span, adder, firings, setter, spans_of
from ops.domain.status import FAULTED, OFFLINE, StatusChange, category


def status_spans(
    changes_by_charger: Mapping[str, Iterable[StatusChange]], wanted: str
) -> list[Span]:
    """Per charger, when any of its connectors was in the `wanted` category."""
    spans = []
    for charger_id, changes in sorted(changes_by_charger.items()):
        steps = [(c.at, setter(c.evse_id, (category(c.status), c.error_code))) for c in changes]

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
            steps.append((stay.arrived_at, adder("n", 1)))
            if stay.left_at is not None:
                steps.append((stay.left_at, adder("n", -1)))
        spans += spans_of(lot_id, steps, *_above(capacity, threshold_percent))
    return spans


def _above(
    capacity: int, threshold_percent: float
) -> tuple[Callable[[dict[Any, Any]], bool], Callable[[dict[Any, Any]], str]]:
    """Whether a lot of `capacity` slots is above the threshold, and what it says then."""

    def holds(state: dict[Any, Any]) -> bool:
        return bool(100 * state.get("n", 0) / capacity > threshold_percent)

    def detail(state: dict[Any, Any]) -> str:
        return f"{state.get('n', 0)} of {capacity} slots occupied"

    return holds, detail


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
        steps[stay.charger_id].append((stay.arrived_at, adder(bay, 1)))
        if stay.left_at is not None:
            steps[stay.charger_id].append((stay.left_at, adder(bay, -1)))
    for session in charging:
        if session.charger_id not in steps:
            continue
        key = ("charging", session.evse_id)
        steps[session.charger_id].append((session.started_at, adder(key, 1)))
        if session.ended_at is not None:
            steps[session.charger_id].append((session.ended_at, adder(key, -1)))

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
    site_loads: list[SiteLoad] = field(default_factory=list)
    charger_loads: list[ChargerLoad] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


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
    if spec.kind is RuleKind.SITE_OVER_LIMIT:
        return site_over_limit_spans(data.site_loads, spec.tolerance)
    if spec.kind is RuleKind.CHARGER_OVER_LIMIT:
        return charger_over_limit_spans(data.site_loads, data.charger_loads, spec.tolerance)
    if spec.kind is RuleKind.SMART_CHARGING_REFUSED:
        return refusal_spans(data.refusals)
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
    elif spec.kind is RuleKind.SITE_OVER_LIMIT:
        what = f"site {subject} over its limit" + (f" for more than {window}" if minutes else "")
    elif spec.kind is RuleKind.CHARGER_OVER_LIMIT:
        what = f"charger {subject} drew more than its limit for more than {window}"
    elif spec.kind is RuleKind.SMART_CHARGING_REFUSED:
        what = f"charger {subject} cannot be controlled (counted at its rated maximum)"
    else:
        what = f"invoice {subject} not paid {window} after issue"
    return (f"{what}: {firing.detail}" if firing.detail else what)[:1024]
