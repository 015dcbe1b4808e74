"""`POST /stripe/webhook` on a small app with the kernel's problem and auth middlewares, fed by
the fake Stripe server's signed events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing.api.webhook import PAYMENT_EVENTS, WEBHOOK_SECRET, routes, webhook_routes
from billing.payments.port import InvoiceToIssue, LineToBill, Payer, PaymentStatus
from billing.payments.stripe import StripeProvider
from chargepark.auth import auth_middleware
from chargepark.http.problem import problem_middleware
from tests.support.fake_stripe import FakeStripe, sign

SECRET = "whsec_route_test"


class RecordingService:
    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    async def payment_succeeded(
        self, provider_invoice_id: str, provider_ref: str | None, amount_minor: int
    ) -> None:
        self.calls.append(("succeeded", (provider_invoice_id, provider_ref, amount_minor)))

    async def payment_failed(
        self, provider_invoice_id: str, failure_code: str | None, failure_message: str | None
    ) -> None:
        self.calls.append(("failed", (provider_invoice_id, failure_code, failure_message)))


def build_app(service: RecordingService, table: web.RouteTableDef = routes) -> web.Application:
    # No token verifier at all: any route not marked public would answer 401.
    app = web.Application(middlewares=[problem_middleware, auth_middleware(None)])
    app.add_routes(table)
    app[PAYMENT_EVENTS] = service
    app[WEBHOOK_SECRET] = SECRET
    return app


@pytest.fixture
def service() -> RecordingService:
    return RecordingService()


@pytest.fixture
async def client(aiohttp_client: Any, service: RecordingService) -> TestClient:
    return await aiohttp_client(build_app(service))


@pytest.fixture
async def fake(client: TestClient) -> AsyncIterator[FakeStripe]:
    server = await FakeStripe(
        webhook_url=str(client.make_url("/stripe/webhook")), webhook_secret=SECRET
    ).start()
    yield server
    await server.close()


@pytest.fixture
async def provider(fake: FakeStripe) -> AsyncIterator[StripeProvider]:
    p = StripeProvider("sk_test_route", fake.api_base)
    yield p
    await p.aclose()


INVOICE = InvoiceToIssue(
    invoice_id="inv-9",
    currency="EUR",
    lines=[LineToBill("l-9", "Charging", 1000)],
    tax_minor=190,
    total_minor=1190,
    charge_automatically=True,
)


async def test_paid_event_from_stripe_reaches_the_service_once(
    fake: FakeStripe, provider: StripeProvider, service: RecordingService
) -> None:
    cus_id = await provider.ensure_customer(Payer("c-1"))
    fake.give_card(cus_id)
    issued = await provider.issue(Payer("c-1", provider_customer_id=cus_id), INVOICE)
    attempt = await provider.collect(issued.provider_invoice_id, 1)
    assert attempt.status is PaymentStatus.PAID
    await fake.webhooks_sent()

    assert sorted((d.type, d.status) for d in fake.deliveries) == [
        ("invoice.finalized", 200),
        ("invoice.paid", 200),
    ]
    # The invoice inside a current-version event names no payment intent (see the module
    # doc of billing.payments.stripe_webhook): the ref comes from collect().
    assert service.calls == [("succeeded", (issued.provider_invoice_id, None, 1190))]


async def test_payment_failed_event_reaches_the_service(
    fake: FakeStripe, provider: StripeProvider, service: RecordingService
) -> None:
    cus_id = await provider.ensure_customer(Payer("c-2"))
    fake.give_card(cus_id, "pm_card_chargeCustomerFail")
    issued = await provider.issue(Payer("c-2", provider_customer_id=cus_id), INVOICE)
    attempt = await provider.collect(issued.provider_invoice_id, 1)
    assert attempt.status is PaymentStatus.FAILED
    await fake.webhooks_sent()
    assert service.calls == [("failed", (issued.provider_invoice_id, None, None))]


async def test_other_events_are_acknowledged_and_ignored(
    client: TestClient, fake: FakeStripe, service: RecordingService
) -> None:
    body, signature = fake.signed_event(
        {"id": "evt_x", "object": "event", "type": "customer.created", "data": {"object": {}}}
    )
    r = await client.post("/stripe/webhook", data=body, headers={"Stripe-Signature": signature})
    assert r.status == 200
    assert await r.json() == {
        "received": True,
        "event_id": "evt_x",
        "type": "customer.created",
        "handled": False,
    }
    assert service.calls == []


def paid_event() -> str:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "type": "invoice.paid",
            "data": {"object": {"id": "in_1", "object": "invoice", "amount_paid": 5}},
        }
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Stripe-Signature": "t=1,v1=deadbeef"},
        {"Stripe-Signature": sign(paid_event(), "whsec_someone_else")},
        {"Stripe-Signature": sign(paid_event(), SECRET, timestamp=1_000_000_000)},
    ],
    ids=["missing", "garbage", "other-secret", "stale"],
)
async def test_bad_signature_is_400_problem_and_changes_nothing(
    client: TestClient, service: RecordingService, headers: dict[str, str]
) -> None:
    r = await client.post("/stripe/webhook", data=paid_event(), headers=headers)
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    doc = await r.json()
    assert doc["status"] == 400
    assert doc["type"] == "urn:chargepark:problem:invalid-webhook"
    assert service.calls == []


async def test_good_signature_over_a_different_body_is_refused(
    client: TestClient, service: RecordingService
) -> None:
    signature = sign(paid_event(), SECRET)
    tampered = paid_event().replace('"amount_paid": 5', '"amount_paid": 500')
    r = await client.post("/stripe/webhook", data=tampered, headers={"Stripe-Signature": signature})
    assert r.status == 400
    assert service.calls == []


async def test_a_good_signature_is_accepted_without_a_bearer_token(
    client: TestClient, service: RecordingService
) -> None:
    body = paid_event()
    r = await client.post(
        "/stripe/webhook", data=body, headers={"Stripe-Signature": sign(body, SECRET)}
    )
    assert r.status == 200
    assert service.calls == [("succeeded", ("in_1", None, 5))]


async def test_without_a_configured_secret_the_endpoint_is_404(
    aiohttp_client: Any, service: RecordingService
) -> None:
    app = build_app(service, webhook_routes(get_secret=lambda _request: None))
    client = await aiohttp_client(app)
    body = paid_event()
    r = await client.post(
        "/stripe/webhook", data=body, headers={"Stripe-Signature": sign(body, SECRET)}
    )
    assert r.status == 404
    assert r.content_type == "application/problem+json"
    assert service.calls == []


async def test_a_failing_service_makes_stripe_retry(aiohttp_client: Any) -> None:
    class Down(RecordingService):
        async def payment_succeeded(self, *args: Any) -> None:
            raise RuntimeError("database down")

    client = await aiohttp_client(build_app(Down()))
    body = paid_event()
    r = await client.post(
        "/stripe/webhook", data=body, headers={"Stripe-Signature": sign(body, SECRET)}
    )
    assert r.status == 500  # not 2xx: Stripe delivers the event again later
