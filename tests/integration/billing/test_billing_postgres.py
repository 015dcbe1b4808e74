"""Billing's store on PostgreSQL: the migrations, a visit from events in a late order, invoiced
once even when two jobs race for it, and paid through the provider once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from billing.adapters.sql.visits import SqlVisits
from tests.support.billing import a_billing, at, left, parked, session_events

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


async def test_a_session_invoiced_while_its_stay_arrives_is_billed_once(
    postgres_db, clock, monkeypatch
):
    """After an outage csms's events can reach billing before parking's: a closed session sits
    in a visit of its own, the job invoices that visit, and the stay it belongs to arrives in
    the same moment. The session is billed once: where the job got it first."""
    billing = await a_billing(postgres_db, clock)
    started, closed = session_events()
    await billing.deliver(started, closed)
    clock.at = at(200)
    invoiced, go_on = asyncio.Event(), asyncio.Event()
    real = SqlVisits.mark_invoiced

    async def paused(self, visit_id, invoice_id):  # the job, before its commit
        await real(self, visit_id, invoice_id)
        invoiced.set()
        await go_on.wait()

    monkeypatch.setattr(SqlVisits, "mark_invoiced", paused)
    job = asyncio.create_task(billing.service.finalize_due())
    await invoiced.wait()
    stay = asyncio.create_task(billing.deliver(parked(), left()))
    await until_a_statement_waits_for_a_lock(postgres_db)  # the stay's event meets the job
    go_on.set()
    [first] = await job
    await stay
    monkeypatch.setattr(SqlVisits, "mark_invoiced", real)
    clock.at = at(400)
    [second] = await billing.service.finalize_due()
    billed = [
        line["session_id"]
        for invoice_id in (first, second)
        for line in (await billing.service.invoice(invoice_id))["lines"]
        if line["kind"] == "CHARGING"
    ]
    assert billed == ["S1"]


async def until_a_statement_waits_for_a_lock(db, within: float = 10) -> None:
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    async with asyncio.timeout(within):
        while True:
            async with db.engine.connect() as conn:
                if await conn.scalar(query):
                    return
            await asyncio.sleep(0.02)
