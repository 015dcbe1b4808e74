"""The real `stripe` SDK and StripeProvider against localstripe (customers, payment methods,
payment intents and charges), directly and through the fake Stripe server in front of it (the
fake answers the invoice calls, which localstripe has only under subscriptions, and takes
payment through localstripe's payment intents)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

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
from tests.support.localstripe import running_localstripe

API_KEY = "sk_test_localstripe"


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as url:
        yield url


@pytest.fixture
async def sdk(localstripe_url: str) -> AsyncIterator[stripe.StripeClient]:
    http = stripe.AIOHTTPClient()
    yield stripe.StripeClient(API_KEY, base_addresses={"api": localstripe_url}, http_client=http)
    await http.close_async()


@pytest.fixture
async def provider(localstripe_url: str) -> AsyncIterator[StripeProvider]:
    p = StripeProvider(API_KEY, localstripe_url)
    yield p
    await p.aclose()


async def test_customer_gets_a_card_as_default_payment_method(
    provider: StripeProvider, sdk: stripe.StripeClient
) -> None:
    payer = Payer("c-ls-1", name="Max Mustermann", email="max@example.org")
    cus_id = await provider.ensure_customer(payer)
    assert cus_id.startswith("cus_")
    customer = await sdk.v1.customers.retrieve_async(cus_id)
    assert customer.metadata.to_dict() == {"chargepark_customer_id": "c-ls-1"}
    assert (customer.name, customer.email) == ("Max Mustermann", "max@example.org")

    pm = await sdk.v1.payment_methods.attach_async("pm_card_visa", {"customer": cus_id})
    assert pm.id.startswith("pm_") and pm.customer == cus_id
    assert pm.card is not None and pm.card.last4 == "4242"
    await sdk.v1.customers.update_async(
        cus_id, {"invoice_settings": {"default_payment_method": pm.id}}
    )
    again = await sdk.v1.customers.retrieve_async(cus_id)
    assert again.invoice_settings is not None
    assert again.invoice_settings.default_payment_method == pm.id

    # The stored id is used as it is.
    assert await provider.ensure_customer(Payer("c-ls-1", provider_customer_id=cus_id)) == cus_id


async def test_decline_cards(sdk: stripe.StripeClient) -> None:
    customer = await sdk.v1.customers.create_async({"name": "Decline"})
    # A card that is declined outright cannot even be attached.
    with pytest.raises(stripe.CardError) as attach:
        await sdk.v1.payment_methods.attach_async(
            "pm_card_visa_chargeDeclined", {"customer": customer.id}
        )
    assert (attach.value.http_status, attach.value.code) == (402, "card_declined")

    # This one attaches, but charging it fails.
    failing = await sdk.v1.payment_methods.attach_async(
        "pm_card_chargeCustomerFail", {"customer": customer.id}
    )
    with pytest.raises(stripe.CardError) as charge:
        await sdk.v1.payment_intents.create_async(
            {
                "amount": 1190,
                "currency": "eur",
                "customer": customer.id,
                "payment_method": failing.id,
                "confirm": True,
                "off_session": True,
            }
        )
    assert charge.value.code == "card_declined"

    good = await sdk.v1.payment_methods.attach_async("pm_card_visa", {"customer": customer.id})
    intent = await sdk.v1.payment_intents.create_async(
        {
            "amount": 1190,
            "currency": "eur",
            "customer": customer.id,
            "payment_method": good.id,
            "confirm": True,
            "off_session": True,
        }
    )
    assert (intent.status, intent.amount, intent.currency) == ("succeeded", 1190, "eur")


async def test_unknown_invoice_is_a_rejection(provider: StripeProvider) -> None:
    with pytest.raises(ProviderRejected):
        await provider.collect("in_unknown", 1)


# --- the fake Stripe server in front of localstripe: one api_base for everything billing calls


@pytest.fixture
async def fronted(localstripe_url: str) -> AsyncIterator[FakeStripe]:
    server = await FakeStripe(
        upstream=localstripe_url,
        saved_cards={"c-good": "pm_card_visa", "c-bad": "pm_card_chargeCustomerFail"},
    ).start()
    yield server
    await server.close()


@pytest.fixture
async def fronted_provider(fronted: FakeStripe) -> AsyncIterator[StripeProvider]:
    p = StripeProvider(API_KEY, fronted.api_base)
    yield p
    await p.aclose()


def an_invoice(invoice_id: str) -> InvoiceToIssue:
    return InvoiceToIssue(
        invoice_id=invoice_id,
        currency="EUR",
        lines=[
            LineToBill(f"{invoice_id}-1", "Charging", 608),
            LineToBill(f"{invoice_id}-2", "P", 400),
        ],
        tax_minor=202,
        total_minor=1210,
        charge_automatically=True,
    )


async def test_fronted_customers_live_in_localstripe_and_pay_through_its_intents(
    fronted: FakeStripe, fronted_provider: StripeProvider, sdk: stripe.StripeClient
) -> None:
    cus_id = await fronted_provider.ensure_customer(Payer("c-good", name="Good"))
    assert await fronted_provider.ensure_customer(Payer("c-good", name="Good")) == cus_id
    # The customer is localstripe's, with the saved card as its default.
    customer = await sdk.v1.customers.retrieve_async(cus_id)
    assert customer.metadata.to_dict() == {"chargepark_customer_id": "c-good"}
    assert customer.invoice_settings is not None
    pm_id = customer.invoice_settings.default_payment_method
    assert isinstance(pm_id, str) and pm_id.startswith("pm_")

    payer = Payer("c-good", provider_customer_id=cus_id)
    issued = await fronted_provider.issue(payer, an_invoice("inv-ls-1"))
    assert fronted.invoices[issued.provider_invoice_id]["total"] == 1210
    paid = await fronted_provider.collect(issued.provider_invoice_id, 1)
    assert paid.status is PaymentStatus.PAID
    assert paid.provider_ref is not None and paid.provider_ref.startswith("pi_")
    # The payment intent and its charge are localstripe's.
    intent = await sdk.v1.payment_intents.retrieve_async(paid.provider_ref)
    assert (intent.status, intent.amount, intent.customer) == ("succeeded", 1210, cus_id)
    charges = [
        c for c in (await sdk.v1.charges.list_async({"limit": 100})).data if c.customer == cus_id
    ]
    assert [(c.status, c.amount) for c in charges] == [("succeeded", 1210)]
    # A retry with the same attempt number replays the answer: no second charge.
    again = await fronted_provider.collect(issued.provider_invoice_id, 1)
    assert again.status is PaymentStatus.PAID
    charges = [
        c for c in (await sdk.v1.charges.list_async({"limit": 100})).data if c.customer == cus_id
    ]
    assert len(charges) == 1
    assert len(fronted.succeeded_charges(issued.provider_invoice_id)) == 1


async def test_fronted_decline_comes_from_localstripe(
    fronted: FakeStripe, fronted_provider: StripeProvider, sdk: stripe.StripeClient
) -> None:
    cus_id = await fronted_provider.ensure_customer(Payer("c-bad"))
    payer = Payer("c-bad", provider_customer_id=cus_id)
    issued = await fronted_provider.issue(payer, an_invoice("inv-ls-2"))
    failed = await fronted_provider.collect(issued.provider_invoice_id, 1)
    assert failed.status is PaymentStatus.FAILED
    assert failed.failure_code == "card_declined"
    assert failed.provider_ref is not None
    intent = await sdk.v1.payment_intents.retrieve_async(failed.provider_ref)
    assert intent.status == "requires_payment_method"
    charges = [
        c for c in (await sdk.v1.charges.list_async({"limit": 100})).data if c.customer == cus_id
    ]
    assert [(c.status, c.failure_code) for c in charges] == [("failed", "card_declined")]
    assert fronted.invoices[issued.provider_invoice_id]["status"] == "open"
    # Outages and unknown ids keep their meaning in front of localstripe.
    fronted.fail_next(1, "error")
    with pytest.raises(ProviderUnavailable):
        await fronted_provider.collect(issued.provider_invoice_id, 2)
    with pytest.raises(ProviderRejected):
        await fronted_provider.collect("in_unknown", 1)
