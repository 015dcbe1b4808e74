"""Billing's use cases against the in-memory fakes: visits from events, the job's invoicing and
collection, the webhook's reports, manual invoices and tariffs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from billing.domain.invoices import NotCollectible, NotDraft, UnknownInvoice
from billing.domain.pricing import Line, LineKind
from billing.domain.tariff import UnknownTariff
from billing.payments.local import LocalProvider
from billing.services import TariffFields, UnknownProviderInvoice, UnknownVisit
from chargepark.errors import Conflict, Invalid
from tests.support.billing import ScriptedProvider, at, event, left, parked, session_events
from tests.support.fakes.billing import FakeBilling

EXAMPLE_LINES = [("CHARGING", 608), ("PARKING", 400), ("IDLE", 270)]


async def one_visit(billing, **who) -> str:
    started, closed = session_events(**who)
    await billing.deliver(parked(), started, closed, left())
    billing.clock.at = at(200)
    [invoice_id] = await billing.service.finalize_due()
    return invoice_id


async def test_a_visit_is_invoiced_once_due_in_any_order_of_its_events(billing, clock):
    started, closed = session_events()
    clock.at = at(120)
    await billing.deliver(closed, left(), started, parked(), closed)
    clock.at = at(120.5)
    assert await billing.service.finalize_due() == []  # not settled yet
    clock.at = at(121)
    [invoice_id] = await billing.service.finalize_due()
    inv = await billing.service.invoice(invoice_id)
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == EXAMPLE_LINES
    assert (inv["net_minor"], inv["tax_minor"], inv["total_minor"], inv["status"]) == (
        1278,
        256,
        1534,
        "open",
    )
    [issued] = billing.outbox("InvoiceIssued")
    assert (issued["invoice_id"], issued["total_minor"], issued["visit_id"]) == (
        invoice_id,
        1534,
        inv["visit_id"],
    )
    assert await billing.service.finalize_due() == []
    visit = await billing.service.visit(inv["visit_id"])
    assert (visit.status, visit.invoice_id) == ("invoiced", invoice_id)


async def test_a_vehicle_still_parked_is_not_invoiced(billing, clock):
    await billing.deliver(parked())
    clock.at = at(10_000)
    assert await billing.service.finalize_due() == []


async def test_who_pays_comes_from_the_session_then_the_token_then_the_vehicle(billing, clock):
    await billing.deliver(
        event(
            "VehicleLinked", customer_id="c-9", regnum="AB123", kind="CAR", fuel="EV", ts=at(-10)
        ),
        event(
            "IdTokenChanged",
            customer_id="c-7",
            id_token="RFID-7",
            type="ISO14443",
            status="Accepted",
            ts=at(-5),
        ),
    )
    invoice_id = await one_visit(billing)
    assert (await billing.service.invoice(invoice_id))["customer_id"] == "c-9"
    started, closed = session_events(session_id="S2", charger="PUB-1", id_token="RFID-7")
    await billing.deliver(started, closed)
    clock.at = at(400)
    [second] = await billing.service.finalize_due()
    assert (await billing.service.invoice(second))["customer_id"] == "c-7"


async def test_a_customer_is_charged_and_paid_once(billing, clock):
    invoice_id = await one_visit(billing, customer_id="c-1")
    assert await billing.service.collect_due() == 1
    inv = await billing.service.invoice(invoice_id)
    assert (inv["status"], inv["provider_customer_id"]) == ("paid", "cus_c-1")
    assert [c for c, _ in billing.provider.calls] == ["ensure_customer", "issue", "collect"]
    [paid] = billing.outbox("InvoicePaid")
    assert (paid["amount_minor"], paid["provider"]) == (1534, "scripted")
    await billing.service.payment_succeeded(f"pi_{invoice_id}", "ch_again", 1534)
    assert len(billing.outbox("InvoicePaid")) == 1
    assert await billing.service.collect_due() == 0


async def test_an_unreachable_provider_is_retried_later(billing, clock):
    invoice_id = await one_visit(billing, customer_id="c-1")
    billing.provider.down = True
    await billing.service.collect_due()
    inv = await billing.service.invoice(invoice_id)
    assert inv["next_attempt_at"] == clock.now() + timedelta(seconds=30)
    assert inv["unavailable"] == 1 and inv["status"] == "open"
    billing.provider.down = False
    clock.at = inv["next_attempt_at"]
    await billing.service.collect_due()
    inv = await billing.service.invoice(invoice_id)
    assert [a["status"] for a in inv["payment_attempts"]] == ["unavailable", "paid"]


async def test_declines_end_uncollectible_and_a_late_payment_still_counts(clock):
    billing = FakeBilling(clock, ScriptedProvider(declines=9), max_declines=2)
    await billing.service.ensure_default_tariff()
    invoice_id = await one_visit(billing, customer_id="c-1")
    await billing.service.collect_due()
    inv = await billing.service.invoice(invoice_id)
    assert (inv["status"], inv["declines"]) == ("open", 1)
    await billing.service.payment_failed(f"pi_{invoice_id}", "card_declined", "again")
    assert (await billing.service.invoice(invoice_id))["declines"] == 1  # the same decline
    clock.at = inv["next_attempt_at"]
    await billing.service.collect_due()
    assert (await billing.service.invoice(invoice_id))["status"] == "uncollectible"
    await billing.service.payment_succeeded(f"pi_{invoice_id}", "ch_late", 1534)
    assert (await billing.service.invoice(invoice_id))["status"] == "paid"
    with pytest.raises(UnknownProviderInvoice):
        await billing.service.payment_failed("pi_nope", None, None)


async def test_a_late_close_after_the_visit_was_invoiced_gets_an_invoice_of_its_own(billing, clock):
    started, closed = session_events()
    await billing.deliver(parked(), started, left())
    clock.at = at(200)  # the session never closed: the visit times out
    [first] = await billing.service.finalize_due()
    assert (await billing.service.invoice(first))["lines"][0]["amount_minor"] == 50
    await billing.deliver(closed, closed)
    late = [
        i
        for i in await billing.service.invoices(
            customer_id=None, status=None, since=None, until=None, after=0, limit=10
        )
        if i["id"] != first
    ]
    assert [(i["visit_id"], i["total_minor"], i["status"]) for i in late] == [(None, 670, "open")]
    assert [e["invoice_id"] for e in billing.outbox("InvoiceIssued")] == [first, late[0]["id"]]


async def test_a_manual_draft_is_edited_then_captured_and_paid_locally(clock):
    billing = FakeBilling(clock, LocalProvider())
    await billing.service.ensure_default_tariff()
    invoice_id = await billing.service.create_draft(None, [Line(LineKind.ADJUSTMENT, "A", 1000)])
    inv = await billing.service.add_lines(invoice_id, [Line(LineKind.ADJUSTMENT, "Credit", -1)])
    assert (inv["net_minor"], inv["tax_minor"], inv["total_minor"]) == (999, 200, 1199)
    assert await billing.service.capture(invoice_id) == "paid"
    assert await billing.service.capture(invoice_id) == "paid"
    with pytest.raises(NotDraft):
        await billing.service.add_lines(invoice_id, [Line(LineKind.ADJUSTMENT, "More", 1)])
    assert [e["event"] for e in billing.outbox()] == ["InvoiceIssued", "InvoicePaid"]
    void = await billing.service.create_draft("c-1")
    assert await billing.service.capture(void) == "void"
    with pytest.raises(UnknownInvoice):
        await billing.service.capture("inv_nope")


async def test_unknown_things_are_not_found(billing):
    with pytest.raises(UnknownVisit):
        await billing.service.visit("vis_nope")
    with pytest.raises(UnknownInvoice):
        await billing.service.invoice("inv_nope")
    with pytest.raises(UnknownTariff):
        await billing.service.tariff("T_NOPE")
    assert NotCollectible  # the remaining state error is the aggregate's (test_invoice)


def fields(**changes) -> TariffFields:
    base = dict(
        name="Night",
        currency="EUR",
        energy_minor_per_kwh=Decimal("30"),
        session_fee_minor=0,
        parking_minor_per_period=100,
        parking_period_minutes=60,
        parking_grace_minutes=0,
        parking_daily_cap_minor=None,
        idle_minor_per_minute=0,
        idle_after_minutes=0,
        tax_percent=Decimal("20"),
    )
    return TariffFields(**{**base, **changes})


async def test_tariffs_are_created_once_versioned_forward_and_in_one_currency(billing, clock):
    await billing.service.ensure_default_tariff()  # seeded once
    created = await billing.service.create_tariff("T_NIGHT", fields())
    assert (created.version, created.valid_from) == (1, clock.now())
    with pytest.raises(Conflict):
        await billing.service.create_tariff("T_NIGHT", fields())
    with pytest.raises(Conflict):
        await billing.service.create_tariff("T_USD", fields(currency="USD"))
    with pytest.raises(Invalid):
        await billing.service.change_tariff("T_NIGHT", fields(valid_from=at(-1)))
    changed = await billing.service.change_tariff("T_NIGHT", fields(name="Night 2"))
    assert [t.version for t in await billing.service.tariff("T_NIGHT")] == [1, 2]
    assert changed.name == "Night 2"
    assert sorted(await billing.service.tariffs()) == ["T_NIGHT", "T_STD"]
