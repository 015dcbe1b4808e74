"""The language between billing's use cases and a payment provider (Stripe, or the local one):
the types of billing.ports.PaymentProvider.

Billing's service speaks only these types; an adapter maps them to its provider's API. Every
call is idempotent in our ids (`idempotency_key`), so a retry after a timeout or a crash
never creates a second customer, invoice item or charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered 5xx / 429: nothing is known to have
    changed there; the caller retries later with the same idempotency keys."""


class ProviderRejected(Exception):
    """The provider refused the request itself (4xx other than a decline): retrying the same
    request cannot help. `code` is the provider's error code where it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Payer:
    """Who pays: our customer id (None for the anonymous pay-at-exit account), how to reach
    them, and the provider's customer id once created (lazily, on the first invoice)."""

    customer_id: str | None
    name: str | None = None
    email: str | None = None
    provider_customer_id: str | None = None


@dataclass(frozen=True)
class LineToBill:
    line_id: str  # ours, stable: the item's idempotency key derives from it
    description: str
    amount_minor: int  # tax-exclusive, in the invoice's currency
    quantity_note: str | None = None  # e.g. "14.300 kWh x 0.39", shown on the invoice


@dataclass(frozen=True, kw_only=True)
class InvoiceToIssue:
    invoice_id: str  # ours
    currency: str  # ISO 4217, upper case (Stripe wants lower case: the adapter converts)
    lines: list[LineToBill]
    tax_minor: int
    total_minor: int  # lines + tax
    charge_automatically: bool  # the payer has a default payment method
    metadata: dict[str, str] = field(default_factory=dict)


class PaymentStatus(StrEnum):
    OPEN = "open"  # issued, not (yet) paid: sent for payment or awaiting the customer
    PAID = "paid"
    FAILED = "payment_failed"  # a decline: recorded, retried per policy


@dataclass(frozen=True)
class IssuedInvoice:
    provider: str  # "stripe", "local"
    provider_customer_id: str | None
    provider_invoice_id: str
    status: PaymentStatus
    hosted_url: str | None = None
    # False: the provider sends the invoice and the customer pays it there (the webhook says
    # when); nothing for us to collect. A customer known to us but without a saved payment
    # method gets such an invoice even when we asked for automatic collection.
    charge_automatically: bool = True


@dataclass(frozen=True)
class PaymentAttempt:
    status: PaymentStatus
    provider_ref: str | None = None  # payment intent / charge id
    failure_code: str | None = None  # e.g. card_declined
    failure_message: str | None = None
