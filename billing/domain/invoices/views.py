"""What reading shows of an invoice (GET /invoices, GET /invoices/{id}): its columns by name,
and for one invoice its lines and payment log. Built from the aggregate, never changed."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from billing.domain.invoices.aggregate import Invoice


class InvoiceSummary(TypedDict):
    seq: int | None
    id: str
    visit_id: str | None
    customer_id: str | None
    currency: str
    tax_percent: str
    net_minor: int
    tax_minor: int
    total_minor: int
    status: str
    note: str | None
    charge_automatically: bool
    provider: str | None
    provider_customer_id: str | None
    provider_invoice_id: str | None
    hosted_url: str | None
    amount_paid_minor: int | None
    collect_attempts: int
    declines: int
    unavailable: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None


class LineView(TypedDict):
    invoice_id: str
    line_no: int
    kind: str
    description: str
    amount_minor: int
    quantity_note: str | None
    session_id: str | None
    created_at: datetime


class AttemptView(TypedDict):
    invoice_id: str
    attempt: int
    source: str
    status: str
    provider_ref: str | None
    failure_code: str | None
    failure_message: str | None
    amount_minor: int | None
    at: datetime


class InvoiceView(InvoiceSummary):
    lines: list[LineView]
    payment_attempts: list[AttemptView]


def summary_of(invoice: Invoice) -> InvoiceSummary:
    return {
        "seq": invoice.seq,
        "id": invoice.id,
        "visit_id": invoice.visit_id,
        "customer_id": invoice.customer_id,
        "currency": invoice.currency,
        "tax_percent": str(invoice.tax_percent),
        "net_minor": invoice.net_minor,
        "tax_minor": invoice.tax_minor,
        "total_minor": invoice.total_minor,
        "status": invoice.status.value,
        "note": invoice.note,
        "charge_automatically": invoice.charge_automatically,
        "provider": invoice.provider,
        "provider_customer_id": invoice.provider_customer_id,
        "provider_invoice_id": invoice.provider_invoice_id,
        "hosted_url": invoice.hosted_url,
        "amount_paid_minor": invoice.amount_paid_minor,
        "collect_attempts": invoice.collect_attempts,
        "declines": invoice.declines,
        "unavailable": invoice.unavailable,
        "next_attempt_at": invoice.next_attempt_at,
        "last_error": invoice.last_error,
        "created_at": invoice.created_at,
        "issued_at": invoice.issued_at,
        "paid_at": invoice.paid_at,
    }


def view_of(invoice: Invoice) -> InvoiceView:
    """The invoice, its lines and its payment log."""
    return {
        **summary_of(invoice),
        "lines": [
            {
                "invoice_id": invoice.id,
                "line_no": line.line_no,
                "kind": line.kind.value,
                "description": line.description,
                "amount_minor": line.amount_minor,
                "quantity_note": line.quantity_note,
                "session_id": line.session_id,
                "created_at": line.created_at,
            }
            for line in invoice.lines
        ],
        "payment_attempts": [
            {
                "invoice_id": invoice.id,
                "attempt": a.attempt,
                "source": a.source,
                "status": a.status,
                "provider_ref": a.provider_ref,
                "failure_code": a.failure_code,
                "failure_message": a.failure_message,
                "amount_minor": a.amount_minor,
                "at": a.at,
            }
            for a in invoice.attempts
        ],
    }
