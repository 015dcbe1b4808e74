"""InvoiceRepository: an invoice comes back whole (lines, payment log, state), a claim is
taken once, due invoices come soonest first, and a page lists by creation."""

from __future__ import annotations

from decimal import Decimal

from billing.domain.invoices import Decline, Invoice, InvoiceStatus, RetryPolicy
from billing.domain.pricing import Line, LineKind
from billing.domain.tariff import standard_tariff
from tests.conftest import T0
from tests.support.billing import at

TARIFF = standard_tariff(T0)
LINES = [
    Line(LineKind.CHARGING, "Charging", 608, "14.3 kWh", "S1"),
    Line(LineKind.PARKING, "Parking", 400),
]


async def add(units, invoice: Invoice) -> Invoice:
    async with units() as uow:
        await uow.invoices.add(invoice)
        await uow.commit()
    return invoice


async def get(units, invoice_id: str) -> Invoice:
    async with units() as uow:
        found = await uow.invoices.get(invoice_id)
    assert found is not None
    return found


async def test_an_invoice_comes_back_as_it_was_written(units):
    invoice = await add(units, Invoice.for_visit("vis_1", "c-1", LINES, TARIFF, T0))
    found = await get(units, invoice.id)
    assert found.seq is not None
    for name in ("id", "visit_id", "customer_id", "currency", "tax_percent", "status"):
        assert getattr(found, name) == getattr(invoice, name)
    assert (found.net_minor, found.tax_minor, found.total_minor) == (1008, 202, 1210)
    assert (found.next_attempt_at, found.issued_at, found.created_at) == (T0, T0, T0)
    assert found.lines == invoice.lines and found.attempts == []
    assert found.added_lines == [] and found.events == []
    assert found.tax_percent == Decimal("20")


async def test_saving_writes_the_state_the_new_lines_and_the_new_payment_records(units):
    draft = await add(units, Invoice.draft(None, LINES, "EUR", Decimal("20"), T0))
    async with units() as uow:
        invoice = await uow.invoices.get(draft.id, for_update=True)
        invoice.add_lines([Line(LineKind.ADJUSTMENT, "Credit", -8)], at(1))
        invoice.finalize(at(2))
        invoice.charge_automatically = True
        invoice.decline(Decline("card_declined", "no", "ch_1"), "collect", 1, at(3), RetryPolicy())
        invoice.unreachable("OSError: x", "x", "collect", 2, at(4), RetryPolicy())
        await uow.invoices.save(invoice)
        await uow.commit()
    found = await get(units, draft.id)
    assert [line.line_no for line in found.lines] == [1, 2, 3]
    assert found.lines[2].created_at == at(1)
    assert (found.status, found.total_minor, found.declines, found.unavailable) == (
        InvoiceStatus.OPEN,
        1200,
        1,
        1,
    )
    assert [(a.status, a.provider_ref, a.at) for a in found.attempts] == [
        ("payment_failed", "ch_1", at(3)),
        ("unavailable", None, at(4)),
    ]
    assert found.last_word_was_a_decline
    async with units() as uow:
        assert (await uow.invoices.by_provider_id("pi_nope")) is None


async def test_a_unit_of_work_without_commit_writes_nothing(units):
    invoice = Invoice.draft(None, LINES, "EUR", Decimal("20"), T0)
    async with units() as uow:
        await uow.invoices.add(invoice)
    async with units() as uow:
        assert await uow.invoices.get(invoice.id) is None


async def test_a_claim_is_taken_once_and_due_invoices_come_soonest_first(units):
    late = await add(units, Invoice.for_visit("vis_2", None, LINES, TARIFF, at(5)))
    early = await add(units, Invoice.for_visit("vis_1", None, LINES, TARIFF, at(1)))
    await add(units, Invoice.draft(None, LINES, "EUR", Decimal("20"), T0))
    async with units() as uow:
        assert await uow.invoices.due(at(10), 10) == [(early.id, at(1)), (late.id, at(5))]
        assert await uow.invoices.due(at(3), 10) == [(early.id, at(1))]
        assert await uow.invoices.claim(early.id, at(1), at(20))
        assert not await uow.invoices.claim(late.id, None, at(20))  # seen wrong
        await uow.commit()
    async with units() as uow:
        assert not await uow.invoices.claim(early.id, at(1), at(30))  # taken already
        assert await uow.invoices.due(at(10), 10) == [(late.id, at(5))]


async def test_a_page_lists_by_creation_with_its_filters(units):
    made = [
        await add(units, Invoice.for_visit(f"vis_{i}", f"c-{i % 2}", LINES, TARIFF, at(i)))
        for i in range(4)
    ]
    async with units() as uow:
        page = await uow.invoices.list(
            customer_id=None, status=None, since=None, until=None, after=0, limit=3
        )
        assert [r["id"] for r in page] == [i.id for i in made[:3]]
        rest = await uow.invoices.list(
            customer_id=None, status=None, since=None, until=None, after=page[-1]["seq"], limit=3
        )
        assert [r["id"] for r in rest] == [made[3].id]
        mine = await uow.invoices.list(
            customer_id="c-1", status="open", since=at(1), until=at(3), after=0, limit=10
        )
        assert [r["id"] for r in mine] == [made[1].id]
        assert mine[0]["created_at"] == at(1) and mine[0]["tax_percent"] == "20"
        assert "lines" not in mine[0]
