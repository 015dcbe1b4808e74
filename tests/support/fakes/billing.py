"""In-memory doubles of billing's ports (billing/ports.py), with the same transaction semantics
as the SQL ones: a unit of work sees its own changes, and only commit() makes them (and its
events) visible. Locks are no-ops: one unit of work runs at a time in a unit test."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Self

from billing.consumers import HANDLERS
from billing.domain.invoices import Invoice
from billing.domain.invoices.views import InvoiceSummary, summary_of
from billing.domain.tariff import Tariff
from billing.domain.visits import SessionFact, StayFact, StayKey, Visit
from billing.ports import INVOICED, OPEN, StoredSession, StoredVisit
from billing.services import BillingService
from billing.settings import BillingSettings
from chargepark.clock import Clock
from chargepark.errors import Conflict
from chargepark.events.envelope import DomainEvent, envelope_of
from chargepark.events.registry import validate_event


@dataclass
class VisitRow:
    kind: str  # STAY | SESSION
    stay: StayFact | None
    regnum: str | None
    bay: tuple[str | None, int | None]
    status: str = OPEN
    invoice_id: str | None = None
    created_at: datetime | None = None
    changed_at: datetime | None = None


@dataclass
class SessionRow:
    fact: SessionFact
    visit_id: str
    frozen: bool = False


@dataclass
class State:
    tariffs: dict[str, list[Tariff]] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    seq: int = 0
    visits: dict[str, VisitRow] = field(default_factory=dict)
    sessions: dict[str, SessionRow] = field(default_factory=dict)
    customers: dict[str, str | None] = field(default_factory=dict)  # id -> provider's id
    vehicles: dict[str, tuple[str | None, datetime]] = field(default_factory=dict)
    tokens: dict[str, tuple[str, str, datetime]] = field(default_factory=dict)
    outbox: list[dict[str, Any]] = field(default_factory=list)


class _Repository:
    def __init__(self, uow: FakeBillingUnitOfWork) -> None:
        self.uow = uow

    @property
    def state(self) -> State:
        return self.uow.working


class FakeTariffs(_Repository):
    async def versions(self, tariff_id: str) -> list[Tariff]:
        return list(self.state.tariffs.get(tariff_id, []))

    async def all(self) -> dict[str, list[Tariff]]:
        return {k: list(v) for k, v in sorted(self.state.tariffs.items())}

    async def add(self, tariff: Tariff, now: datetime) -> None:
        versions = self.state.tariffs.setdefault(tariff.id, [])
        if any(t.version == tariff.version for t in versions):
            raise Conflict(f"tariff {tariff.id} version {tariff.version} exists already; try again")
        versions.append(tariff)
        versions.sort(key=lambda t: t.version)


class FakeInvoices(_Repository):
    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        found = self.state.invoices.get(invoice_id)
        return None if found is None else copy.deepcopy(found)

    async def by_provider_id(self, provider_invoice_id: str) -> Invoice | None:
        for invoice in self.state.invoices.values():
            if invoice.provider_invoice_id == provider_invoice_id:
                return copy.deepcopy(invoice)
        return None

    async def add(self, invoice: Invoice) -> None:
        if invoice.id in self.state.invoices or (
            invoice.visit_id is not None
            and any(i.visit_id == invoice.visit_id for i in self.state.invoices.values())
        ):
            raise Conflict(f"invoice {invoice.id} exists already")
        self.state.seq += 1
        self._put(replace(invoice, seq=self.state.seq))

    async def save(self, invoice: Invoice) -> None:
        stored = self.state.invoices[invoice.id]
        self._put(replace(invoice, seq=stored.seq, visit_id=stored.visit_id))

    def _put(self, invoice: Invoice) -> None:
        stored = copy.deepcopy(invoice)
        stored.events, stored.added_lines, stored.added_attempts = [], [], []
        self.state.invoices[invoice.id] = stored
        invoice.added_lines, invoice.added_attempts = [], []

    async def claim(self, invoice_id: str, seen: datetime | None, until: datetime) -> bool:
        invoice = self.state.invoices.get(invoice_id)
        if invoice is None or invoice.status.value != "open" or invoice.next_attempt_at != seen:
            return False
        invoice.next_attempt_at = until
        return True

    async def due(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        due = [
            (i.id, i.next_attempt_at)
            for i in self.state.invoices.values()
            if i.status.value == "open"
            and i.next_attempt_at is not None
            and i.next_attempt_at <= now
        ]
        return sorted(due, key=lambda d: d[1])[:limit]

    async def list(
        self,
        *,
        customer_id: str | None,
        status: str | None,
        since: datetime | None,
        until: datetime | None,
        after: int,
        limit: int,
    ) -> list[InvoiceSummary]:
        found = [
            i
            for i in sorted(self.state.invoices.values(), key=lambda i: i.seq or 0)
            if (i.seq or 0) > after
            and (customer_id is None or i.customer_id == customer_id)
            and (status is None or i.status.value == status)
            and (since is None or i.created_at >= since)
            and (until is None or i.created_at < until)
        ]
        return [summary_of(i) for i in found[:limit]]


class FakeVisits(_Repository):
    async def get_stay(
        self, key: StayKey, *, for_update: bool = False
    ) -> tuple[StayFact, str] | None:
        row = self.state.visits.get(key.visit_id)
        if row is None or row.stay is None:
            return None
        return row.stay, row.status

    async def put_stay(self, stay: StayFact, now: datetime, *, new: bool) -> None:
        if new:
            self.state.visits[stay.visit_id] = VisitRow(
                "STAY",
                stay,
                stay.key.regnum,
                (stay.charger_id, stay.connector_id),
                created_at=now,
                changed_at=now,
            )
        else:
            row = self.state.visits[stay.visit_id]
            row.stay, row.bay, row.changed_at = stay, (stay.charger_id, stay.connector_id), now

    async def open_stays_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StayFact]:
        regnums, bays = set(regnums), set(bays)
        return [
            row.stay
            for row in self.state.visits.values()
            if row.kind == "STAY"
            and row.status == OPEN
            and row.stay is not None
            and (row.regnum in regnums or row.bay in bays)
        ]

    async def lock_open_visit(self, visit_id: str) -> bool:
        row = self.state.visits.get(visit_id)
        return row is not None and row.status == OPEN

    async def get_session(self, session_id: str) -> StoredSession | None:
        row = self.state.sessions.get(session_id)
        return None if row is None else StoredSession(row.fact, row.visit_id, row.frozen)

    async def put_session(
        self, session: SessionFact, visit_id: str, now: datetime, *, new: bool
    ) -> None:
        if new:
            self.state.sessions[session.session_id] = SessionRow(session, visit_id)
        else:
            row = self.state.sessions[session.session_id]
            row.fact, row.visit_id = session, visit_id

    async def movable_sessions_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StoredSession]:
        regnums, bays = set(regnums), set(bays)
        return [
            StoredSession(row.fact, row.visit_id, False)
            for row in self.state.sessions.values()
            if not row.frozen and (row.fact.regnum in regnums or row.fact.bay in bays)
        ]

    async def move_session(self, session_id: str, visit_id: str, from_visit: str) -> bool:
        row = self.state.sessions.get(session_id)
        if row is None or row.visit_id != from_visit or row.frozen:
            return False
        row.visit_id = visit_id
        return True

    async def ensure_session_visit(
        self, visit_id: str, session: SessionFact, now: datetime
    ) -> None:
        self.state.visits.setdefault(
            visit_id,
            VisitRow("SESSION", None, session.regnum, session.bay, created_at=now, changed_at=now),
        )

    async def drop_empty_session_visits(self, visit_ids: Iterable[str]) -> None:
        used = {row.visit_id for row in self.state.sessions.values()}
        for visit_id in set(visit_ids):
            row = self.state.visits.get(visit_id)
            if row and row.kind == "SESSION" and row.status == OPEN and visit_id not in used:
                del self.state.visits[visit_id]

    async def touch_visits(self, visit_ids: Iterable[str], now: datetime) -> None:
        for visit_id in set(visit_ids):
            row = self.state.visits.get(visit_id)
            if row is not None and row.status == OPEN:
                row.changed_at = now

    async def due(self, quiet_since: datetime, limit: int) -> list[str]:
        due = [
            (row.changed_at, visit_id)
            for visit_id, row in self.state.visits.items()
            if row.status == OPEN
            and row.changed_at is not None
            and row.changed_at <= quiet_since
            and (row.kind == "SESSION" or (row.stay is not None and row.stay.left_at is not None))
        ]
        return [visit_id for _, visit_id in sorted(due, key=lambda d: d[0])[:limit]]

    async def get(self, visit_id: str, *, for_update: bool = False) -> StoredVisit | None:
        row = self.state.visits.get(visit_id)
        if row is None:
            return None
        sessions = sorted(
            (s.fact for s in self.state.sessions.values() if s.visit_id == visit_id),
            key=lambda s: (s.started_at, s.session_id),
        )
        assert row.created_at is not None and row.changed_at is not None
        return StoredVisit(
            Visit(visit_id, row.stay, tuple(sessions)),
            row.kind,
            row.status,
            row.invoice_id,
            row.created_at,
            row.changed_at,
        )

    async def mark_invoiced(self, visit_id: str, invoice_id: str) -> None:
        row = self.state.visits[visit_id]
        row.status, row.invoice_id = INVOICED, invoice_id
        for s in self.state.sessions.values():
            if s.visit_id == visit_id:
                s.frozen = True


class FakeCustomers(_Repository):
    async def seen(self, customer_id: str, at: datetime) -> None:
        self.state.customers.setdefault(customer_id, None)

    async def link_vehicle(self, regnum: str, customer_id: str | None, at: datetime) -> None:
        old = self.state.vehicles.get(regnum)
        if old is None or at > old[1]:
            self.state.vehicles[regnum] = (customer_id, at)

    async def unlink_vehicle(self, regnum: str, customer_id: str, at: datetime) -> None:
        old = self.state.vehicles.get(regnum)
        if old is not None and old[0] not in (customer_id, None):
            return
        await self.link_vehicle(regnum, None, at)

    async def put_token(self, id_token: str, customer_id: str, status: str, at: datetime) -> None:
        old = self.state.tokens.get(id_token)
        if old is None or at > old[2]:
            self.state.tokens[id_token] = (customer_id, status, at)

    async def of_tokens(self, tokens: Iterable[str]) -> str | None:
        for token in tokens:
            if token in self.state.tokens:
                return self.state.tokens[token][0]
        return None

    async def of_regnums(self, regnums: Iterable[str]) -> str | None:
        for regnum in regnums:
            found = self.state.vehicles.get(regnum, (None, None))[0]
            if found is not None:
                return found
        return None

    async def provider_customer_id(self, customer_id: str) -> str | None:
        return self.state.customers.get(customer_id)

    async def set_provider_customer_id(self, customer_id: str, pcid: str, at: datetime) -> None:
        self.state.customers[customer_id] = pcid


class FakeBillingUnitOfWork:
    def __init__(self, committed: State, clock: Clock) -> None:
        self.committed = committed
        self.working = committed
        self.clock = clock
        self.events: list[dict[str, Any]] = []
        self.tariffs = FakeTariffs(self)
        self.invoices = FakeInvoices(self)
        self.visits = FakeVisits(self)
        self.customers = FakeCustomers(self)

    async def __aenter__(self) -> Self:
        self.working = copy.deepcopy(self.committed)
        self.events = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.working = self.committed
        self.events = []

    def emit(self, event: DomainEvent) -> dict[str, Any]:
        doc = envelope_of(event)
        validate_event(doc)
        self.events.append(doc)
        return doc

    async def commit(self) -> None:
        self.working.outbox.extend(self.events)
        self.committed.__dict__.update(copy.deepcopy(self.working).__dict__)
        self.working = copy.deepcopy(self.committed)
        self.events = []


def fake_units(clock: Clock) -> tuple[State, Any]:
    """The shared state, and a factory of units of work on it (what a use case takes)."""
    state = State()
    return state, lambda: FakeBillingUnitOfWork(state, clock)


class FakeBilling:
    """A billing service on the fakes, fed events through the consumer's handlers."""

    def __init__(self, clock: Any, provider: Any, **settings: Any) -> None:
        self.clock, self.provider = clock, provider
        self.state, self.units = fake_units(clock)
        self.service = BillingService(
            self.units,
            clock,
            provider,
            settings=BillingSettings(
                **{"visit_timeout_sec": 3600, "settle_sec": 60, "job_interval_sec": 1, **settings}
            ),
        )

    async def deliver(self, *events: dict[str, Any]) -> None:
        for e in events:
            async with self.units() as uow:
                await HANDLERS[e["event"]](e, uow)
                await uow.commit()

    def outbox(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.state.outbox if name is None or e["event"] == name]
