"""StripeProvider, through the real `stripe` SDK, against the fake Stripe server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
import stripe

from billing.payments.port import (
    InvoiceToIssue,
    LineToBill,
    Payer,
    PaymentStatus,
    ProviderRejected,
    ProviderUnavailable,
)
from billing.payments.stripe import StripeProvider
from tests.support.fake_stripe import FakeStripe

API_KEY = "sk_test_chargepark"


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    server = await FakeStripe().start()
    yield server
    await server.close()


@pytest.fixture
async def provider(fake: FakeStripe) -> AsyncIterator[StripeProvider]:
    p = StripeProvider(API_KEY, fake.api_base)
    yield p
    await p.aclose()


PAYER = Payer(customer_id="c-42", name="Erika Mustermann", email="erika@example.org")


def visit_invoice(invoice_id: str = "inv-1", *, automatic: bool = True) -> InvoiceToIssue:
    lines = [
        LineToBill("l-1", "Charging", 558 + 250, "14.300 kWh x 0.39 + session fee 2.50"),
        LineToBill("l-2", "Parking", 600, "2 h, first 15 min free"),
        LineToBill("l-3", "Idle fee", 0),
    ]
    net = sum(line.amount_minor for line in lines)
    tax = 268  # 19 % of 1408, rounded half up
    return InvoiceToIssue(
        invoice_id=invoice_id,
        currency="EUR",
        lines=lines,
        tax_minor=tax,
        total_minor=net + tax,
        charge_automatically=automatic,
        metadata={"tax_label": "VAT 19%", "visit_id": "v-7"},
    )


async def test_customer_is_created_once_under_retries(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    first = await provider.ensure_customer(PAYER)
    again = await provider.ensure_customer(PAYER)  # a retry before the id was stored
    assert first == again
    assert list(fake.customers) == [first]
    created = fake.calls("POST", "/v1/customers")
    assert [c.idempotency_key for c in created] == ["customer-c-42", "customer-c-42"]
    assert [c.replayed for c in created] == [False, True]
    customer = fake.customers[first]
    assert customer["metadata"] == {"chargepark_customer_id": "c-42"}
    assert (customer["name"], customer["email"]) == (PAYER.name, PAYER.email)
    # Once stored, the id is used as it is, without asking Stripe.
    stored = Payer("c-42", provider_customer_id=first)
    assert await provider.ensure_customer(stored) == first
    assert len(fake.requests) == 2


async def test_customer_created_while_the_answer_was_lost_is_not_duplicated(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    fake.lose_next_answers(1)
    with pytest.raises(ProviderUnavailable):
        await provider.ensure_customer(PAYER)
    cus_id = await provider.ensure_customer(PAYER)
    assert list(fake.customers) == [cus_id]


async def test_anonymous_payer_gets_one_shared_customer(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    a = await provider.ensure_customer(Payer(customer_id=None))
    b = await provider.ensure_customer(Payer(customer_id=None))
    assert a == b
    assert fake.customers[a]["metadata"] == {"chargepark_customer_id": "anonymous"}


async def test_issue_and_collect_pays_the_exact_total(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    invoice = visit_invoice()
    cus_id = await provider.ensure_customer(PAYER)
    fake.give_card(cus_id, "pm_card_visa")
    payer = Payer(PAYER.customer_id, PAYER.name, PAYER.email, provider_customer_id=cus_id)

    issued = await provider.issue(payer, invoice)
    assert issued.provider == "stripe"
    assert issued.provider_customer_id == cus_id
    assert issued.status is PaymentStatus.OPEN
    assert issued.hosted_url and issued.provider_invoice_id in issued.hosted_url

    stored = fake.invoices[issued.provider_invoice_id]
    assert stored["status"] == "open"
    assert stored["currency"] == "eur"
    assert stored["collection_method"] == "charge_automatically"
    assert stored["auto_advance"] is False
    assert stored["total"] == invoice.total_minor == stored["amount_due"]
    assert stored["metadata"] == {
        "tax_label": "VAT 19%",
        "visit_id": "v-7",
        "chargepark_invoice_id": "inv-1",
    }
    lines = [(x["description"], x["amount"]) for x in stored["lines"]["data"]]
    assert lines == [
        ("Charging (14.300 kWh x 0.39 + session fee 2.50)", 808),
        ("Parking (2 h, first 15 min free)", 600),
        ("Idle fee", 0),
        ("VAT 19%", 268),
    ]
    keys = [r.idempotency_key for r in fake.requests if r.method == "POST"]
    assert keys == [
        "customer-c-42",
        "invoice-inv-1",
        "item-l-1",
        "item-l-2",
        "item-l-3",
        "item-inv-1-tax",
        "finalize-inv-1",
    ]

    attempt = await provider.collect(issued.provider_invoice_id, 1)
    assert attempt.status is PaymentStatus.PAID
    [charge] = fake.succeeded_charges(issued.provider_invoice_id)
    assert attempt.provider_ref == charge["payment_intent"]
    assert charge["amount"] == invoice.total_minor
    assert fake.invoices[issued.provider_invoice_id]["amount_paid"] == invoice.total_minor
    assert (
        fake.calls("POST", f"/v1/invoices/{issued.provider_invoice_id}/pay")[0]
        == (fake.requests[-1])
    )
    assert fake.requests[-1].idempotency_key == f"pay-{issued.provider_invoice_id}-1"


async def test_issue_retried_after_a_failure_midway_creates_nothing_twice(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    invoice = visit_invoice()
    await provider.ensure_customer(PAYER)
    fake.fail_next(1)  # the first request (the customer's, replayed) fails: nothing made
    with pytest.raises(ProviderUnavailable):
        await provider.issue(PAYER, invoice)
    assert not fake.invoices
    # Three answers are lost on the way back (the request was done at Stripe): a try ends at
    # a lost answer, unless the HTTP client retries it itself (a read on a reused keep-alive
    # connection), which the idempotency keys make harmless too.
    fake.lose_next_answers(3)
    failures = 0
    for _ in range(10):
        try:
            issued = await provider.issue(PAYER, invoice)
            break
        except ProviderUnavailable:
            failures += 1
    assert 1 <= failures <= 3
    assert list(fake.invoices) == [issued.provider_invoice_id]
    assert len(fake.invoice_items) == 4  # three lines and the tax
    assert fake.invoices[issued.provider_invoice_id]["total"] == invoice.total_minor


async def test_customer_without_payment_method_gets_a_sent_invoice(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    issued = await provider.issue(PAYER, visit_invoice(automatic=False))
    assert issued.status is PaymentStatus.OPEN
    stored = fake.invoices[issued.provider_invoice_id]
    assert stored["collection_method"] == "send_invoice"
    assert stored["due_date"] == stored["created"] + 14 * 86400
    assert stored["auto_advance"] is True
    assert issued.hosted_url == stored["hosted_invoice_url"]
    assert not fake.charges


async def test_a_known_customer_without_a_saved_card_gets_a_sent_invoice(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    """Automatic collection needs a default payment method; without one Stripe sends the
    invoice and the customer pays on its page (the issue: send_invoice for such customers)."""
    issued = await provider.issue(PAYER, visit_invoice(automatic=True))
    assert issued.charge_automatically is False
    assert fake.invoices[issued.provider_invoice_id]["collection_method"] == "send_invoice"

    carded = await provider.ensure_customer(PAYER)
    fake.give_card(carded)
    second = visit_invoice("inv-2", automatic=True)
    second = replace(second, lines=[replace(x, line_id=f"{x.line_id}b") for x in second.lines])
    issued = await provider.issue(PAYER, second)
    assert issued.charge_automatically is True
    assert fake.invoices[issued.provider_invoice_id]["collection_method"] == (
        "charge_automatically"
    )


async def test_zero_total_is_paid_at_finalization(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    free = InvoiceToIssue(
        invoice_id="inv-0",
        currency="EUR",
        lines=[LineToBill("l-0", "Parking", 0)],
        tax_minor=0,
        total_minor=0,
        charge_automatically=False,
    )
    issued = await provider.issue(PAYER, free)
    assert issued.status is PaymentStatus.PAID
    assert [e["type"] for e in fake.events] == ["invoice.finalized", "invoice.paid"]


async def test_outage_then_up_pays_once(fake: FakeStripe, provider: StripeProvider) -> None:
    cus_id = await provider.ensure_customer(PAYER)
    fake.give_card(cus_id)
    issued = await provider.issue(PAYER, visit_invoice())

    for mode in ("error", "drop", "rate_limit"):
        fake.outage = mode
        with pytest.raises(ProviderUnavailable):
            await provider.collect(issued.provider_invoice_id, 1)
    fake.outage = None
    assert fake.invoices[issued.provider_invoice_id]["status"] == "open"
    assert not fake.charges

    # Stripe charged, but the answer never arrived: the retry (same attempt, same key)
    # replays the stored answer instead of charging again.
    fake.lose_next_answers(1)
    with pytest.raises(ProviderUnavailable):
        await provider.collect(issued.provider_invoice_id, 1)
    attempt = await provider.collect(issued.provider_invoice_id, 1)
    assert attempt.status is PaymentStatus.PAID
    assert fake.requests[-1].replayed
    # A later attempt number (a new key) finds the invoice paid and says so, still no charge.
    again = await provider.collect(issued.provider_invoice_id, 2)
    assert again.status is PaymentStatus.PAID
    assert again.provider_ref == attempt.provider_ref
    [charge] = fake.succeeded_charges()
    assert charge["payment_intent"] == attempt.provider_ref


async def test_decline_is_a_failed_attempt_with_the_code(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    fake.webhook_url = None
    cus_id = await provider.ensure_customer(PAYER)
    fake.give_card(cus_id, "pm_card_chargeCustomerFail")
    issued = await provider.issue(PAYER, visit_invoice())

    attempt = await provider.collect(issued.provider_invoice_id, 1)
    assert attempt.status is PaymentStatus.FAILED
    assert attempt.failure_code == "card_declined"
    assert attempt.failure_message == "Your card was declined. (generic_decline)"
    assert attempt.provider_ref in fake.payment_intents
    # Replaying the same attempt gives the same answer; no charge succeeded.
    assert await provider.collect(issued.provider_invoice_id, 1) == attempt
    assert fake.invoices[issued.provider_invoice_id]["attempt_count"] == 1
    assert fake.invoices[issued.provider_invoice_id]["status"] == "open"
    assert not fake.succeeded_charges()
    assert fake.events[-1]["type"] == "invoice.payment_failed"

    # The customer adds a working card; the next attempt pays.
    fake.give_card(cus_id, "pm_card_visa")
    paid = await provider.collect(issued.provider_invoice_id, 2)
    assert paid.status is PaymentStatus.PAID
    assert len(fake.succeeded_charges()) == 1


async def test_paying_without_a_payment_method_is_rejected(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    issued = await provider.issue(PAYER, visit_invoice())
    with pytest.raises(ProviderRejected, match="no attached payment source"):
        await provider.collect(issued.provider_invoice_id, 1)


async def test_unknown_invoice_is_rejected_with_stripes_code(provider: StripeProvider) -> None:
    with pytest.raises(ProviderRejected) as caught:
        await provider.collect("in_doesnotexist", 1)
    assert caught.value.code == "resource_missing"


async def test_changed_invoice_under_the_same_key_is_rejected(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    await provider.issue(PAYER, visit_invoice())
    changed = visit_invoice()
    changed.metadata["visit_id"] = "v-8"
    with pytest.raises(ProviderRejected) as caught:
        await provider.issue(PAYER, changed)
    assert caught.value.code == "idempotency_error"


async def test_wrong_api_key_is_rejected(fake: FakeStripe) -> None:
    p = StripeProvider("pk_live_wrong", fake.api_base)
    try:
        with pytest.raises(ProviderRejected):
            await p.ensure_customer(PAYER)
    finally:
        await p.aclose()


async def test_unreachable_stripe_is_unavailable() -> None:
    from tests.support.procs import free_port

    p = StripeProvider(API_KEY, f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(ProviderUnavailable):
            await p.ensure_customer(PAYER)
    finally:
        await p.aclose()


async def test_sdk_retries_are_off_unless_asked(fake: FakeStripe) -> None:
    p = StripeProvider(API_KEY, fake.api_base, max_network_retries=1)
    try:
        fake.fail_next(1)
        cus_id = await p.ensure_customer(PAYER)  # the SDK retried once, with the same key
        assert [r.idempotency_key for r in fake.requests] == ["customer-c-42"] * 2
        assert list(fake.customers) == [cus_id]
    finally:
        await p.aclose()


async def test_inconsistent_invoice_is_refused_before_calling_stripe(
    fake: FakeStripe, provider: StripeProvider
) -> None:
    bad = InvoiceToIssue(
        invoice_id="inv-x",
        currency="EUR",
        lines=[LineToBill("l", "x", 100)],
        tax_minor=19,
        total_minor=120,
        charge_automatically=True,
    )
    with pytest.raises(ValueError, match="!= total"):
        await provider.issue(PAYER, bad)
    assert not fake.requests


def test_sdk_version_is_the_one_the_fake_describes() -> None:
    from tests.support.fake_stripe import API_VERSION

    assert stripe.api_version == API_VERSION
