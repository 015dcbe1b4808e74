"""The Invoice aggregate: an invoice with its lines and its payment log, whose methods are its
state transitions (see billing.domain.invoices.states for the states and events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal

from billing.domain.invoices.records import (
    DECLINED_ATTEMPT,
    LOCAL_NOTE,
    NOTHING_TO_BILL,
    PAID_ATTEMPT,
    Attempt,
    Decline,
    InvoiceLine,
    cut,
)
from billing.domain.invoices.states import (
    InvoiceIssued,
    InvoicePaid,
    InvoiceStatus,
    NotDraft,
    RetryPolicy,
    new_invoice_id,
)
from billing.domain.pricing import Line, LineKind, totals
from billing.domain.tariff import Tariff
from billing.payments.port import IssuedInvoice
from chargepark.errors import Conflict
from chargepark.events.envelope import DomainEvent


@dataclass(eq=False, kw_only=True)
class Invoice:
    """An invoice with its lines and its payment log; its methods are its state transitions,
    and queue the events they cause in `events` (the use case emits them in its unit of work).
    `added_lines` and `added_attempts` are what the repository still has to write."""

    id: str
    customer_id: str | None
    currency: str
    tax_percent: Decimal
    status: InvoiceStatus
    created_at: datetime
    visit_id: str | None = None
    net_minor: int = 0
    tax_minor: int = 0
    total_minor: int = 0
    note: str | None = None
    charge_automatically: bool = False
    provider: str | None = None
    provider_customer_id: str | None = None
    provider_invoice_id: str | None = None
    hosted_url: str | None = None
    amount_paid_minor: int | None = None
    collect_attempts: int = 0
    declines: int = 0
    unavailable: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    issued_at: datetime | None = None
    paid_at: datetime | None = None
    seq: int | None = None  # the store's list order; None until stored
    lines: list[InvoiceLine] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    events: list[DomainEvent] = field(default_factory=list, repr=False)
    added_lines: list[InvoiceLine] = field(default_factory=list, repr=False)
    added_attempts: list[Attempt] = field(default_factory=list, repr=False)

    # --- making one ---------------------------------------------------------------------------

    @classmethod
    def for_visit(
        cls,
        visit_id: str,
        customer_id: str | None,
        lines: Sequence[Line],
        tariff: Tariff,
        now: datetime,
    ) -> Invoice:
        """A visit's invoice: open (InvoiceIssued), or void when there is nothing to bill."""
        invoice = cls._priced(customer_id, lines, tariff.currency, tariff.tax_percent, now)
        invoice.visit_id = visit_id
        invoice._issue(now, next_attempt_at=now)
        return invoice

    @classmethod
    def for_late_energy(
        cls, line: Line, customer_id: str | None, tariff: Tariff, note: str, now: datetime
    ) -> Invoice:
        """The energy of a session that closed after its visit was invoiced: open at once."""
        invoice = cls._priced(customer_id, [line], tariff.currency, tariff.tax_percent, now)
        invoice.note = note[:200]
        invoice.status = InvoiceStatus.OPEN
        invoice.issued_at = invoice.next_attempt_at = now
        invoice._issued_event(now)
        return invoice

    @classmethod
    def draft(
        cls,
        customer_id: str | None,
        lines: Sequence[Line],
        currency: str,
        tax_percent: Decimal,
        now: datetime,
    ) -> Invoice:
        """A manual invoice, editable until it is finalized."""
        return cls._priced(customer_id, lines, currency, tax_percent, now)

    @classmethod
    def _priced(
        cls,
        customer_id: str | None,
        lines: Sequence[Line],
        currency: str,
        tax_percent: Decimal,
        now: datetime,
    ) -> Invoice:
        sums = totals(lines, tax_percent)
        invoice = cls(
            id=new_invoice_id(),
            customer_id=customer_id,
            currency=currency,
            tax_percent=tax_percent,
            status=InvoiceStatus.DRAFT,
            created_at=now,
            net_minor=sums.net_minor,
            tax_minor=sums.tax_minor,
            total_minor=sums.total_minor,
            charge_automatically=customer_id is not None,
        )
        invoice._append(lines, now)
        return invoice

    # --- a draft ------------------------------------------------------------------------------

    def add_lines(self, lines: Sequence[Line], now: datetime) -> None:
        """Manual adjustment lines (negative: a credit), while the invoice is a draft."""
        if self.status is not InvoiceStatus.DRAFT:
            raise NotDraft(self.id, self.status)
        self._append(lines, now)
        net = sum(line.amount_minor for line in self.lines)
        sums = totals([Line(LineKind.ADJUSTMENT, "", net)], self.tax_percent)
        self.net_minor, self.tax_minor, self.total_minor = (
            sums.net_minor,
            sums.tax_minor,
            sums.total_minor,
        )

    def finalize(self, now: datetime) -> None:
        """A draft's lines and totals are fixed: open (InvoiceIssued), or void at 0."""
        if self.total_minor < 0:
            raise Conflict("the invoice's total is negative; add lines until it is not")
        self._issue(now, next_attempt_at=None)

    def _issue(self, now: datetime, *, next_attempt_at: datetime | None) -> None:
        opened = self.total_minor > 0
        self.status = InvoiceStatus.OPEN if opened else InvoiceStatus.VOID
        self.issued_at = now
        self.next_attempt_at = next_attempt_at if opened else None
        self.note = None if opened else NOTHING_TO_BILL
        if opened:
            self._issued_event(now)

    def _issued_event(self, now: datetime) -> None:
        self.events.append(
            InvoiceIssued(
                invoice_id=self.id,
                customer_id=self.customer_id,
                visit_id=self.visit_id,
                total_minor=self.total_minor,
                tax_minor=self.tax_minor,
                currency=self.currency,
                ts=now,
            )
        )

    def _append(self, lines: Sequence[Line], now: datetime) -> None:
        first = max((line.line_no for line in self.lines), default=0) + 1
        for i, line in enumerate(lines):
            added = InvoiceLine(
                line_no=first + i,
                kind=line.kind,
                description=line.description,
                amount_minor=line.amount_minor,
                created_at=now,
                quantity_note=line.quantity_note,
                session_id=line.session_id,
            )
            self.lines.append(added)
            self.added_lines.append(added)

    # --- collection -----------------------------------------------------------------------------

    def reopen(self) -> None:
        """An operator's capture of an uncollectible invoice is one more try."""
        self.status = InvoiceStatus.OPEN
        self.next_attempt_at = None

    def issued_by(self, issued: IssuedInvoice) -> None:
        """The provider has the invoice now (its ids, and how it is collected)."""
        self.provider = issued.provider
        self.provider_customer_id = issued.provider_customer_id
        self.provider_invoice_id = issued.provider_invoice_id
        self.hosted_url = issued.hosted_url
        self.charge_automatically = issued.charge_automatically
        self.unavailable = 0
        self.last_error = None
        if issued.provider == "local":
            self.note = LOCAL_NOTE

    def collected(self, attempt: int) -> None:
        """The provider answered the `attempt`-th collection."""
        self.collect_attempts = attempt
        self.unavailable = 0

    def wait(self) -> None:
        """Nothing scheduled: the customer pays (at exit, or at the provider's page)."""
        self.next_attempt_at = None

    def pay(
        self, provider_ref: str | None, amount_minor: int, source: str, attempt: int, now: datetime
    ) -> None:
        """Paid (InvoicePaid), whatever it was before."""
        self._log(
            Attempt(
                attempt=attempt,
                source=source,
                status=PAID_ATTEMPT,
                at=now,
                provider_ref=provider_ref,
                amount_minor=amount_minor,
            )
        )
        self.status = InvoiceStatus.PAID
        self.paid_at = now
        self.amount_paid_minor = amount_minor
        self.next_attempt_at = None
        self.last_error = None
        self.events.append(
            InvoicePaid(
                invoice_id=self.id,
                customer_id=self.customer_id,
                amount_minor=amount_minor,
                currency=self.currency,
                provider=self.provider or "unknown",
                provider_ref=provider_ref,
                ts=now,
            )
        )

    def paid_answer(
        self, provider_ref: str | None, source: str, attempt: int, now: datetime
    ) -> None:
        """The provider answered paid: the total is paid, or (paid already) one more record."""
        if self.status is InvoiceStatus.PAID:
            self._log(
                Attempt(
                    attempt=attempt,
                    source=source,
                    status=PAID_ATTEMPT,
                    at=now,
                    provider_ref=provider_ref,
                )
            )
        else:
            self.pay(provider_ref, self.total_minor, source, attempt, now)

    def decline(
        self,
        decline: Decline,
        source: str,
        attempt: int,
        now: datetime,
        policy: RetryPolicy,
        *,
        count: bool = True,
    ) -> bool:
        """A declined payment: recorded; on an open invoice counted (unless `count` is False:
        the same decline reported twice) and retried per `policy`, or uncollectible after the
        last one. True: counted."""
        self._log(
            Attempt(
                attempt=attempt,
                source=source,
                status=DECLINED_ATTEMPT,
                at=now,
                provider_ref=decline.provider_ref,
                failure_code=decline.code,
                failure_message=decline.message,
            )
        )
        if self.status is not InvoiceStatus.OPEN:
            return False
        reason = f"declined: {decline.code}"[:500] if decline.code else "declined"
        if not count:
            if decline.code:  # the webhook's report named no code; the API's answer does
                self.last_error = reason
            return False
        self.declines += 1
        self.last_error = reason
        retry = policy.after_decline(now, self.declines)
        if retry is None:
            self.status = InvoiceStatus.UNCOLLECTIBLE
            self.next_attempt_at = None
        else:
            self.next_attempt_at = retry if self.charge_automatically else None
        return True

    def rejected(
        self, code: str | None, message: str, source: str, attempt: int, now: datetime
    ) -> None:
        """The provider refused the request itself: kept open, nothing scheduled, until an
        operator captures it (after fixing whatever the provider named)."""
        self._log(
            Attempt(
                attempt=attempt,
                source=source,
                status="rejected",
                at=now,
                failure_code=code,
                failure_message=message,
            )
        )
        if self.status is InvoiceStatus.OPEN:
            self.next_attempt_at = None
            self.last_error = f"rejected: {message}"[:500]

    def unreachable(
        self,
        error: str,
        message: str,
        source: str,
        attempt: int,
        now: datetime,
        policy: RetryPolicy,
    ) -> None:
        """The provider could not be asked: retried later, unless settled meanwhile (the
        webhook said paid while our call's answer was lost, say)."""
        self._log(
            Attempt(
                attempt=attempt, source=source, status="unavailable", at=now, failure_message=error
            )
        )
        if self.status is not InvoiceStatus.OPEN:
            return
        self.unavailable += 1
        self.next_attempt_at = policy.after_unavailable(now, self.unavailable)
        self.last_error = f"provider unavailable: {message}"[:500]

    @property
    def last_word_was_a_decline(self) -> bool:
        """The newest paid-or-declined record is a decline (a webhook repeating it is not a
        second decline)."""
        decisive = [a for a in self.attempts if a.status in (PAID_ATTEMPT, DECLINED_ATTEMPT)]
        return bool(decisive) and decisive[-1].status == DECLINED_ATTEMPT

    def webhook_declined_since(self, since: datetime) -> bool:
        """The provider's webhook reported a decline at or after `since`."""
        return any(
            a.source == "webhook" and a.status == DECLINED_ATTEMPT and a.at >= since
            for a in self.attempts
        )

    def _log(self, attempt: Attempt) -> None:
        attempt = replace(
            attempt,
            failure_code=cut(attempt.failure_code, 128),
            failure_message=cut(attempt.failure_message, 500),
        )
        self.attempts.append(attempt)
        self.added_attempts.append(attempt)

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events
