"""Use cases of the billing service: tariffs, visits from events, invoices and their payment.

Visits are invoiced by the billing job (see billing.worker), never on a request's path: the job
finds visits that are due, prices each in one unit of work (invoice, lines, the visit marked
invoiced, InvoiceIssued into the outbox), then has the payment provider issue and collect each
open invoice, outside any transaction, recording every answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.domain.invoices import (
    InvoiceIssued,
    InvoicePaid,
    InvoiceStatus,
    NotCollectible,
    NotDraft,
    RetryPolicy,
    UnknownInvoice,
    new_invoice_id,
)
from billing.domain.pricing import Line, LineKind, totals
from billing.domain.tariff import (
    DEFAULT_TARIFF_ID,
    Tariff,
    UnknownTariff,
    standard_tariff,
    tariff_chooser,
)
from billing.domain.visits import (
    SessionFact,
    is_due,
    price_visit,
)
from billing.facts import customer_of
from billing.payments.port import (
    InvoiceToIssue,
    IssuedInvoice,
    LineToBill,
    Payer,
    PaymentAttempt,
    PaymentProvider,
    PaymentStatus,
    ProviderRejected,
    ProviderUnavailable,
)
from billing.repository import OPEN, SqlBillingUnitOfWork, StoredVisit
from billing.settings import BillingSettings
from chargepark import tracing
from chargepark.clock import Clock
from chargepark.errors import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)

# How long a node holds an invoice while it talks to the provider; past it another may retry
# (with the same idempotency keys, so nothing is charged twice).
LEASE = timedelta(minutes=5)
BATCH = 100
DRAFT, PAID, VOID = InvoiceStatus.DRAFT, InvoiceStatus.PAID, InvoiceStatus.VOID
UNCOLLECTIBLE = InvoiceStatus.UNCOLLECTIBLE
LOCAL_NOTE = "issued and collected by the local provider: not sent to Stripe"


class UnknownVisit(NotFound):
    def __init__(self, visit_id: str) -> None:
        super().__init__(f"no visit {visit_id!r}")


class UnknownProviderInvoice(NotFound):
    def __init__(self, provider_invoice_id: str) -> None:
        super().__init__(f"no invoice with the provider's id {provider_invoice_id!r}")


@dataclass(frozen=True)
class TariffFields:
    """A tariff as an operator sends it (id and version are billing's to assign)."""

    name: str
    currency: str
    energy_minor_per_kwh: Decimal
    session_fee_minor: int
    parking_minor_per_period: int
    parking_period_minutes: int
    parking_grace_minutes: int
    parking_daily_cap_minor: int | None
    idle_minor_per_minute: int
    idle_after_minutes: int
    tax_percent: Decimal
    valid_from: datetime | None = None

    def version(self, tariff_id: str, version: int, valid_from: datetime) -> Tariff:
        return Tariff(
            id=tariff_id,
            version=version,
            name=self.name,
            currency=self.currency,
            energy_minor_per_kwh=self.energy_minor_per_kwh,
            session_fee_minor=self.session_fee_minor,
            parking_minor_per_period=self.parking_minor_per_period,
            parking_period_minutes=self.parking_period_minutes,
            parking_grace_minutes=self.parking_grace_minutes,
            parking_daily_cap_minor=self.parking_daily_cap_minor,
            idle_minor_per_minute=self.idle_minor_per_minute,
            idle_after_minutes=self.idle_after_minutes,
            tax_percent=self.tax_percent,
            valid_from=valid_from,
        )


class BillingService:
    def __init__(
        self,
        uow: Callable[[], SqlBillingUnitOfWork],
        clock: Clock,
        provider: PaymentProvider,
        *,
        settings: BillingSettings | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.provider = provider
        self.settings = settings or BillingSettings()
        self.policy = policy or RetryPolicy(
            unavailable_max_sec=self.settings.unavailable_max_backoff_sec,
            max_declines=self.settings.max_declines,
            decline_retry_sec=self.settings.decline_retry_sec,
        )

    # --- tariffs --------------------------------------------------------------------------

    async def ensure_default_tariff(self) -> None:
        """Seed T_STD on the first start, so the platform bills out of the box."""
        async with self.uow() as uow:
            if await uow.tariff_versions(DEFAULT_TARIFF_ID):
                return
            await uow.add_tariff(standard_tariff(), self.clock.now())
            await uow.commit()

    async def tariffs(self) -> dict[str, list[Tariff]]:
        async with self.uow() as uow:
            return await uow.all_tariffs()

    async def tariff(self, tariff_id: str) -> list[Tariff]:
        async with self.uow() as uow:
            versions = await uow.tariff_versions(tariff_id)
        if not versions:
            raise UnknownTariff(tariff_id)
        return versions

    async def create_tariff(self, tariff_id: str, fields: TariffFields) -> Tariff:
        now = self.clock.now()
        tariff = fields.version(tariff_id, 1, fields.valid_from or now)
        async with self.uow() as uow:
            by_id = await uow.all_tariffs()
            if tariff_id in by_id:
                raise Conflict(f"tariff {tariff_id} exists; PUT /tariffs/{tariff_id} to change it")
            _check_currency(by_id, tariff)
            await uow.add_tariff(tariff, now)
            await uow.commit()
        return tariff

    async def change_tariff(self, tariff_id: str, fields: TariffFields) -> Tariff:
        """A new version, valid from now (or a later `valid_from`): what was billed, or is being
        billed, under the versions before stays priced by them."""
        now = self.clock.now()
        valid_from = fields.valid_from or now
        if valid_from < now - timedelta(seconds=5):
            raise Invalid("valid_from is in the past: a tariff's past is fixed")
        async with self.uow() as uow:
            by_id = await uow.all_tariffs()
            versions = by_id.get(tariff_id)
            if not versions:
                raise UnknownTariff(tariff_id)
            tariff = fields.version(tariff_id, versions[-1].version + 1, valid_from)
            _check_currency(by_id, tariff)
            await uow.add_tariff(tariff, now)
            await uow.commit()
        return tariff

    # --- invoicing visits (the billing job) ------------------------------------------------

    async def finalize_due(self, limit: int = BATCH) -> list[str]:
        """Invoice the visits that are due; returns the invoices made."""
        now = self.clock.now()
        async with self.uow() as uow:
            candidates = await uow.due_visits(
                now - timedelta(seconds=self.settings.settle_sec), limit
            )
        made = []
        for visit_id in candidates:
            try:
                with tracing.job_span("billing finalize visit", {"billing.visit_id": visit_id}):
                    invoice_id = await self.finalize_visit(visit_id)
            except Exception:
                # One visit that cannot be invoiced must not hold back the others, nor the
                # collection after them: it is logged and tried again next cycle.
                log.exception("visit not invoiced", extra={"visit_id": visit_id})
                continue
            if invoice_id is not None:
                made.append(invoice_id)
        return made

    async def finalize_visit(self, visit_id: str, *, force: bool = False) -> str | None:
        """The visit's invoice, open (InvoiceIssued) or void when there is nothing to bill;
        None when the visit is not due (or invoiced already)."""
        now = self.clock.now()
        async with self.uow() as uow:
            stored = await uow.get_visit(visit_id, for_update=True)
            if stored is None or stored.status != OPEN:
                return None
            due = is_due(
                stored.visit,
                stored.changed_at,
                now,
                self.settings.settle_sec,
                self.settings.visit_timeout_sec,
            )
            if not (due or force):
                return None
            if stored.visit.stay is None and not stored.visit.sessions:
                # A session's own visit whose session moved to a stay (events racing after an
                # outage can leave it behind): nothing to bill, and nothing will join it that
                # would not make it again.
                await uow.drop_empty_session_visits([visit_id])
                await uow.commit()
                log.info("empty visit dropped", extra={"visit_id": visit_id})
                return None
            lines, primary = price_visit(stored.visit, tariff_chooser(await uow.all_tariffs()))
            customer_id = await customer_of(uow, stored.visit)
            invoice_id = new_invoice_id()
            sums = totals(lines, primary.tax_percent)
            status = InvoiceStatus.OPEN if sums.total_minor > 0 else VOID
            await uow.add_invoice(
                {
                    "id": invoice_id,
                    "visit_id": visit_id,
                    "customer_id": customer_id,
                    "currency": primary.currency,
                    "tax_percent": str(primary.tax_percent),
                    "net_minor": sums.net_minor,
                    "tax_minor": sums.tax_minor,
                    "total_minor": sums.total_minor,
                    "status": status.value,
                    "note": None if status is InvoiceStatus.OPEN else "nothing to bill",
                    "charge_automatically": customer_id is not None,
                    "issued_at": now,
                    "next_attempt_at": now if status is InvoiceStatus.OPEN else None,
                },
                lines,
                now,
            )
            await uow.mark_invoiced(visit_id, invoice_id)
            if status is InvoiceStatus.OPEN:
                uow.emit(
                    InvoiceIssued(
                        invoice_id,
                        customer_id,
                        visit_id,
                        sums.total_minor,
                        sums.tax_minor,
                        primary.currency,
                        now,
                    )
                )
            await uow.commit()
        log.info(
            "visit invoiced",
            extra={"visit_id": visit_id, "invoice_id": invoice_id, "total": sums.total_minor},
        )
        if tracing.enabled:
            _trace_lines(invoice_id, lines, stored.visit.sessions)
        return invoice_id

    async def collect_due(self, limit: int = BATCH) -> int:
        """Have the provider issue and collect the open invoices whose time has come."""
        async with self.uow() as uow:
            due = await uow.due_invoices(self.clock.now(), limit)
        for invoice_id, seen in due:
            with tracing.job_span("billing collect invoice", {"billing.invoice_id": invoice_id}):
                await self._advance(invoice_id, seen, capture=False)
        return len(due)

    async def run_cycle(self) -> None:
        await self.finalize_due()
        await self.collect_due()

    # --- manual invoices (seed API) -------------------------------------------------------

    async def create_draft(
        self,
        customer_id: str | None,
        lines: Sequence[Line] = (),
        *,
        currency: str | None = None,
        tax_percent: Decimal | None = None,
    ) -> str:
        now = self.clock.now()
        async with self.uow() as uow:
            default = tariff_chooser(await uow.all_tariffs())(None, now)
            rate = default.tax_percent if tax_percent is None else tax_percent
            sums = totals(lines, rate)
            invoice_id = new_invoice_id()
            await uow.add_invoice(
                {
                    "id": invoice_id,
                    "customer_id": customer_id,
                    "currency": currency or default.currency,
                    "tax_percent": str(rate),
                    "net_minor": sums.net_minor,
                    "tax_minor": sums.tax_minor,
                    "total_minor": sums.total_minor,
                    "status": DRAFT.value,
                    "charge_automatically": customer_id is not None,
                },
                list(lines),
                now,
            )
            await uow.commit()
        return invoice_id

    async def add_lines(self, invoice_id: str, lines: Sequence[Line]) -> dict[str, Any]:
        now = self.clock.now()
        async with self.uow() as uow:
            inv = await _invoice(uow, invoice_id, for_update=True)
            if inv["status"] != DRAFT:
                raise NotDraft(invoice_id, inv["status"])
            await uow.add_lines(invoice_id, await uow.next_line_no(invoice_id), list(lines), now)
            net = await uow.net_of_lines(invoice_id)
            sums = totals([Line(LineKind.ADJUSTMENT, "", net)], Decimal(inv["tax_percent"]))
            await uow.update_invoice(
                invoice_id,
                net_minor=sums.net_minor,
                tax_minor=sums.tax_minor,
                total_minor=sums.total_minor,
            )
            await uow.commit()
        return await self.invoice(invoice_id)

    async def capture(self, invoice_id: str) -> str:
        """Finalize a draft (open, InvoiceIssued) and collect now: for the anonymous account
        too (pay at exit). Returns the status after the attempt."""
        now = self.clock.now()
        async with self.uow() as uow:
            inv = await _invoice(uow, invoice_id, for_update=True)
            if inv["status"] == DRAFT:
                inv = await self._finalize_draft(uow, inv, now)
                await uow.commit()
        if inv["status"] in (PAID, VOID):
            return inv["status"]
        if inv["status"] == UNCOLLECTIBLE:
            async with self.uow() as uow:  # an operator's capture is one more try
                await uow.update_invoice(invoice_id, status=OPEN, next_attempt_at=None)
                await uow.commit()
            inv["next_attempt_at"] = None
        elif inv["status"] != OPEN:
            raise NotCollectible(invoice_id, inv["status"])
        return await self._advance(invoice_id, inv["next_attempt_at"], capture=True)

    async def _finalize_draft(
        self, uow: SqlBillingUnitOfWork, inv: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        if inv["total_minor"] < 0:
            raise Conflict("the invoice's total is negative; add lines until it is not")
        status = InvoiceStatus.OPEN if inv["total_minor"] > 0 else VOID
        values = {
            "status": status.value,
            "issued_at": now,
            "next_attempt_at": None,
            "note": None if status is InvoiceStatus.OPEN else "nothing to bill",
        }
        await uow.update_invoice(inv["id"], **values)
        if status is InvoiceStatus.OPEN:
            uow.emit(
                InvoiceIssued(
                    inv["id"],
                    inv["customer_id"],
                    inv["visit_id"],
                    inv["total_minor"],
                    inv["tax_minor"],
                    inv["currency"],
                    now,
                )
            )
        return {**inv, **values}

    # --- reading --------------------------------------------------------------------------

    async def invoice(self, invoice_id: str) -> dict[str, Any]:
        async with self.uow() as uow:
            inv = await _invoice(uow, invoice_id)
            inv["lines"] = await uow.lines_of(invoice_id)
            inv["payment_attempts"] = await uow.attempts_of(invoice_id)
        return inv

    async def invoices(self, **where: Any) -> list[dict[str, Any]]:
        async with self.uow() as uow:
            return await uow.list_invoices(**where)

    async def visit(self, visit_id: str) -> StoredVisit:
        async with self.uow() as uow:
            stored = await uow.get_visit(visit_id)
        if stored is None:
            raise UnknownVisit(visit_id)
        return stored

    # --- what the provider's webhook reports ------------------------------------------------

    async def payment_succeeded(
        self, provider_invoice_id: str, provider_ref: str | None, amount_minor: int
    ) -> None:
        """The provider says the invoice is paid. Idempotent: a paid invoice stays as it is.
        An uncollectible invoice paid later becomes paid."""
        now = self.clock.now()
        async with self.uow() as uow:
            inv = await uow.invoice_by_provider_id(provider_invoice_id)
            if inv is None:
                raise UnknownProviderInvoice(provider_invoice_id)
            if inv["status"] == PAID:
                return
            if inv["status"] not in (OPEN, UNCOLLECTIBLE):
                log.warning(
                    "payment reported for an invoice that is not payable",
                    extra={"invoice_id": inv["id"], "status": inv["status"]},
                )
                return
            if amount_minor != inv["total_minor"]:
                log.warning(
                    "paid amount differs from the invoice total",
                    extra={"invoice_id": inv["id"], "paid": amount_minor},
                )
            attempt = inv["collect_attempts"] or 1
            await _mark_paid(uow, inv, provider_ref, amount_minor, "webhook", attempt, now)
            await uow.commit()

    async def payment_failed(
        self, provider_invoice_id: str, failure_code: str | None, failure_message: str | None
    ) -> None:
        """The provider says a payment failed. Counted once per attempt: the decline our own
        collection already recorded is not counted again."""
        now = self.clock.now()
        async with self.uow() as uow:
            inv = await uow.invoice_by_provider_id(provider_invoice_id)
            if inv is None:
                raise UnknownProviderInvoice(provider_invoice_id)
            if inv["status"] != OPEN:
                return
            decisive = [
                a
                for a in await uow.attempts_of(inv["id"])
                if a["status"] in (PaymentStatus.PAID.value, PaymentStatus.FAILED.value)
            ]
            if decisive and decisive[-1]["status"] == PaymentStatus.FAILED.value:
                return
            await self._record_decline(
                uow, inv, failure_code, failure_message, "webhook", inv["collect_attempts"], now
            )
            await uow.commit()

    # --- talking to the provider ----------------------------------------------------------

    async def _advance(self, invoice_id: str, seen: datetime | None, *, capture: bool) -> str:
        now = self.clock.now()
        async with self.uow() as uow:
            if not await uow.claim_invoice(invoice_id, seen, now + LEASE):
                inv = await _invoice(uow, invoice_id)
                return inv["status"]
            inv = await _invoice(uow, invoice_id)
            lines = await uow.lines_of(invoice_id)
            pcid = None
            if inv["customer_id"] is not None:
                pcid = await uow.provider_customer_id(inv["customer_id"])
            await uow.commit()
        payer = Payer(inv["customer_id"], provider_customer_id=pcid)
        if inv["provider_invoice_id"] is None:
            issued = await self._issue(inv, payer, lines)
            if issued is None:
                return await self._status(invoice_id)
            if issued.status is not PaymentStatus.OPEN:
                return await self._answered(inv, issued.status, None, "issue", 1, issued)
            if not (issued.charge_automatically or capture):
                await self._wait(invoice_id)  # pay at exit, or the customer pays the provider
                return OPEN
            inv = {**inv, "provider_invoice_id": issued.provider_invoice_id}
        attempt = inv["collect_attempts"] + 1
        try:
            answer = await self.provider.collect(inv["provider_invoice_id"], attempt)
        except Exception as exc:
            await self._failed_call(inv, exc, "collect", attempt)
            return OPEN
        return await self._answered(
            inv, answer.status, answer, "collect", attempt, None, claimed_at=now
        )

    async def _issue(
        self, inv: dict[str, Any], payer: Payer, lines: list[dict[str, Any]]
    ) -> IssuedInvoice | None:
        try:
            if payer.customer_id is not None and payer.provider_customer_id is None:
                pcid = await self.provider.ensure_customer(payer)
                payer = replace(payer, provider_customer_id=pcid)
                async with self.uow() as uow:
                    await uow.set_provider_customer_id(payer.customer_id, pcid, self.clock.now())
                    await uow.commit()
            issued = await self.provider.issue(payer, _to_issue(inv, lines))
        except Exception as exc:
            await self._failed_call(inv, exc, "issue", 0)
            return None
        async with self.uow() as uow:
            await uow.update_invoice(
                inv["id"],
                provider=issued.provider,
                provider_customer_id=issued.provider_customer_id,
                provider_invoice_id=issued.provider_invoice_id,
                hosted_url=issued.hosted_url,
                charge_automatically=issued.charge_automatically,
                unavailable=0,
                last_error=None,
                note=LOCAL_NOTE if issued.provider == "local" else inv["note"],
            )
            await uow.commit()
        return issued

    async def _answered(
        self,
        inv: dict[str, Any],
        status: PaymentStatus,
        answer: PaymentAttempt | None,
        source: str,
        attempt: int,
        issued: IssuedInvoice | None,
        *,
        claimed_at: datetime | None = None,
    ) -> str:
        now = self.clock.now()
        async with self.uow() as uow:
            current = await _invoice(uow, inv["id"], for_update=True)
            if source == "collect":
                await uow.update_invoice(inv["id"], collect_attempts=attempt, unavailable=0)
                current["collect_attempts"] = attempt
            ref = answer.provider_ref if answer else None
            if status is PaymentStatus.PAID:
                if current["status"] == PAID:
                    await uow.add_attempt(inv["id"], attempt, source, "paid", now, provider_ref=ref)
                else:
                    await _mark_paid(
                        uow, current, ref, current["total_minor"], source, attempt, now
                    )
            elif status is PaymentStatus.FAILED:
                code = answer.failure_code if answer else None
                message = answer.failure_message if answer else None
                # The provider's webhook may report this very decline before its API answer
                # reaches us: a webhook decline recorded since we claimed the invoice for this
                # collection is the same one, already counted.
                echoed = claimed_at is not None and any(
                    a["source"] == "webhook"
                    and a["status"] == PaymentStatus.FAILED.value
                    and a["at"] >= claimed_at
                    for a in await uow.attempts_of(inv["id"])
                )
                await self._record_decline(
                    uow, current, code, message, source, attempt, now, ref=ref, count=not echoed
                )
            else:  # OPEN: waiting for the customer (or for the provider's own retries)
                await uow.update_invoice(inv["id"], next_attempt_at=None)
            await uow.commit()
            return (await _invoice(uow, inv["id"]))["status"]

    async def _record_decline(
        self,
        uow: SqlBillingUnitOfWork,
        inv: dict[str, Any],
        code: str | None,
        message: str | None,
        source: str,
        attempt: int,
        now: datetime,
        *,
        ref: str | None = None,
        count: bool = True,
    ) -> None:
        await uow.add_attempt(
            inv["id"],
            attempt,
            source,
            PaymentStatus.FAILED.value,
            now,
            provider_ref=ref,
            failure_code=code,
            failure_message=message,
        )
        if inv["status"] != OPEN:
            return
        reason = f"declined: {code}"[:500] if code else "declined"
        if not count:
            if code:  # the webhook's report named no code; the API's answer does
                await uow.update_invoice(inv["id"], last_error=reason)
            return
        declines = inv["declines"] + 1
        retry = self.policy.after_decline(now, declines)
        values: dict[str, Any] = {"declines": declines, "last_error": reason}
        if retry is None:
            values.update(status=UNCOLLECTIBLE.value, next_attempt_at=None)
        else:
            values["next_attempt_at"] = retry if inv["charge_automatically"] else None
        await uow.update_invoice(inv["id"], **values)
        log.info("payment declined", extra={"invoice_id": inv["id"], "declines": declines})

    async def _failed_call(
        self, inv: dict[str, Any], exc: Exception, source: str, attempt: int
    ) -> None:
        """The provider could not be asked, or refused the request: nothing is lost."""
        now = self.clock.now()
        async with self.uow() as uow:
            current = await _invoice(uow, inv["id"], for_update=True)
            if isinstance(exc, ProviderRejected):
                # The same request would be refused again: kept open, no retry scheduled, until
                # an operator captures it (after fixing whatever the provider named).
                await uow.add_attempt(
                    inv["id"],
                    attempt,
                    source,
                    "rejected",
                    now,
                    failure_code=exc.code,
                    failure_message=str(exc),
                )
                if current["status"] == OPEN:
                    await uow.update_invoice(
                        inv["id"], next_attempt_at=None, last_error=f"rejected: {exc}"[:500]
                    )
                log.warning("provider rejected the invoice", extra={"invoice_id": inv["id"]})
            else:
                if not isinstance(exc, ProviderUnavailable):
                    log.exception("payment provider call failed", extra={"invoice_id": inv["id"]})
                await uow.add_attempt(
                    inv["id"],
                    attempt,
                    source,
                    "unavailable",
                    now,
                    failure_message=f"{type(exc).__name__}: {exc}",
                )
                if current["status"] != OPEN:
                    # Settled meanwhile (the webhook said paid while our call's answer was
                    # lost, say): nothing to retry.
                    await uow.commit()
                    return
                failures = current["unavailable"] + 1
                await uow.update_invoice(
                    inv["id"],
                    unavailable=failures,
                    next_attempt_at=self.policy.after_unavailable(now, failures),
                    last_error=f"provider unavailable: {exc}"[:500],
                )
            await uow.commit()

    async def _wait(self, invoice_id: str) -> None:
        async with self.uow() as uow:
            await uow.update_invoice(invoice_id, next_attempt_at=None)
            await uow.commit()

    async def _status(self, invoice_id: str) -> str:
        async with self.uow() as uow:
            return (await _invoice(uow, invoice_id))["status"]


async def _invoice(
    uow: SqlBillingUnitOfWork, invoice_id: str, *, for_update: bool = False
) -> dict[str, Any]:
    inv = await uow.get_invoice(invoice_id, for_update=for_update)
    if inv is None:
        raise UnknownInvoice(invoice_id)
    return inv


async def _mark_paid(
    uow: SqlBillingUnitOfWork,
    inv: dict[str, Any],
    provider_ref: str | None,
    amount_minor: int,
    source: str,
    attempt: int,
    now: datetime,
) -> None:
    await uow.add_attempt(
        inv["id"],
        attempt,
        source,
        "paid",
        now,
        provider_ref=provider_ref,
        amount_minor=amount_minor,
    )
    await uow.update_invoice(
        inv["id"],
        status=PAID.value,
        paid_at=now,
        amount_paid_minor=amount_minor,
        next_attempt_at=None,
        last_error=None,
    )
    uow.emit(
        InvoicePaid(
            inv["id"],
            inv["customer_id"],
            amount_minor,
            inv["currency"],
            inv["provider"] or "unknown",
            provider_ref,
            now,
        )
    )


def _to_issue(inv: dict[str, Any], lines: list[dict[str, Any]]) -> InvoiceToIssue:
    return InvoiceToIssue(
        invoice_id=inv["id"],
        currency=inv["currency"],
        lines=[
            LineToBill(
                line_id=f"{inv['id']}-{line['line_no']}",
                description=line["description"],
                amount_minor=line["amount_minor"],
                quantity_note=line["quantity_note"],
            )
            for line in lines
        ],
        tax_minor=inv["tax_minor"],
        total_minor=inv["total_minor"],
        charge_automatically=bool(inv["charge_automatically"]),
        metadata={
            k: v
            for k, v in {
                "invoice_id": inv["id"],
                "visit_id": inv["visit_id"],
                "customer_id": inv["customer_id"],
            }.items()
            if v is not None
        },
    )


def _check_currency(by_id: Mapping[str, Sequence[Tariff]], tariff: Tariff) -> None:
    others = {v[-1].currency for k, v in by_id.items() if k != tariff.id and v}
    if others and others != {tariff.currency}:
        raise Conflict(
            f"every tariff bills in one currency ({', '.join(sorted(others))}); "
            f"{tariff.currency} would mix currencies on one invoice"
        )


def _trace_lines(invoice_id: str, lines: Sequence[Line], sessions: Sequence[SessionFact]) -> None:
    """A span per charging line in the trace of its session's newest event (the close): the
    trace that began at the charger's StopTransaction ends at the line that billed it."""
    traced = {s.session_id: s.traceparent for s in sessions if s.traceparent}
    for line in lines:
        parent = tracing.extract({"traceparent": traced.get(line.session_id or "")})
        if parent is None:
            continue
        attributes = {
            "billing.invoice_id": invoice_id,
            "billing.line_kind": line.kind.value,
            "billing.amount_minor": line.amount_minor,
            "billing.session_id": line.session_id or "",
        }
        with tracing.span("billing invoice line", attributes=attributes, parent=parent):
            pass
