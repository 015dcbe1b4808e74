"""The fake Stripe server itself, over raw HTTP: the parts of Stripe's documented behaviour that
the provider's tests lean on (form encoding, error objects, idempotent replay, signed events)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest
import stripe

from tests.support.fake_stripe import FakeStripe

AUTH = {"Authorization": "Bearer sk_test_raw"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeStripe]:
    server = await FakeStripe(webhook_secret="whsec_raw").start()
    yield server
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(
    http: aiohttp.ClientSession, fake: FakeStripe, path: str, data: str, key: str | None = None
) -> tuple[int, dict, Mapping[str, str]]:
    headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    if key:
        headers["Idempotency-Key"] = key
    async with http.post(fake.api_base + path, data=data, headers=headers) as r:
        return r.status, await r.json(), r.headers


async def test_nested_form_keys_and_replay(fake: FakeStripe, http: aiohttp.ClientSession) -> None:
    body = "name=A&metadata[k]=v&invoice_settings[footer]="
    status, first, headers = await post(http, fake, "/v1/customers", body, key="k1")
    assert status == 200
    assert first["object"] == "customer" and first["id"].startswith("cus_")
    assert first["metadata"] == {"k": "v"}
    assert "Idempotent-Replayed" not in headers

    status, again, headers = await post(http, fake, "/v1/customers", body, key="k1")
    assert (status, again) == (200, first)
    assert headers["Idempotent-Replayed"] == "true"
    assert len(fake.customers) == 1

    status, error, _ = await post(http, fake, "/v1/customers", "name=B", key="k1")
    assert status == 400
    assert error["error"]["type"] == "idempotency_error"
    status, error, _ = await post(http, fake, "/v1/invoiceitems", body, key="k1")
    assert status == 400 and "same endpoint" in error["error"]["message"]


async def test_error_objects(fake: FakeStripe, http: aiohttp.ClientSession) -> None:
    status, error, _ = await post(http, fake, "/v1/customers", "colour=red", key="k2")
    assert status == 400
    assert error["error"] == {
        "type": "invalid_request_error",
        "message": "Received unknown parameter: colour",
        "code": "parameter_unknown",
        "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
        "param": "colour",
    }
    # a refusal before the endpoint ran is not kept: the key is still free
    status, _, _ = await post(http, fake, "/v1/customers", "name=C", key="k2")
    assert status == 200

    async with http.get(fake.api_base + "/v1/invoices/in_nope", headers=AUTH) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "resource_missing"
    async with http.get(fake.api_base + "/v1/invoices/in_nope") as r:
        assert r.status == 401

    status, error, _ = await post(http, fake, "/v1/invoiceitems", "customer=cus_x", key="k3")
    assert status == 400 and error["error"]["code"] == "parameter_missing"


async def test_payments_is_includable(fake: FakeStripe, http: aiohttp.ClientSession) -> None:
    _, cus, _ = await post(http, fake, "/v1/customers", "name=D", key="c")
    fake.give_card(cus["id"])
    _, inv, _ = await post(http, fake, "/v1/invoices", f"customer={cus['id']}", key="i")
    assert inv["status"] == "draft" and "payments" not in inv
    await post(
        http, fake, "/v1/invoiceitems", f"customer={cus['id']}&invoice={inv['id']}&amount=99", "ii"
    )
    _, final, _ = await post(http, fake, f"/v1/invoices/{inv['id']}/finalize", "", key="f")
    assert (final["status"], final["total"], final["currency"]) == ("open", 99, "eur")
    _, paid, _ = await post(http, fake, f"/v1/invoices/{inv['id']}/pay", "expand[0]=payments", "p")
    assert paid["status"] == "paid" and paid["amount_paid"] == 99
    [payment] = paid["payments"]["data"]
    assert payment["object"] == "invoice_payment"
    assert payment["payment"]["payment_intent"].startswith("pi_")
    async with http.get(fake.api_base + f"/v1/invoices/{inv['id']}", headers=AUTH) as r:
        assert "payments" not in await r.json()

    status, error, _ = await post(http, fake, f"/v1/invoices/{inv['id']}/pay", "", key="p2")
    assert status == 400 and error["error"]["message"] == "Invoice is already paid"


async def test_events_verify_with_the_sdk(fake: FakeStripe) -> None:
    body, signature = fake.signed_event({"id": "evt_1", "object": "event", "type": "x"})
    event = stripe.Webhook.construct_event(body.decode(), signature, "whsec_raw")
    assert event.id == "evt_1"
