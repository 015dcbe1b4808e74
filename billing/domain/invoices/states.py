"""Invoices: states, the payment retry policy, and the events billing emits.

draft -> open -> paid | uncollectible | void. A draft is editable (manual adjustment lines);
finalizing fixes its lines and totals and makes it open (InvoiceIssued); the payment provider
then issues it and collects: paid (InvoicePaid), or failed attempts retried per the policy until
it is uncollectible. A visit's invoice with nothing to bill (total 0) is void from the start.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from chargepark.errors import Conflict, NotFound
from chargepark.events.envelope import DomainEvent


class InvoiceStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    UNCOLLECTIBLE = "uncollectible"
    VOID = "void"


class UnknownInvoice(NotFound):
    def __init__(self, invoice_id: str) -> None:
        super().__init__(f"no invoice {invoice_id!r}")


class NotDraft(Conflict):
    def __init__(self, invoice_id: str, status: str) -> None:
        super().__init__(f"invoice {invoice_id} is {status}: lines change only while it is draft")


class NotCollectible(Conflict):
    def __init__(self, invoice_id: str, status: str) -> None:
        super().__init__(f"invoice {invoice_id} is {status}: there is nothing to collect")


@dataclass(frozen=True)
class RetryPolicy:
    """Provider unreachable: retried after 30 s, 60 s, 120 s ... at most `unavailable_max_sec`
    apart (an hour by default), for as long as it takes (nothing is known to have happened
    there). A declined payment: retried `decline_retry_sec` later, up to `max_declines`
    declines, then the invoice is uncollectible (kept, listed, and payable later through the
    provider's webhook or a capture). Set from CHARGEPARK_BILLING_* (BillingSettings)."""

    unavailable_base_sec: int = 30
    unavailable_max_sec: int = 3600
    max_declines: int = 3
    decline_retry_sec: int = 3600

    def after_unavailable(self, now: datetime, failures: int) -> datetime:
        delay = min(self.unavailable_base_sec * 2 ** max(0, failures - 1), self.unavailable_max_sec)
        return now + timedelta(seconds=delay)

    def after_decline(self, now: datetime, declines: int) -> datetime | None:
        """When to try again after the `declines`-th decline; None: give up (uncollectible)."""
        if declines >= self.max_declines:
            return None
        return now + timedelta(seconds=self.decline_retry_sec)


@dataclass(frozen=True, kw_only=True)
class InvoiceIssued(DomainEvent):
    name = "InvoiceIssued"
    invoice_id: str
    customer_id: str | None
    visit_id: str | None
    total_minor: int
    tax_minor: int
    currency: str
    ts: datetime


@dataclass(frozen=True, kw_only=True)
class InvoicePaid(DomainEvent):
    name = "InvoicePaid"
    invoice_id: str
    customer_id: str | None
    amount_minor: int
    currency: str
    provider: str
    provider_ref: str | None
    ts: datetime


def new_invoice_id() -> str:
    return "inv_" + uuid.uuid4().hex[:24]
