"""Billing's store on PostgreSQL: the migrations, a visit from events in a late order, invoiced
once even when two jobs race for it, and paid through the provider once."""

from __future__ import annotations

import asyncio

import pytest

from tests.unit.billing.support import a_billing, at, left, parked, session_events

pytestmark = pytest.mark.postgres


async def test_a_visit_is_invoiced_once_and_paid_once_on_postgres(postgres_db, clock):
    billing = await a_billing(postgres_db, clock)
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(left(), closed, closed, parked(), started, left())
    clock.at = at(200)
    made = await asyncio.gather(billing.service.finalize_due(), billing.service.finalize_due())
    [invoice_id] = [i for batch in made for i in batch]
    await asyncio.gather(billing.service.collect_due(), billing.service.collect_due())
    inv = await billing.service.invoice(invoice_id)
    assert (inv["status"], inv["total_minor"], inv["customer_id"]) == ("paid", 1534, "c-1")
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == [
        ("CHARGING", 608),
        ("PARKING", 400),
        ("IDLE", 270),
    ]
    assert len(await billing.outbox("InvoiceIssued")) == 1
    assert len(await billing.outbox("InvoicePaid")) == 1
    assert [c for c, _ in billing.provider.calls].count("collect") == 1
    listed = await billing.service.invoices(
        customer_id="c-1", status="paid", since=at(100), until=None, after=0, limit=5
    )
    assert [r["id"] for r in listed] == [invoice_id]
