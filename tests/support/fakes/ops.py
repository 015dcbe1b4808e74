"""In-memory doubles of ops' ports (ops.ports), with the SQL adapters' semantics: a unit of work
sees its own changes and only commit() makes them (and its events) visible; upserts keep the
newest fact as the SQL ones do; the reads outside a unit of work see what was committed."""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Self

from chargepark.events.registry import validate_event
from ops.domain import (
    InvoiceTime,
    RuleData,
    RuleKind,
    RuleSpec,
    SessionTime,
    StatusChange,
    Stay,
)
from ops.domain.alerts import OPEN, RESOLVED, Delivery, Incident, Rule, UnknownRule
from ops.domain.capacity import SlotCount
from ops.domain.energy import REFUSAL_HOLD, STALE, ChargerLoad, Refusal, SiteLoad
from ops.domain.facts import InvoiceFact, Reading, SessionFact, StatusFact, StayFact
from ops.services.alerts import AlertService
from ops.services.ingestion import HANDLERS


class OpenIncidentExists(ValueError):
    """A second open incident of one rule and subject (the SQL store's unique index)."""


@dataclass
class OpsState:
    rules: dict[str, Rule] = field(default_factory=dict)
    incidents: dict[str, Incident] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    stays: dict[tuple[str, str, datetime], dict[str, Any]] = field(default_factory=dict)
    status_changes: list[StatusFact] = field(default_factory=list)
    connectors: dict[tuple[str, int], StatusFact] = field(default_factory=dict)
    last_seen: dict[str, datetime] = field(default_factory=dict)
    sessions: dict[str, SessionFact] = field(default_factory=dict)
    readings: dict[tuple[str, int, datetime], Reading] = field(default_factory=dict)
    invoices: dict[str, InvoiceFact] = field(default_factory=dict)
    totals: dict[tuple[str, str], int] = field(default_factory=dict)
    capacity: dict[tuple[str, str, bool], int] = field(default_factory=dict)
    site_loads: dict[tuple[str, datetime], SiteLoad] = field(default_factory=dict)
    site_last: dict[str, datetime] = field(default_factory=dict)
    charger_loads: dict[tuple[str, int, datetime], ChargerLoad] = field(default_factory=dict)
    refusals: dict[tuple[str, datetime], Refusal] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)


# --- inside a unit of work --------------------------------------------------------------------


class FakeRules:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def add(self, rule: Rule) -> None:
        assert rule.id not in self.state.rules, "a rule id is unique"
        self.state.rules[rule.id] = rule

    async def locked(self, rule_id: str) -> Rule:
        if rule_id not in self.state.rules:
            raise UnknownRule(rule_id)
        return self.state.rules[rule_id]

    async def save(self, rule: Rule) -> None:
        self.state.rules[rule.id] = replace(rule, created_at=self.state.rules[rule.id].created_at)

    async def evaluated(self, rule_id: str, at: datetime) -> None:
        self.state.rules[rule_id] = replace(self.state.rules[rule_id], evaluated_at=at)

    async def remove(self, rule_id: str) -> None:
        self.state.rules.pop(rule_id, None)


class FakeIncidents:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def open_of(self, rule_id: str) -> list[Incident]:
        return [
            i for i in self.state.incidents.values() if i.rule_id == rule_id and i.state == OPEN
        ]

    async def add(self, incident: Incident) -> None:
        if incident.state == OPEN and any(
            i.rule_id == incident.rule_id and i.subject == incident.subject
            for i in await self.open_of(incident.rule_id)
        ):
            raise OpenIncidentExists(incident.subject)
        self.state.incidents[incident.id] = incident

    async def resolve(
        self, incident_id: str, cleared_at: datetime | None, resolved_at: datetime
    ) -> None:
        incident = self.state.incidents[incident_id]
        self.state.incidents[incident_id] = replace(
            incident, state=RESOLVED, cleared_at=cleared_at, resolved_at=resolved_at
        )

    async def covers(
        self, rule_id: str, subject: str, since: datetime, cleared_at: datetime
    ) -> bool:
        return any(
            i.rule_id == rule_id
            and i.subject == subject
            and i.condition_since <= cleared_at
            and (i.cleared_at is None or i.cleared_at >= since)
            for i in self.state.incidents.values()
        )


class FakeDeliveries:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def add(self, delivery: Delivery) -> None:
        assert all(d.event_id != delivery.event_id for d in self.state.deliveries.values())
        next_id = max(self.state.deliveries, default=0) + 1
        self.state.deliveries[next_id] = replace(delivery, id=next_id)

    async def claim(self, delivery: Delivery, until: datetime) -> bool:
        assert delivery.id is not None
        now = self.state.deliveries.get(delivery.id)
        if now is None or now.state != "pending" or now.next_attempt_at != delivery.next_attempt_at:
            return False
        self.state.deliveries[delivery.id] = replace(now, next_attempt_at=until)
        return True

    async def save(self, delivery: Delivery) -> None:
        assert delivery.id is not None
        before = self.state.deliveries[delivery.id]
        self.state.deliveries[delivery.id] = replace(
            before,
            state=delivery.state,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
        )


def _stay_row(stay: StayFact) -> dict[str, Any]:
    return {
        "level": stay.level,
        "regnum": stay.regnum,
        "ev_bay": stay.ev_bay,
        "charger_id": stay.charger_id,
        "connector_id": stay.connector_id,
        "left_at": None,
    }


class FakeFacts:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def stay_arrived(self, stay: StayFact) -> None:
        key = (stay.lot_id, stay.slot_ui, stay.arrived_at)
        row = self.state.stays.get(key)
        if row is None:
            self.state.stays[key] = _stay_row(stay)
        else:
            row.update(level=stay.level, regnum=stay.regnum, ev_bay=stay.ev_bay)

    async def stay_left(self, stay: StayFact) -> None:
        key = (stay.lot_id, stay.slot_ui, stay.arrived_at)
        self.state.stays.setdefault(key, _stay_row(stay))["left_at"] = stay.left_at

    async def status_changed(self, change: StatusFact) -> None:
        self.state.status_changes.append(change)
        key = (change.charger_id, change.evse_id)
        current = self.state.connectors.get(key)
        if current is None or change.at > current.at:
            self.state.connectors[key] = change

    async def session_started(self, session: SessionFact) -> None:
        before = self.state.sessions.get(session.session_id)
        if before is None:
            self.state.sessions[session.session_id] = replace(
                session, ended_at=None, energy_wh=None
            )
        else:
            self.state.sessions[session.session_id] = replace(
                before, started_at=session.started_at, meter_start_wh=session.meter_start_wh
            )

    async def session_closed(self, session: SessionFact) -> None:
        before = self.state.sessions.get(session.session_id)
        if before is None:
            self.state.sessions[session.session_id] = replace(session, meter_start_wh=None)
        else:
            self.state.sessions[session.session_id] = replace(
                before, ended_at=session.ended_at, energy_wh=session.energy_wh
            )

    async def session(self, session_id: str) -> SessionFact:
        return self.state.sessions[session_id]

    async def add_readings(self, readings: list[Reading]) -> None:
        for r in readings:
            self.state.readings.setdefault((r.charger_id, r.evse_id, r.read_at), r)

    async def seen(self, last_seen: Mapping[str, datetime]) -> None:
        for charger_id, at in last_seen.items():
            if charger_id not in self.state.last_seen or at > self.state.last_seen[charger_id]:
                self.state.last_seen[charger_id] = at

    async def invoice(self, invoice_id: str) -> InvoiceFact | None:
        return self.state.invoices.get(invoice_id)

    async def invoice_issued(
        self, invoice_id: str, currency: str, total: int, at: datetime
    ) -> None:
        before = self.state.invoices.get(invoice_id) or InvoiceFact(
            invoice_id=invoice_id, currency=currency
        )
        self.state.invoices[invoice_id] = replace(before, total_minor=total, issued_at=at)

    async def invoice_paid(self, invoice_id: str, currency: str, amount: int, at: datetime) -> None:
        before = self.state.invoices.get(invoice_id) or InvoiceFact(
            invoice_id=invoice_id, currency=currency
        )
        self.state.invoices[invoice_id] = replace(before, amount_paid_minor=amount, paid_at=at)

    async def add_total(self, name: str, currency: str, value: int) -> None:
        key = (name, currency)
        self.state.totals[key] = self.state.totals.get(key, 0) + value

    async def site_load(self, site: SiteLoad, chargers: list[ChargerLoad]) -> None:
        self.state.site_loads.setdefault((site.site_id, site.at), site)
        if site.at > self.state.site_last.get(site.site_id, site.at - timedelta(1)):
            self.state.site_last[site.site_id] = site.at
        for c in chargers:
            self.state.charger_loads.setdefault((c.charger_id, c.evse_id, c.at), c)

    async def smart_charging_refused(self, refusal: Refusal) -> None:
        self.state.refusals.setdefault((refusal.charger_id, refusal.at), refusal)


class FakeCapacities:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def replace(self, lot_id: str, counts: list[SlotCount], now: datetime) -> None:
        for key in [k for k in self.state.capacity if k[0] == lot_id]:
            del self.state.capacity[key]
        for c in counts:
            self.state.capacity[(lot_id, c.level, c.ev_bay)] = c.slots


class FakeOpsUnitOfWork:
    """Shares `committed` between units of work, like a database."""

    def __init__(self, committed: OpsState) -> None:
        self.committed = committed

    async def __aenter__(self) -> Self:
        self.working = copy.deepcopy(self.committed)
        self.rules = FakeRules(self.working)
        self.incidents = FakeIncidents(self.working)
        self.deliveries = FakeDeliveries(self.working)
        self.facts = FakeFacts(self.working)
        self.capacities = FakeCapacities(self.working)
        self.events: list[dict[str, Any]] = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    def emit(self, event: Mapping[str, Any]) -> dict[str, Any]:
        doc = dict(event)
        validate_event(doc)
        self.events.append(doc)
        return doc

    async def commit(self) -> None:
        self.working.outbox.extend(self.events)
        self.events = []
        self.committed.__dict__.update(copy.deepcopy(self.working).__dict__)


# --- outside a unit of work -------------------------------------------------------------------


class FakeAlertReads:
    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def rules(self) -> list[Rule]:
        return sorted(self.state.rules.values(), key=lambda r: r.created_at)

    async def rule(self, rule_id: str) -> Rule | None:
        return self.state.rules.get(rule_id)

    async def enabled_rule_ids(self) -> list[str]:
        return [r.id for r in self.state.rules.values() if r.spec.enabled]

    async def incidents(self, state: str | None, rule_id: str | None, limit: int) -> list[Incident]:
        found = [
            i
            for i in self.state.incidents.values()
            if (state is None or i.state == state) and (rule_id is None or i.rule_id == rule_id)
        ]
        found.sort(key=lambda i: i.id)
        found.sort(key=lambda i: i.opened_at, reverse=True)
        return found[:limit]

    async def incident(self, incident_id: str) -> Incident | None:
        return self.state.incidents.get(incident_id)

    async def deliveries_of(self, incident_id: str) -> list[Delivery]:
        return [d for _, d in sorted(self.state.deliveries.items()) if d.incident_id == incident_id]

    async def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        pending = [d for _, d in sorted(self.state.deliveries.items()) if d.state == "pending"]
        first_of: dict[str, int] = {}
        for d in pending:
            assert d.id is not None
            first_of.setdefault(d.incident_id, d.id)
        due = [
            d
            for d in pending
            if d.next_attempt_at is not None
            and d.next_attempt_at <= now
            and first_of[d.incident_id] == d.id
        ]
        return due[:limit]


class FakeRuleFacts:
    """The facts a rule is evaluated on, from the committed state (as ops' SQL read side)."""

    def __init__(self, state: OpsState) -> None:
        self.state = state

    async def rule_data(self, spec: RuleSpec, since: datetime, now: datetime) -> RuleData:
        until = now + timedelta(microseconds=1)
        data = RuleData()
        if spec.kind in (RuleKind.CHARGER_FAULTED, RuleKind.CHARGER_OFFLINE):
            data.status_changes = self.status_changes(since, until, spec.charger_id)
        elif spec.kind is RuleKind.OCCUPANCY_HIGH:
            ev = True if spec.ev_only else None
            by_lot: dict[str, list[Stay]] = defaultdict(list)
            for stay in self.stays_between(since, until, lot_id=spec.lot_id, ev=ev):
                by_lot[stay.lot_id].append(stay)
            data.stays_by_lot = dict(by_lot)
            capacity: dict[str, int] = defaultdict(int)
            for (lot, _level, bay), slots in self.state.capacity.items():
                if (spec.lot_id is None or lot == spec.lot_id) and (bay or not spec.ev_only):
                    capacity[lot] += slots
            data.capacity_by_lot = dict(capacity)
        elif spec.kind is RuleKind.BAY_IDLE:
            found = self.stays_between(since, until, bays_only=True)
            if spec.charger_id is not None:
                found = [s for s in found if s.charger_id == spec.charger_id]
            data.stays_by_lot = {"": found}
            data.sessions = self.sessions_between(since, until, spec.charger_id)
        elif spec.kind in (RuleKind.SITE_OVER_LIMIT, RuleKind.CHARGER_OVER_LIMIT):
            back = since - spec.window - STALE
            data.site_loads = [
                x
                for x in self.state.site_loads.values()
                if back <= x.at < until and spec.lot_id in (None, x.site_id)
            ]
            if spec.kind is RuleKind.CHARGER_OVER_LIMIT:
                data.charger_loads = [
                    c
                    for c in self.state.charger_loads.values()
                    if back <= c.at < until
                    and spec.lot_id in (None, c.site_id)
                    and spec.charger_id in (None, c.charger_id)
                ]
        elif spec.kind is RuleKind.SMART_CHARGING_REFUSED:
            data.refusals = [
                r
                for r in self.state.refusals.values()
                if since - REFUSAL_HOLD <= r.at < until
                and spec.lot_id in (None, r.site_id)
                and spec.charger_id in (None, r.charger_id)
            ]
        else:
            data.invoices = self.unpaid_between(since, until)
        return data

    def status_changes(
        self, since: datetime, until: datetime, charger_id: str | None
    ) -> dict[str, list[StatusChange]]:
        mine = [
            c for c in self.state.status_changes if charger_id is None or c.charger_id == charger_id
        ]
        last: dict[tuple[str, int], datetime] = {}
        for c in mine:
            if c.at < since and c.at > last.get((c.charger_id, c.evse_id), c.at - timedelta(1)):
                last[(c.charger_id, c.evse_id)] = c.at
        before = [c for c in mine if c.at < since and last[(c.charger_id, c.evse_id)] == c.at]
        inside = sorted((c for c in mine if since <= c.at < until), key=lambda c: c.at)
        out: dict[str, list[StatusChange]] = defaultdict(list)
        for c in [*before, *inside]:
            out[c.charger_id].append(StatusChange(c.evse_id, c.status, c.at, c.error_code))
        return dict(out)

    def stays_between(
        self,
        since: datetime,
        until: datetime,
        *,
        lot_id: str | None = None,
        ev: bool | None = None,
        bays_only: bool = False,
    ) -> list[Stay]:
        return [
            Stay(
                arrived_at=arrived_at,
                left_at=row["left_at"],
                level=row["level"],
                ev_bay=row["ev_bay"],
                charger_id=row["charger_id"],
                connector_id=row["connector_id"],
                lot_id=lot,
            )
            for (lot, _slot, arrived_at), row in self.state.stays.items()
            if arrived_at < until
            and (row["left_at"] is None or row["left_at"] > since)
            and (lot_id is None or lot == lot_id)
            and (ev is None or row["ev_bay"] == ev)
            and (not bays_only or row["charger_id"] is not None)
        ]

    def sessions_between(
        self, since: datetime, until: datetime, charger_id: str | None
    ) -> list[SessionTime]:
        return [
            SessionTime(s.charger_id, s.evse_id, s.started_at, s.ended_at)
            for s in self.state.sessions.values()
            if s.started_at < until
            and (s.ended_at is None or s.ended_at > since)
            and (charger_id is None or s.charger_id == charger_id)
        ]

    def unpaid_between(self, since: datetime, until: datetime) -> list[InvoiceTime]:
        return [
            InvoiceTime(i.invoice_id, i.issued_at, i.paid_at)
            for i in self.state.invoices.values()
            if i.issued_at is not None
            and i.issued_at < until
            and (i.paid_at is None or i.paid_at > since)
        ]


# --- outside services -------------------------------------------------------------------------


class FakeWebhookSender:
    """Records what it is given; answers 2xx while `up`, else a refused connection."""

    def __init__(self, up: bool = True) -> None:
        self.up = up
        self.sent: list[tuple[str, str, dict[str, str]]] = []
        self.closed = False

    async def send(self, url: str, body: str, headers: dict[str, str]) -> tuple[bool, str]:
        if not self.up:
            return False, "ClientConnectorError: refused (fake)"
        self.sent.append((url, body, dict(headers)))
        return True, "HTTP 204"

    async def close(self) -> None:
        self.closed = True


@dataclass
class FakeOps:
    """ops' ports on one in-memory state: what a use case is built with in a unit test."""

    state: OpsState = field(default_factory=OpsState)

    def units(self) -> FakeOpsUnitOfWork:
        return FakeOpsUnitOfWork(self.state)

    @property
    def reads(self) -> FakeAlertReads:
        return FakeAlertReads(self.state)

    @property
    def facts(self) -> FakeRuleFacts:
        return FakeRuleFacts(self.state)

    async def feed(self, *events: dict[str, Any]) -> None:
        """Each event through its ingestion use case, in a unit of work of its own (as the
        inbox applies them; repeats are the inbox's to drop, not the use cases')."""
        for event in events:
            async with self.units() as uow:
                await HANDLERS[event["event"]](dict(event), uow)
                await uow.commit()

    def alerts(
        self,
        clock: Any,
        *,
        webhook_url: str | None = None,
        sender: FakeWebhookSender | None = None,
        max_attempts: int = 5,
    ) -> AlertService:
        """The alert use cases on these fakes."""
        return AlertService(
            self.units,
            self.reads,
            self.facts,
            sender or FakeWebhookSender(),
            clock,
            webhook_url=webhook_url,
            max_attempts=max_attempts,
        )

    def alert_events(self) -> list[tuple[str, str]]:
        return [
            (e["event"], e["subject"]) for e in self.state.outbox if e["event"].startswith("Al")
        ]
