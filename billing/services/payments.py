"""Payments: the provider issues and collects each open invoice, outside any transaction, and
every answer (or its absence) is recorded on the invoice; the provider's webhook reports
payments and declines too. Every provider call is idempotent in our ids, so a retry after a
timeout or a crash charges nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from billing.domain.invoices import (
    Decline,
    Invoice,
    InvoiceStatus,
    NotCollectible,
    RetryPolicy,
)
from billing.payments.port import (
    InvoiceToIssue,
    IssuedInvoice,
    LineToBill,
    Payer,
    PaymentAttempt,
    PaymentStatus,
    ProviderRejected,
    ProviderUnavailable,
)
from billing.ports import BillingUnitOfWork, PaymentProvider
from billing.services.invoicing import invoice_of
from chargepark import tracing
from chargepark.clock import Clock
from chargepark.errors import NotFound

log = logging.getLogger(__name__)

# How long a node holds an invoice while it talks to the provider; past it another may retry
# (with the same idempotency keys, so nothing is charged twice).
LEASE = timedelta(minutes=5)
BATCH = 100
OPEN, PAID, VOID = InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.VOID
UNCOLLECTIBLE, DRAFT = InvoiceStatus.UNCOLLECTIBLE, InvoiceStatus.DRAFT


class UnknownProviderInvoice(NotFound):
    def __init__(self, provider_invoice_id: str) -> None:
        super().__init__(f"no invoice with the provider's id {provider_invoice_id!r}")


class Payments:
    def __init__(
        self,
        uow: Callable[[], BillingUnitOfWork],
        clock: Clock,
        provider: PaymentProvider,
        policy: RetryPolicy,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.provider = provider
        self.policy = policy

    async def collect_due(self, limit: int = BATCH) -> int:
        """Have the provider issue and collect the open invoices whose time has come."""
        async with self.uow() as uow:
            due = await uow.invoices.due(self.clock.now(), limit)
        for invoice_id, seen in due:
            with tracing.job_span("billing collect invoice", {"billing.invoice_id": invoice_id}):
                await self._advance(invoice_id, seen, capture=False)
        return len(due)

    async def capture(self, invoice_id: str) -> str:
        """Finalize a draft (open, InvoiceIssued) and collect now: for the anonymous account
        too (pay at exit). Returns the status after the attempt."""
        now = self.clock.now()
        async with self.uow() as uow:
            invoice = await invoice_of(uow, invoice_id, for_update=True)
            if invoice.status is DRAFT:
                invoice.finalize(now)
            if invoice.status in (PAID, VOID):
                await _save(uow, invoice)
                return invoice.status.value
            if invoice.status is UNCOLLECTIBLE:
                invoice.reopen()  # an operator's capture is one more try
            elif invoice.status is not OPEN:
                raise NotCollectible(invoice_id, invoice.status)
            await _save(uow, invoice)
        return await self._advance(invoice_id, invoice.next_attempt_at, capture=True)

    # --- what the provider's webhook reports ------------------------------------------------

    async def payment_succeeded(
        self, provider_invoice_id: str, provider_ref: str | None, amount_minor: int
    ) -> None:
        """The provider says the invoice is paid. Idempotent: a paid invoice stays as it is.
        An uncollectible invoice paid later becomes paid."""
        now = self.clock.now()
        async with self.uow() as uow:
            invoice = await uow.invoices.by_provider_id(provider_invoice_id)
            if invoice is None:
                raise UnknownProviderInvoice(provider_invoice_id)
            if invoice.status is PAID:
                return
            if invoice.status not in (OPEN, UNCOLLECTIBLE):
                log.warning(
                    "payment reported for an invoice that is not payable",
                    extra={"invoice_id": invoice.id, "status": invoice.status.value},
                )
                return
            if amount_minor != invoice.total_minor:
                log.warning(
                    "paid amount differs from the invoice total",
                    extra={"invoice_id": invoice.id, "paid": amount_minor},
                )
            attempt = invoice.collect_attempts or 1
            invoice.pay(provider_ref, amount_minor, "webhook", attempt, now)
            await _save(uow, invoice)

    async def payment_failed(
        self, provider_invoice_id: str, failure_code: str | None, failure_message: str | None
    ) -> None:
        """The provider says a payment failed. Counted once per attempt: the decline our own
        collection already recorded is not counted again."""
        now = self.clock.now()
        async with self.uow() as uow:
            invoice = await uow.invoices.by_provider_id(provider_invoice_id)
            if invoice is None:
                raise UnknownProviderInvoice(provider_invoice_id)
            if invoice.status is not OPEN or invoice.last_word_was_a_decline:
                return
            decline = Decline(failure_code, failure_message)
            self._decline(invoice, decline, "webhook", invoice.collect_attempts, now)
            await _save(uow, invoice)

    # --- talking to the provider ----------------------------------------------------------

    async def _advance(self, invoice_id: str, seen: datetime | None, *, capture: bool) -> str:
        now = self.clock.now()
        async with self.uow() as uow:
            if not await uow.invoices.claim(invoice_id, seen, now + LEASE):
                return (await invoice_of(uow, invoice_id)).status.value
            invoice = await invoice_of(uow, invoice_id)
            pcid = None
            if invoice.customer_id is not None:
                pcid = await uow.customers.provider_customer_id(invoice.customer_id)
            await uow.commit()
        provider_invoice_id = invoice.provider_invoice_id
        if provider_invoice_id is None:
            issued = await self._issue(
                invoice, Payer(invoice.customer_id, provider_customer_id=pcid)
            )
            if issued is None:
                return await self._status(invoice_id)
            if issued.status is not PaymentStatus.OPEN:
                return await self._answered(invoice_id, issued.status, None, "issue", 1)
            if not (issued.charge_automatically or capture):
                await self._wait(invoice_id)  # pay at exit, or the customer pays the provider
                return OPEN.value
            provider_invoice_id = issued.provider_invoice_id
        attempt = invoice.collect_attempts + 1
        try:
            answer = await self.provider.collect(provider_invoice_id, attempt)
        except Exception as exc:
            await self._failed_call(invoice_id, exc, "collect", attempt)
            return OPEN.value
        return await self._answered(
            invoice_id, answer.status, answer, "collect", attempt, claimed_at=now
        )

    async def _issue(self, invoice: Invoice, payer: Payer) -> IssuedInvoice | None:
        try:
            customer_id = payer.customer_id
            if customer_id is not None and payer.provider_customer_id is None:
                pcid = await self.provider.ensure_customer(payer)
                payer = replace(payer, provider_customer_id=pcid)
                async with self.uow() as uow:
                    await uow.customers.set_provider_customer_id(
                        customer_id, pcid, self.clock.now()
                    )
                    await uow.commit()
            issued = await self.provider.issue(payer, to_issue(invoice))
        except Exception as exc:
            await self._failed_call(invoice.id, exc, "issue", 0)
            return None
        async with self.uow() as uow:
            current = await invoice_of(uow, invoice.id, for_update=True)
            current.issued_by(issued)
            await _save(uow, current)
        return issued

    async def _answered(
        self,
        invoice_id: str,
        status: PaymentStatus,
        answer: PaymentAttempt | None,
        source: str,
        attempt: int,
        *,
        claimed_at: datetime | None = None,
    ) -> str:
        now = self.clock.now()
        async with self.uow() as uow:
            invoice = await invoice_of(uow, invoice_id, for_update=True)
            if source == "collect":
                invoice.collected(attempt)
            ref = answer.provider_ref if answer else None
            if status is PaymentStatus.PAID:
                invoice.paid_answer(ref, source, attempt, now)
            elif status is PaymentStatus.FAILED:
                decline = Decline(
                    answer.failure_code if answer else None,
                    answer.failure_message if answer else None,
                    ref,
                )
                # The provider's webhook may report this very decline before its API answer
                # reaches us: a webhook decline recorded since we claimed the invoice for this
                # collection is the same one, already counted.
                echoed = claimed_at is not None and invoice.webhook_declined_since(claimed_at)
                self._decline(invoice, decline, source, attempt, now, count=not echoed)
            else:  # OPEN: waiting for the customer (or for the provider's own retries)
                invoice.wait()
            await _save(uow, invoice)
            return invoice.status.value

    def _decline(
        self,
        invoice: Invoice,
        decline: Decline,
        source: str,
        attempt: int,
        now: datetime,
        *,
        count: bool = True,
    ) -> None:
        if invoice.decline(decline, source, attempt, now, self.policy, count=count):
            log.info(
                "payment declined", extra={"invoice_id": invoice.id, "declines": invoice.declines}
            )

    async def _failed_call(
        self, invoice_id: str, exc: Exception, source: str, attempt: int
    ) -> None:
        """The provider could not be asked, or refused the request: nothing is lost."""
        now = self.clock.now()
        async with self.uow() as uow:
            invoice = await invoice_of(uow, invoice_id, for_update=True)
            if isinstance(exc, ProviderRejected):
                invoice.rejected(exc.code, str(exc), source, attempt, now)
                log.warning("provider rejected the invoice", extra={"invoice_id": invoice_id})
            else:
                if not isinstance(exc, ProviderUnavailable):
                    log.exception("payment provider call failed", extra={"invoice_id": invoice_id})
                error = f"{type(exc).__name__}: {exc}"
                invoice.unreachable(error, str(exc), source, attempt, now, self.policy)
            await _save(uow, invoice)

    async def _wait(self, invoice_id: str) -> None:
        async with self.uow() as uow:
            invoice = await invoice_of(uow, invoice_id, for_update=True)
            invoice.wait()
            await _save(uow, invoice)

    async def _status(self, invoice_id: str) -> str:
        async with self.uow() as uow:
            return (await invoice_of(uow, invoice_id)).status.value


async def _save(uow: BillingUnitOfWork, invoice: Invoice) -> None:
    """Write the invoice and emit what it caused, in one commit."""
    await uow.invoices.save(invoice)
    for event in invoice.pull_events():
        uow.emit(event)
    await uow.commit()


def to_issue(invoice: Invoice) -> InvoiceToIssue:
    metadata = {
        "invoice_id": invoice.id,
        "visit_id": invoice.visit_id,
        "customer_id": invoice.customer_id,
    }
    return InvoiceToIssue(
        invoice_id=invoice.id,
        currency=invoice.currency,
        lines=[
            LineToBill(
                line_id=f"{invoice.id}-{line.line_no}",
                description=line.description,
                amount_minor=line.amount_minor,
                quantity_note=line.quantity_note,
            )
            for line in invoice.lines
        ],
        tax_minor=invoice.tax_minor,
        total_minor=invoice.total_minor,
        charge_automatically=invoice.charge_automatically,
        metadata={k: v for k, v in metadata.items() if v is not None},
    )
