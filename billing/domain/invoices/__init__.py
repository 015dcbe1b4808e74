"""Invoices: their states, the payment retry policy, the events billing emits (states.py), what an
invoice records (records.py), and the Invoice aggregate that moves between them (aggregate.py)."""

from billing.domain.invoices.aggregate import Invoice
from billing.domain.invoices.records import (
    LOCAL_NOTE,
    NOTHING_TO_BILL,
    Attempt,
    Decline,
    InvoiceLine,
)
from billing.domain.invoices.states import (
    InvoiceIssued,
    InvoicePaid,
    InvoiceStatus,
    NotCollectible,
    NotDraft,
    RetryPolicy,
    UnknownInvoice,
    new_invoice_id,
)

__all__ = [
    "LOCAL_NOTE",
    "NOTHING_TO_BILL",
    "Attempt",
    "Decline",
    "Invoice",
    "InvoiceIssued",
    "InvoiceLine",
    "InvoicePaid",
    "InvoiceStatus",
    "NotCollectible",
    "NotDraft",
    "RetryPolicy",
    "UnknownInvoice",
    "new_invoice_id",
]
