"""Billing's use cases on SQLite, fed through its real consumer: visits from events in any order,
invoicing by the job's cycle, payment through a scripted provider, and the webhook's reports."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.domain.invoices import NotDraft
from billing.domain.visits import session_of_event, session_visit_id
from billing.payments.local import LocalProvider
from billing.payments.port import PaymentStatus, ProviderUnavailable
from billing.services import UnknownProviderInvoice, UnknownVisit
from billing.services import invoicing as service_module
from chargepark.clock import as_utc
from tests.support.billing import (
    ScriptedProvider,
    a_billing,
    at,
    event,
    left,
    parked,
    session_events,
)

EXAMPLE_LINES = [("CHARGING", 608), ("PARKING", 400), ("IDLE", 270)]


@pytest.fixture
async def billing(sqlite_db, clock):
    return await a_billing(sqlite_db, clock)


async def invoice_of(billing, visit_id):
    visit = await billing.service.visit(visit_id)
    return await billing.service.invoice(visit.invoice_id)


async def test_the_example_visit_is_invoiced_once_due_with_the_tariffs_lines(billing, clock):
    started, closed = session_events()
    clock.at = at(120)  # the events reach billing as the vehicle leaves
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(120.5)  # not yet settled: a late event may still come
    assert await billing.service.finalize_due() == []
    clock.at = at(121)
    [invoice_id] = await billing.service.finalize_due()
    inv = await billing.service.invoice(invoice_id)
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == EXAMPLE_LINES
    assert (inv["net_minor"], inv["tax_minor"], inv["total_minor"]) == (1278, 256, 1534)
    assert inv["status"] == "open" and inv["customer_id"] is None
    [issued] = await billing.outbox("InvoiceIssued")
    assert (issued["total_minor"], issued["tax_minor"], issued["currency"]) == (1534, 256, "EUR")
    assert await billing.service.finalize_due() == []  # once


async def test_a_late_close_after_the_leave_still_joins_the_visit(billing, clock):
    started, closed = session_events()
    await billing.deliver(left(), started, parked())
    clock.at = at(50)  # settled, but the session is open: not complete, not timed out
    assert await billing.service.finalize_due() == []
    await billing.deliver(closed, closed, parked())
    clock.at = at(52)
    [invoice_id] = await billing.service.finalize_due()
    inv = await billing.service.invoice(invoice_id)
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == EXAMPLE_LINES


async def test_a_session_whose_start_never_arrives_is_billed_from_its_close(billing, clock):
    _, closed = session_events()
    await billing.deliver(closed, parked(), left())
    clock.at = at(200)
    [invoice_id] = await billing.service.finalize_due()
    assert (await billing.service.invoice(invoice_id))["total_minor"] == 1534


async def test_a_session_without_a_stay_is_a_visit_of_its_own(billing, clock):
    started, closed = session_events(charger="PUB-1", id_token="RFID-1")
    await billing.deliver(
        event(
            "IdTokenChanged",
            customer_id="c-1",
            id_token="RFID-1",
            type="ISO14443",
            status="Accepted",
            ts=at(-60),
        ),
        started,
        closed,
    )
    clock.at = at(40)
    [invoice_id] = await billing.service.finalize_due()
    inv = await billing.service.invoice(invoice_id)
    assert inv["customer_id"] == "c-1"
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == [("CHARGING", 608)]
    assert inv["total_minor"] == 608 + 122  # 20 % of 608 = 121.6 -> 122


async def test_a_session_moves_from_its_own_visit_to_the_stay_that_arrives_later(billing, clock):
    started, closed = session_events()
    await billing.deliver(started, closed)
    await billing.deliver(parked())  # the park event was late
    await billing.deliver(left())
    clock.at = at(200)
    invoices = await billing.service.finalize_due()
    assert len(invoices) == 1
    inv = await billing.service.invoice(invoices[0])
    assert inv["total_minor"] == 1534


async def test_parking_only_within_the_grace_is_void_and_after_it_is_billed(billing, clock):
    await billing.deliver(parked("FREE1", 0, bay=None), left("FREE1", 0, 10, bay=None))
    await billing.deliver(parked("PAY1", 0, bay=None), left("PAY1", 0, 16, bay=None))
    clock.at = at(100)
    made = [await billing.service.invoice(i) for i in await billing.service.finalize_due()]
    by_total = sorted((i["total_minor"], i["status"]) for i in made)
    assert by_total == [(0, "void"), (120, "open")]  # 2 x 50 + 20 % tax
    assert len(await billing.outbox("InvoiceIssued")) == 1


async def test_a_vehicle_still_parked_is_never_invoiced(billing, clock):
    await billing.deliver(parked())
    clock.at = at(60 * 24 * 5)
    assert await billing.service.finalize_due() == []


async def test_a_session_that_never_closes_is_billed_after_the_timeout(billing, clock):
    started, _ = session_events(charger="PUB-2")
    await billing.deliver(started)
    clock.at = at(30)
    assert await billing.service.finalize_due() == []
    clock.at = at(5 + 61)  # timeout 3600 s after the last change
    [invoice_id] = await billing.service.finalize_due()
    inv = await billing.service.invoice(invoice_id)
    assert inv["lines"][0]["amount_minor"] == 50  # the session fee, 0 kWh known
    assert "not closed" in inv["lines"][0]["description"]


async def test_a_session_closed_after_its_visit_was_invoiced_is_billed_its_energy_once(
    billing, clock
):
    started, closed = session_events(charger="PUB-2", customer_id="c-7")
    await billing.deliver(started)
    clock.at = at(5 + 61)  # the timeout: invoiced open, session fee only
    [first] = await billing.service.finalize_due()
    clock.at = at(5 + 70)
    await billing.deliver(closed)  # 14.3 kWh, closed after that
    late = [i for i in await all_invoices(billing) if i["id"] != first]
    assert [(i["customer_id"], i["net_minor"], i["tax_minor"], i["total_minor"]) for i in late] == [
        ("c-7", 558, 112, 670)  # 14.3 kWh x 39, no second session fee; 20 % tax
    ]
    [line] = (await billing.service.invoice(late[0]["id"]))["lines"]
    assert line["session_id"] == "S1" and f"closed after invoice {first}" in line["description"]
    issued = await billing.outbox("InvoiceIssued")
    assert [e["invoice_id"] for e in issued] == [first, late[0]["id"]]

    _, again = session_events(charger="PUB-2", customer_id="c-7")  # the close, once more
    await billing.deliver(again)
    assert len(await all_invoices(billing)) == 2
    assert len(await billing.outbox("InvoiceIssued")) == 2


async def all_invoices(billing) -> list[dict]:
    return await billing.service.invoices(
        customer_id=None, status=None, since=None, until=None, after=0, limit=100
    )


async def test_customers_are_resolved_by_regnum_through_the_projection(billing, clock):
    await billing.deliver(
        event("CustomerCreated", customer_id="c-9", ts=at(-100)),
        event(
            "VehicleLinked", customer_id="c-9", regnum="AB123", kind="CAR", fuel="EV", ts=at(-90)
        ),
        parked(bay=None),
        left(bay=None),
    )
    clock.at = at(200)
    [invoice_id] = await billing.service.finalize_due()
    assert (await billing.service.invoice(invoice_id))["customer_id"] == "c-9"


async def test_an_older_link_does_not_undo_a_newer_unlink(billing, clock):
    await billing.deliver(
        event("VehicleUnlinked", customer_id="c-9", regnum="AB123", ts=at(-10)),
        event(
            "VehicleLinked", customer_id="c-9", regnum="AB123", kind="CAR", fuel="EV", ts=at(-90)
        ),
        parked(bay=None),
        left(bay=None),
    )
    clock.at = at(200)
    [invoice_id] = await billing.service.finalize_due()
    assert (await billing.service.invoice(invoice_id))["customer_id"] is None


async def test_the_job_issues_and_collects_a_customers_invoice(billing, clock):
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [invoice_id] = [
        i["id"]
        for i in await billing.service.invoices(
            customer_id="c-1", status=None, since=None, until=None, after=0, limit=10
        )
    ]
    inv = await billing.service.invoice(invoice_id)
    assert inv["status"] == "paid" and inv["provider_invoice_id"] == f"pi_{invoice_id}"
    assert inv["provider_customer_id"] == "cus_c-1"
    [paid] = await billing.outbox("InvoicePaid")
    assert (paid["amount_minor"], paid["provider"], paid["customer_id"]) == (
        1534,
        "scripted",
        "c-1",
    )
    assert [c for c, _ in billing.provider.calls] == ["ensure_customer", "issue", "collect"]


async def test_provider_down_keeps_the_invoice_open_and_retries_with_backoff(billing, clock):
    billing.provider.down = True
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [row] = await billing.service.invoices(
        customer_id="c-1", status="open", since=None, until=None, after=0, limit=10
    )
    inv = await billing.service.invoice(row["id"])
    assert inv["next_attempt_at"] == at(200.5) and inv["last_error"].startswith(
        "provider unavailable"
    )
    clock.at = at(200.4)
    assert await billing.service.collect_due() == 0  # not yet
    clock.at = at(200.5)
    await billing.service.collect_due()  # down again: 60 s now
    assert (await billing.service.invoice(row["id"]))["next_attempt_at"] == at(201.5)
    billing.provider.down = False
    clock.at = at(202)
    await billing.service.collect_due()
    inv = await billing.service.invoice(row["id"])
    assert inv["status"] == "paid"
    assert [a["status"] for a in inv["payment_attempts"]] == ["unavailable", "unavailable", "paid"]
    assert len(await billing.outbox("InvoicePaid")) == 1
    assert [c for c, _ in billing.provider.calls].count("collect") == 1


async def test_the_retry_policy_is_the_operators(sqlite_db, clock):
    billing = await a_billing(
        sqlite_db,
        clock,
        max_declines=2,
        decline_retry_sec=600,
        unavailable_max_backoff_sec=45,
    )
    billing.provider.down = True
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()  # unreachable: 30 s
    for _ in range(3):  # then 45 s, not 60, 120
        [row] = await all_invoices(billing)
        clock.at = as_utc(row["next_attempt_at"])
        await billing.service.collect_due()
    [row] = await all_invoices(billing)
    assert row["unavailable"] == 4
    assert as_utc(row["next_attempt_at"]) - clock.at == timedelta(seconds=45)

    billing.provider.down, billing.provider.declines = False, 5
    clock.at = as_utc(row["next_attempt_at"])
    await billing.service.collect_due()  # declined: again in 10 min
    inv = await billing.service.invoice(row["id"])
    assert (inv["status"], inv["declines"]) == ("open", 1)
    assert as_utc(inv["next_attempt_at"]) - clock.at == timedelta(minutes=10)
    clock.at += timedelta(minutes=10)
    await billing.service.collect_due()  # the second decline is the last
    assert (await billing.service.invoice(row["id"]))["status"] == "uncollectible"


async def test_declines_are_retried_then_the_invoice_is_uncollectible(billing, clock):
    billing.provider.declines = 5
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [row] = await billing.service.invoices(
        customer_id="c-1", status=None, since=None, until=None, after=0, limit=10
    )
    for hour in (1, 2):
        clock.at = at(200 + 60 * hour)
        await billing.service.collect_due()
    inv = await billing.service.invoice(row["id"])
    assert inv["status"] == "uncollectible" and inv["declines"] == 3
    assert [(a["attempt"], a["failure_code"]) for a in inv["payment_attempts"]] == [
        (1, "card_declined"),
        (2, "card_declined"),
        (3, "card_declined"),
    ]
    # The customer pays later through the provider: the webhook makes it paid, once.
    await billing.service.payment_succeeded(inv["provider_invoice_id"], "ch_late", 1534)
    await billing.service.payment_succeeded(inv["provider_invoice_id"], "ch_late", 1534)
    assert (await billing.service.invoice(row["id"]))["status"] == "paid"
    assert len(await billing.outbox("InvoicePaid")) == 1


async def test_a_webhook_failure_already_seen_by_the_collection_is_not_counted_twice(
    billing, clock
):
    billing.provider.declines = 1
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [row] = await billing.service.invoices(
        customer_id="c-1", status=None, since=None, until=None, after=0, limit=10
    )
    pid = f"pi_{row['id']}"
    await billing.service.payment_failed(pid, "card_declined", "declined")
    await billing.service.payment_failed(pid, "card_declined", "declined")
    assert (await billing.service.invoice(row["id"]))["declines"] == 1
    with pytest.raises(UnknownProviderInvoice):
        await billing.service.payment_failed("pi_nope", None, None)


async def test_the_anonymous_account_pays_at_the_exit_by_capture(sqlite_db, clock):
    billing = await a_billing(sqlite_db, clock, LocalProvider())
    await billing.deliver(parked(bay=None), left(bay=None))
    clock.at = at(200)
    await billing.service.run_cycle()
    [row] = await billing.service.invoices(
        customer_id=None, status="open", since=None, until=None, after=0, limit=10
    )
    inv = await billing.service.invoice(row["id"])
    assert inv["provider"] == "local" and "not sent to Stripe" in inv["note"]
    assert inv["next_attempt_at"] is None  # waits for the driver
    assert await billing.service.capture(row["id"]) == "paid"
    assert await billing.service.capture(row["id"]) == "paid"
    assert len(await billing.outbox("InvoicePaid")) == 1


async def test_a_local_customer_invoice_is_paid_when_issued(sqlite_db, clock):
    billing = await a_billing(sqlite_db, clock, LocalProvider())
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [paid] = await billing.outbox("InvoicePaid")
    assert (paid["provider"], paid["amount_minor"]) == ("local", 1534)


async def test_manual_drafts_take_lines_until_captured(billing, clock):
    from billing.domain.pricing import Line, LineKind

    invoice_id = await billing.service.create_draft(
        "c-2", [Line(LineKind.ADJUSTMENT, "Card", 1000)]
    )
    inv = await billing.service.add_lines(invoice_id, [Line(LineKind.ADJUSTMENT, "Credit", -1)])
    assert (inv["net_minor"], inv["tax_minor"], inv["total_minor"]) == (999, 200, 1199)
    assert await billing.service.capture(invoice_id) == "paid"
    with pytest.raises(NotDraft):
        await billing.service.add_lines(invoice_id, [Line(LineKind.ADJUSTMENT, "More", 1)])
    [issued] = await billing.outbox("InvoiceIssued")
    assert issued["visit_id"] is None and issued["total_minor"] == 1199


async def test_an_issue_that_pays_at_once_records_the_payment(sqlite_db, clock):
    billing = await a_billing(sqlite_db, clock, ScriptedProvider(issue_status=PaymentStatus.PAID))
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    assert [c for c, _ in billing.provider.calls] == ["ensure_customer", "issue"]
    assert len(await billing.outbox("InvoicePaid")) == 1


async def test_a_webhook_failure_that_overtakes_the_collections_answer_is_counted_once(
    billing, clock
):
    # Stripe sends invoice.payment_failed while the pay request is still being answered: the
    # webhook's report reaches billing first, then the collection's own FAILED answer. One
    # decline, not two (else the invoice would be uncollectible after fewer real declines).
    provider: ScriptedProvider = billing.provider
    provider.declines = 1
    plain_collect = provider.collect

    async def collect_overtaken(provider_invoice_id: str, attempt: int):
        await billing.service.payment_failed(provider_invoice_id, None, None)
        return await plain_collect(provider_invoice_id, attempt)

    provider.collect = collect_overtaken  # type: ignore[method-assign]
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [row] = await billing.service.invoices(
        customer_id="c-1", status=None, since=None, until=None, after=0, limit=10
    )
    inv = await billing.service.invoice(row["id"])
    assert (inv["status"], inv["declines"]) == ("open", 1)
    assert inv["next_attempt_at"] == at(260)
    assert inv["last_error"] == "declined: card_declined"
    assert [(a["source"], a["status"]) for a in inv["payment_attempts"]] == [
        ("webhook", "payment_failed"),
        ("collect", "payment_failed"),
    ]


async def test_a_lost_collect_answer_after_the_webhook_said_paid_leaves_the_invoice_paid(
    billing, clock
):
    # The payment went through, the webhook reported it, and only then did the pay request's
    # connection break: the invoice stays paid, with no retry scheduled and no error shown.
    provider: ScriptedProvider = billing.provider

    async def paid_then_lost(provider_invoice_id: str, attempt: int):
        await billing.service.payment_succeeded(provider_invoice_id, "pi_1", 1534)
        raise ProviderUnavailable("connection reset")

    provider.collect = paid_then_lost  # type: ignore[method-assign]
    started, closed = session_events(customer_id="c-1")
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    await billing.service.run_cycle()
    [row] = await billing.service.invoices(
        customer_id="c-1", status=None, since=None, until=None, after=0, limit=10
    )
    inv = await billing.service.invoice(row["id"])
    assert (inv["status"], inv["next_attempt_at"], inv["last_error"]) == ("paid", None, None)
    assert inv["unavailable"] == 0
    assert [(a["source"], a["status"]) for a in inv["payment_attempts"]] == [
        ("webhook", "paid"),
        ("collect", "unavailable"),
    ]
    assert len(await billing.outbox("InvoicePaid")) == 1


async def test_an_empty_session_visit_is_dropped_and_the_other_visits_are_invoiced(billing, clock):
    # A session's own visit left behind without its session (the session moved to its stay
    # while another event about it was applied; seen after a NATS outage's burst).
    _, gone = session_events(session_id="S-GONE", charger="PUB-9")
    async with billing.service.uow() as uow:
        await uow.visits.ensure_session_visit(
            session_visit_id("S-GONE"), session_of_event(gone), clock.now()
        )
        await uow.commit()
    started, closed = session_events()
    await billing.deliver(parked(), started, closed, left())
    clock.at = at(200)
    [invoice_id] = await billing.service.finalize_due()
    assert (await billing.service.invoice(invoice_id))["total_minor"] == 1534
    with pytest.raises(UnknownVisit):
        await billing.service.visit(session_visit_id("S-GONE"))
    assert await billing.service.finalize_due() == []


async def test_a_visit_that_fails_to_price_does_not_hold_back_the_others(
    billing, clock, monkeypatch, caplog
):
    await billing.deliver(parked("AB123", bay=None), left("AB123", bay=None))
    await billing.deliver(parked("CD456", bay=None), left("CD456", bay=None))
    real = service_module.price_visit

    def fails_for_ab123(visit, tariff_for):
        if visit.stay is not None and visit.stay.key.regnum == "AB123":
            raise RuntimeError("a bug in pricing")
        return real(visit, tariff_for)

    monkeypatch.setattr(service_module, "price_visit", fails_for_ab123)
    clock.at = at(200)
    [invoice_id] = await billing.service.finalize_due()
    inv = await billing.service.invoice(invoice_id)
    assert (await billing.service.visit(inv["visit_id"])).visit.stay.key.regnum == "CD456"
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == ["visit not invoiced"]
    monkeypatch.setattr(service_module, "price_visit", real)
    assert len(await billing.service.finalize_due()) == 1  # tried again next cycle
