"""What billing's use cases need from the world: its storage (one repository per aggregate,
inside a unit of work) and the payment provider. The SQL adapters (billing.adapters.sql) and
the in-memory fakes of the tests implement them; the use cases know only these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from billing.domain.invoices import Invoice
from billing.domain.invoices.views import InvoiceSummary
from billing.domain.tariff import Tariff
from billing.domain.visits import SessionFact, StayFact, StayKey, Visit
from billing.payments.port import InvoiceToIssue, IssuedInvoice, Payer, PaymentAttempt
from chargepark.clock import Clock
from chargepark.events.envelope import DomainEvent
from chargepark.ports import Transaction

__all__ = [
    "BillingUnitOfWork",
    "CustomerRepository",
    "InvoiceRepository",
    "PaymentProvider",
    "StoredSession",
    "StoredVisit",
    "TariffRepository",
    "VisitRepository",
]

OPEN, INVOICED = "open", "invoiced"  # a visit's status


@dataclass(frozen=True)
class StoredSession:
    fact: SessionFact
    visit_id: str
    frozen: bool


@dataclass(frozen=True)
class StoredVisit:
    visit: Visit
    kind: str
    status: str
    invoice_id: str | None
    created_at: datetime
    changed_at: datetime


class TariffRepository(Protocol):
    async def versions(self, tariff_id: str) -> list[Tariff]:
        """The tariff's versions, oldest first; [] when there is no such tariff."""
        ...

    async def all(self) -> dict[str, list[Tariff]]: ...

    async def add(self, tariff: Tariff, now: datetime) -> None:
        """Conflict when that version exists already."""
        ...


class InvoiceRepository(Protocol):
    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        """The invoice with its lines and payment log."""
        ...

    async def by_provider_id(self, provider_invoice_id: str) -> Invoice | None:
        """The invoice the provider knows by that id, locked."""
        ...

    async def add(self, invoice: Invoice) -> None: ...

    async def save(self, invoice: Invoice) -> None:
        """Write the invoice's state, its added lines and its added payment records."""
        ...

    async def claim(self, invoice_id: str, seen: datetime | None, until: datetime) -> bool:
        """Take the open invoice for a provider call until `until`, if nobody changed its
        schedule since we read it as `seen` (another node, or a request, got there first)."""
        ...

    async def due(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        """Open invoices whose next attempt is due: (id, next_attempt_at), soonest first."""
        ...

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
        """A page of invoices by `seq`, after `after` (without lines or payment records)."""
        ...


class VisitRepository(Protocol):
    """Stays, sessions and the visits they make (billing/domain/visits.py has the rules)."""

    async def get_stay(
        self, key: StayKey, *, for_update: bool = False
    ) -> tuple[StayFact, str] | None: ...

    async def put_stay(self, stay: StayFact, now: datetime, *, new: bool) -> None: ...

    async def open_stays_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StayFact]: ...

    async def lock_open_visit(self, visit_id: str) -> bool:
        """Lock the visit if it is still open; False when it was invoiced meanwhile."""
        ...

    async def get_session(self, session_id: str) -> StoredSession | None: ...

    async def put_session(
        self, session: SessionFact, visit_id: str, now: datetime, *, new: bool
    ) -> None: ...

    async def movable_sessions_near(
        self, regnums: Iterable[str], bays: Iterable[tuple[str, int]]
    ) -> list[StoredSession]:
        """Sessions not yet billed that a stay with these regnums or bays could claim."""
        ...

    async def move_session(self, session_id: str, visit_id: str, from_visit: str) -> bool:
        """Move the session from `from_visit` unless it was billed there meanwhile."""
        ...

    async def ensure_session_visit(
        self, visit_id: str, session: SessionFact, now: datetime
    ) -> None:
        """The visit of a session without a stay (a public charger), made once."""
        ...

    async def drop_empty_session_visits(self, visit_ids: Iterable[str]) -> None: ...

    async def touch_visits(self, visit_ids: Iterable[str], now: datetime) -> None: ...

    async def due(self, quiet_since: datetime, limit: int) -> list[str]:
        """Open visits unchanged since `quiet_since` whose vehicle is gone (or that have none)."""
        ...

    async def get(self, visit_id: str, *, for_update: bool = False) -> StoredVisit | None: ...

    async def mark_invoiced(self, visit_id: str, invoice_id: str) -> None:
        """The visit and its sessions are billed: frozen."""
        ...


class CustomerRepository(Protocol):
    """Billing's projection of accounts: who a vehicle or an id token belongs to (the newest
    event wins), and each customer's id at the payment provider."""

    async def seen(self, customer_id: str, at: datetime) -> None: ...

    async def link_vehicle(self, regnum: str, customer_id: str | None, at: datetime) -> None: ...

    async def unlink_vehicle(self, regnum: str, customer_id: str, at: datetime) -> None: ...

    async def put_token(
        self, id_token: str, customer_id: str, status: str, at: datetime
    ) -> None: ...

    async def of_tokens(self, tokens: Iterable[str]) -> str | None: ...

    async def of_regnums(self, regnums: Iterable[str]) -> str | None: ...

    async def provider_customer_id(self, customer_id: str) -> str | None: ...

    async def set_provider_customer_id(self, customer_id: str, pcid: str, at: datetime) -> None: ...


class BillingUnitOfWork(Transaction, Protocol):
    @property
    def clock(self) -> Clock: ...

    @property
    def tariffs(self) -> TariffRepository: ...

    @property
    def invoices(self) -> InvoiceRepository: ...

    @property
    def visits(self) -> VisitRepository: ...

    @property
    def customers(self) -> CustomerRepository: ...

    def emit(self, event: DomainEvent) -> Mapping[str, Any]: ...


class PaymentProvider(Protocol):
    """A payment provider (billing.payments: Stripe, or the local one). Every call is
    idempotent in our ids, so a retry after a timeout or a crash charges nothing twice."""

    name: str

    async def ensure_customer(self, payer: Payer) -> str:
        """The provider's customer id for `payer`, created once (idempotent in customer_id)."""
        ...

    async def issue(self, payer: Payer, invoice: InvoiceToIssue) -> IssuedInvoice:
        """Create the items and the invoice, finalize it (idempotent in invoice/line ids)."""
        ...

    async def collect(self, provider_invoice_id: str, attempt: int) -> PaymentAttempt:
        """Try to take payment of a finalized invoice; `attempt` numbers the retries so each
        has its own idempotency key. A decline is a FAILED attempt, not an exception."""
        ...
