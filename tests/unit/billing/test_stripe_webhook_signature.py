"""Stripe webhook verification and event mapping (no network, no aiohttp)."""

from __future__ import annotations

import json
import time

import pytest

from billing.payments.stripe_webhook import (
    Ignored,
    InvoicePaid,
    InvoicePaymentFailed,
    WebhookError,
    parse_event,
)
from tests.support.fake_stripe import sign

SECRET = "whsec_test_secret"


def invoice(**fields: object) -> dict[str, object]:
    return {
        "id": "in_123",
        "object": "invoice",
        "amount_paid": 0,
        "attempt_count": 0,
        "currency": "eur",
        "status": "open",
        **fields,
    }


def event(kind: str, obj: dict[str, object]) -> str:
    return json.dumps(
        {
            "id": "evt_1",
            "object": "event",
            "api_version": "2026-10-28.endive",
            "created": int(time.time()),
            "data": {"object": obj},
            "livemode": False,
            "type": kind,
        },
        indent=2,
    )


def test_invoice_paid_verifies_and_maps() -> None:
    payments = {
        "object": "list",
        "data": [
            {
                "object": "invoice_payment",
                "status": "paid",
                "payment": {"type": "payment_intent", "payment_intent": "pi_9"},
            }
        ],
    }
    body = event("invoice.paid", invoice(status="paid", amount_paid=1299, payments=payments))
    got = parse_event(body.encode(), sign(body, SECRET), SECRET)
    assert got == InvoicePaid(
        event_id="evt_1",
        provider_invoice_id="in_123",
        provider_ref="pi_9",
        amount_paid=1299,
        currency="eur",
    )


def test_invoice_paid_without_payments_has_no_ref() -> None:
    # Since 2025-03-31.basil the invoice in an event names no payment intent.
    body = event("invoice.paid", invoice(status="paid", amount_paid=500))
    got = parse_event(body, sign(body, SECRET), SECRET)
    assert isinstance(got, InvoicePaid)
    assert (got.provider_ref, got.amount_paid) == (None, 500)


def test_older_api_versions_name_the_payment_intent_on_the_invoice() -> None:
    body = event("invoice.paid", invoice(payment_intent="pi_old", charge="ch_old"))
    got = parse_event(body, sign(body, SECRET), SECRET)
    assert isinstance(got, InvoicePaid) and got.provider_ref == "pi_old"


def test_payment_failed_with_an_expanded_payment_intent_carries_the_reason() -> None:
    intent = {
        "id": "pi_1",
        "object": "payment_intent",
        "last_payment_error": {
            "code": "card_declined",
            "decline_code": "insufficient_funds",
            "message": "Your card has insufficient funds.",
        },
    }
    body = event("invoice.payment_failed", invoice(attempt_count=2, payment_intent=intent))
    got = parse_event(body, sign(body, SECRET), SECRET)
    assert got == InvoicePaymentFailed(
        event_id="evt_1",
        provider_invoice_id="in_123",
        failure_code="card_declined",
        failure_message="Your card has insufficient funds. (insufficient_funds)",
        attempt_count=2,
    )


def test_payment_failed_without_details() -> None:
    body = event("invoice.payment_failed", invoice(attempt_count=1))
    got = parse_event(body, sign(body, SECRET), SECRET)
    assert got == InvoicePaymentFailed(
        event_id="evt_1",
        provider_invoice_id="in_123",
        failure_code=None,
        failure_message=None,
        attempt_count=1,
    )


def test_other_event_types_are_ignored() -> None:
    body = event("customer.created", {"id": "cus_1", "object": "customer"})
    assert parse_event(body, sign(body, SECRET), SECRET) == Ignored("evt_1", "customer.created")


def test_sdk_generated_header_verifies() -> None:
    import stripe

    body = event("invoice.paid", invoice())
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET)
    assert isinstance(parse_event(body, header, SECRET), InvoicePaid)


@pytest.mark.parametrize(
    ("header", "secret", "reason"),
    [
        (None, SECRET, "header is missing"),
        ("", SECRET, "header is missing"),
        ("garbage", SECRET, "does not verify"),
        ("t=1,v0=abc", SECRET, "does not verify"),
        ("SIGNED_WITH_OTHER_SECRET", SECRET, "does not verify"),
        ("GOOD", "", "no webhook secret"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, secret: str, reason: str) -> None:
    body = event("invoice.paid", invoice())
    if header == "SIGNED_WITH_OTHER_SECRET":
        header = sign(body, "whsec_other")
    elif header == "GOOD":
        header = sign(body, SECRET)
    with pytest.raises(WebhookError, match=reason):
        parse_event(body, header, secret)


def test_a_changed_body_no_longer_verifies() -> None:
    body = event("invoice.paid", invoice(amount_paid=100))
    header = sign(body, SECRET)
    with pytest.raises(WebhookError, match="does not verify"):
        parse_event(body.replace("100", "1"), header, SECRET)


def test_a_stale_timestamp_is_refused() -> None:
    body = event("invoice.paid", invoice())
    old = int(time.time()) - 301
    with pytest.raises(WebhookError, match="does not verify"):
        parse_event(body, sign(body, SECRET, old), SECRET)
    # within the 300 s tolerance it passes
    assert isinstance(parse_event(body, sign(body, SECRET, old + 10), SECRET), InvoicePaid)


def test_a_correctly_signed_body_that_is_not_json_is_refused() -> None:
    body = "{not json"
    with pytest.raises(WebhookError, match="not a Stripe event"):
        parse_event(body, sign(body, SECRET), SECRET)


def test_a_body_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(WebhookError, match="not UTF-8"):
        parse_event(b"\xff\xfe", "t=1,v1=00", SECRET)


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        {"object": "event", "type": "invoice.paid"},
        {"id": "evt_1", "object": "event"},
        {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"object": "charge"}}},
        {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"object": "invoice"}}},
    ],
)
def test_signed_json_that_is_no_usable_event_is_refused(payload: object) -> None:
    body = json.dumps(payload)
    with pytest.raises(WebhookError):
        parse_event(body, sign(body, SECRET), SECRET)
