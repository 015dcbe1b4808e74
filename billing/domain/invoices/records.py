"""What an invoice records: its lines, its payment log, and what a decline says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from billing.domain.pricing import LineKind


@dataclass(frozen=True, kw_only=True)
class InvoiceLine:
    """A line as the invoice holds it: numbered from 1, in the order added."""

    line_no: int
    kind: LineKind
    description: str
    amount_minor: int
    created_at: datetime
    quantity_note: str | None = None
    session_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class Attempt:
    """One answer about paying the invoice (or the lack of one): the invoice's payment log."""

    attempt: int
    source: str  # issue | collect | webhook
    status: str  # paid | payment_failed | unavailable | rejected
    at: datetime
    provider_ref: str | None = None
    failure_code: str | None = None
    failure_message: str | None = None
    amount_minor: int | None = None


PAID_ATTEMPT, DECLINED_ATTEMPT = "paid", "payment_failed"
LOCAL_NOTE = "issued and collected by the local provider: not sent to Stripe"
NOTHING_TO_BILL = "nothing to bill"


def cut(value: str | None, size: int) -> str | None:
    return None if value is None else value[:size]


@dataclass(frozen=True)
class Decline:
    """What the provider said of a declined payment."""

    code: str | None
    message: str | None
    provider_ref: str | None = None
