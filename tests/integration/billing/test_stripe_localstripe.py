"""The real `stripe` SDK and StripeProvider against localstripe (customers, payment methods,
payment intents and charges). Invoices are tested against the fake Stripe server instead:
localstripe has no standalone invoices."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import stripe

from billing.payments.port import Payer, ProviderRejected
from billing.payments.stripe import StripeProvider
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
