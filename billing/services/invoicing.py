"""Invoicing: the billing job's visits become invoices; manual drafts (the seed API) get lines
and are finalized; and what GET /invoices and GET /visits read.

Visits are invoiced by the billing job (see billing.worker), never on a request's path: the job
finds visits that are due and prices each in one unit of work (the invoice and its lines, the
visit marked invoiced, InvoiceIssued into the outbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

from billing.domain.invoices import Invoice, UnknownInvoice
from billing.domain.invoices.views import InvoiceSummary, InvoiceView, view_of
from billing.domain.pricing import Line
from billing.domain.tariff import tariff_chooser
from billing.domain.visits import SessionFact, is_due, price_visit
from billing.ports import OPEN, BillingUnitOfWork, StoredVisit
from billing.services.visits import customer_of
from billing.settings import BillingSettings
from chargepark import tracing
from chargepark.clock import Clock
from chargepark.errors import NotFound

log = logging.getLogger(__name__)

BATCH = 100


class UnknownVisit(NotFound):
    def __init__(self, visit_id: str) -> None:
        super().__init__(f"no visit {visit_id!r}")


class Invoicing:
    def __init__(
        self, uow: Callable[[], BillingUnitOfWork], clock: Clock, settings: BillingSettings
    ) -> None:
        self.uow = uow
        self.clock = clock
        self.settings = settings

    # --- the billing job ------------------------------------------------------------------

    async def finalize_due(self, limit: int = BATCH) -> list[str]:
        """Invoice the visits that are due; returns the invoices made."""
        now = self.clock.now()
        async with self.uow() as uow:
            candidates = await uow.visits.due(
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
            stored = await uow.visits.get(visit_id, for_update=True)
            if stored is None or stored.status != OPEN:
                return None
            if not (force or self._due(stored)):
                return None
            if stored.visit.stay is None and not stored.visit.sessions:
                # A session's own visit whose session moved to a stay (events racing after an
                # outage can leave it behind): nothing to bill, and nothing will join it that
                # would not make it again.
                await uow.visits.drop_empty_session_visits([visit_id])
                await uow.commit()
                log.info("empty visit dropped", extra={"visit_id": visit_id})
                return None
            lines, primary = price_visit(stored.visit, tariff_chooser(await uow.tariffs.all()))
            customer_id = await customer_of(uow, stored.visit)
            invoice = Invoice.for_visit(visit_id, customer_id, lines, primary, now)
            await uow.invoices.add(invoice)
            await uow.visits.mark_invoiced(visit_id, invoice.id)
            for event in invoice.pull_events():
                uow.emit(event)
            await uow.commit()
        log.info(
            "visit invoiced",
            extra={"visit_id": visit_id, "invoice_id": invoice.id, "total": invoice.total_minor},
        )
        if tracing.enabled:
            _trace_lines(invoice.id, lines, stored.visit.sessions)
        return invoice.id

    def _due(self, stored: StoredVisit) -> bool:
        return is_due(
            stored.visit,
            stored.changed_at,
            self.clock.now(),
            self.settings.settle_sec,
            self.settings.visit_timeout_sec,
        )

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
            default = tariff_chooser(await uow.tariffs.all())(None, now)
            rate = default.tax_percent if tax_percent is None else tax_percent
            invoice = Invoice.draft(customer_id, lines, currency or default.currency, rate, now)
            await uow.invoices.add(invoice)
            await uow.commit()
        return invoice.id

    async def add_lines(self, invoice_id: str, lines: Sequence[Line]) -> InvoiceView:
        now = self.clock.now()
        async with self.uow() as uow:
            invoice = await invoice_of(uow, invoice_id, for_update=True)
            invoice.add_lines(lines, now)
            await uow.invoices.save(invoice)
            await uow.commit()
        return await self.invoice(invoice_id)

    # --- reading --------------------------------------------------------------------------

    async def invoice(self, invoice_id: str) -> InvoiceView:
        """The invoice as GET /invoices/{id} shows it."""
        async with self.uow() as uow:
            return view_of(await invoice_of(uow, invoice_id))

    async def invoices(self, **where: Any) -> list[InvoiceSummary]:
        async with self.uow() as uow:
            return await uow.invoices.list(**where)

    async def visit(self, visit_id: str) -> StoredVisit:
        async with self.uow() as uow:
            stored = await uow.visits.get(visit_id)
        if stored is None:
            raise UnknownVisit(visit_id)
        return stored


async def invoice_of(
    uow: BillingUnitOfWork, invoice_id: str, *, for_update: bool = False
) -> Invoice:
    invoice = await uow.invoices.get(invoice_id, for_update=for_update)
    if invoice is None:
        raise UnknownInvoice(invoice_id)
    return invoice


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
