"""Invoices in SQL: the invoice row, its lines and its payment log, read and written whole."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update

from billing.adapters.sql.base import SqlRepository, rowcount
from billing.adapters.sql.base import utc_or_none as _utc
from billing.domain.invoices import Attempt, Invoice, InvoiceLine, InvoiceStatus
from billing.domain.invoices.views import InvoiceSummary, summary_of
from billing.domain.pricing import LineKind
from billing.store import invoice_lines, invoices, payment_attempts
from chargepark.clock import as_utc


def _state(invoice: Invoice) -> dict[str, Any]:
    """The invoice's columns a transition may change."""
    return {
        "customer_id": invoice.customer_id,
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
        "issued_at": invoice.issued_at,
        "paid_at": invoice.paid_at,
    }


def _invoice_of(row: Any, lines: list[InvoiceLine], attempts: list[Attempt]) -> Invoice:
    return Invoice(
        id=row.id,
        seq=row.seq,
        visit_id=row.visit_id,
        customer_id=row.customer_id,
        currency=row.currency,
        tax_percent=Decimal(row.tax_percent),
        net_minor=row.net_minor,
        tax_minor=row.tax_minor,
        total_minor=row.total_minor,
        status=InvoiceStatus(row.status),
        note=row.note,
        charge_automatically=bool(row.charge_automatically),
        provider=row.provider,
        provider_customer_id=row.provider_customer_id,
        provider_invoice_id=row.provider_invoice_id,
        hosted_url=row.hosted_url,
        amount_paid_minor=row.amount_paid_minor,
        collect_attempts=row.collect_attempts,
        declines=row.declines,
        unavailable=row.unavailable,
        next_attempt_at=_utc(row.next_attempt_at),
        last_error=row.last_error,
        created_at=as_utc(row.created_at),
        issued_at=_utc(row.issued_at),
        paid_at=_utc(row.paid_at),
        lines=lines,
        attempts=attempts,
    )


class SqlInvoices(SqlRepository):
    async def get(self, invoice_id: str, *, for_update: bool = False) -> Invoice | None:
        query = select(invoices).where(invoices.c.id == invoice_id)
        if for_update:
            query = query.with_for_update()
        return await self._whole((await self.session.execute(query)).first())

    async def by_provider_id(self, provider_invoice_id: str) -> Invoice | None:
        query = select(invoices).where(invoices.c.provider_invoice_id == provider_invoice_id)
        return await self._whole((await self.session.execute(query.with_for_update())).first())

    async def _whole(self, row: Any) -> Invoice | None:
        if row is None:
            return None
        lines = await self.session.execute(
            select(invoice_lines)
            .where(invoice_lines.c.invoice_id == row.id)
            .order_by(invoice_lines.c.line_no)
        )
        attempts = await self.session.execute(
            select(payment_attempts)
            .where(payment_attempts.c.invoice_id == row.id)
            .order_by(payment_attempts.c.id)
        )
        return _invoice_of(
            row,
            [
                InvoiceLine(
                    line_no=r.line_no,
                    kind=LineKind(r.kind),
                    description=r.description,
                    amount_minor=r.amount_minor,
                    created_at=as_utc(r.created_at),
                    quantity_note=r.quantity_note,
                    session_id=r.session_id,
                )
                for r in lines
            ],
            [
                Attempt(
                    attempt=r.attempt,
                    source=r.source,
                    status=r.status,
                    at=as_utc(r.at),
                    provider_ref=r.provider_ref,
                    failure_code=r.failure_code,
                    failure_message=r.failure_message,
                    amount_minor=r.amount_minor,
                )
                for r in attempts
            ],
        )

    async def add(self, invoice: Invoice) -> None:
        row = {
            "id": invoice.id,
            "visit_id": invoice.visit_id,
            "currency": invoice.currency,
            "tax_percent": str(invoice.tax_percent),
            "created_at": invoice.created_at,
            **_state(invoice),
        }
        await self.session.execute(insert(invoices), row)
        await self._write_added(invoice)

    async def save(self, invoice: Invoice) -> None:
        await self.session.execute(
            update(invoices).where(invoices.c.id == invoice.id).values(_state(invoice))
        )
        await self._write_added(invoice)

    async def _write_added(self, invoice: Invoice) -> None:
        if invoice.added_lines:
            await self.session.execute(
                insert(invoice_lines),
                [
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
                    for line in invoice.added_lines
                ],
            )
        for a in invoice.added_attempts:  # one by one: their ids are the log's order
            await self.session.execute(
                insert(payment_attempts),
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
                },
            )
        invoice.added_lines, invoice.added_attempts = [], []

    async def claim(self, invoice_id: str, seen: datetime | None, until: datetime) -> bool:
        same = (
            invoices.c.next_attempt_at.is_(None)
            if seen is None
            else invoices.c.next_attempt_at == seen
        )
        result = await self.session.execute(
            update(invoices)
            .where(invoices.c.id == invoice_id, invoices.c.status == "open", same)
            .values(next_attempt_at=until)
        )
        return rowcount(result) == 1

    async def due(self, now: datetime, limit: int) -> list[tuple[str, datetime]]:
        rows = await self.session.execute(
            select(invoices.c.id, invoices.c.next_attempt_at)
            .where(invoices.c.status == "open", invoices.c.next_attempt_at <= now)
            .order_by(invoices.c.next_attempt_at)
            .limit(limit)
        )
        return [(r.id, as_utc(r.next_attempt_at)) for r in rows]

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
        query = select(invoices).where(invoices.c.seq > after)
        if customer_id is not None:
            query = query.where(invoices.c.customer_id == customer_id)
        if status is not None:
            query = query.where(invoices.c.status == status)
        if since is not None:
            query = query.where(invoices.c.created_at >= since)
        if until is not None:
            query = query.where(invoices.c.created_at < until)
        rows = await self.session.execute(query.order_by(invoices.c.seq).limit(limit))
        return [summary_of(_invoice_of(r, [], [])) for r in rows]
