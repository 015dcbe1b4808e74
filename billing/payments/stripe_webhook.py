"""Stripe webhook events: the signature checked, the two invoice events billing acts on read.

`parse_event` verifies `Stripe-Signature` with the endpoint's secret through the SDK's own
`stripe.Webhook.construct_event` (an HMAC-SHA256 over `"{t}.{raw body}"`, timestamps older than
`tolerance` seconds refused), then maps the event to one of three small values:

- `InvoicePaid` for `invoice.paid`,
- `InvoicePaymentFailed` for `invoice.payment_failed`,
- `Ignored` for every other type (answered 200, so Stripe stops resending it).

Anything that is not a genuine, readable Stripe event raises `WebhookError`, which the HTTP edge
answers with 400 and no state change. Nothing here knows about aiohttp.

Since API version 2025-03-31.basil an invoice no longer carries `payment_intent` or `charge`:
payments are `InvoicePayment` objects in the invoice's `payments` list, which Stripe includes
only when asked (`expand[]=payments`), so the invoice inside an event usually names no payment.
`provider_ref` is then None; the payment intent our own `collect` call saw is the one to keep.
The same holds for a decline: the reason sits on the payment intent, not on the invoice, so
`failure_code` is filled only when the event's invoice carries an expanded payment intent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import stripe

TOLERANCE_SECONDS = 300
PAID = "invoice.paid"
PAYMENT_FAILED = "invoice.payment_failed"


class WebhookError(Exception):
    """The request is not a verified, well-formed Stripe event."""


@dataclass(frozen=True, kw_only=True)
class InvoicePaid:
    type: ClassVar[str] = PAID
    event_id: str
    provider_invoice_id: str
    provider_ref: str | None  # payment intent (or charge) id, where the event names one
    amount_paid: int  # minor units
    currency: str  # lower case, as Stripe writes it


@dataclass(frozen=True, kw_only=True)
class InvoicePaymentFailed:
    type: ClassVar[str] = PAYMENT_FAILED
    event_id: str
    provider_invoice_id: str
    failure_code: str | None
    failure_message: str | None
    attempt_count: int


@dataclass(frozen=True)
class Ignored:
    event_id: str
    type: str


WebhookEvent = InvoicePaid | InvoicePaymentFailed | Ignored


def parse_event(
    payload: bytes | str,
    signature: str | None,
    secret: str,
    *,
    tolerance: int = TOLERANCE_SECONDS,
) -> WebhookEvent:
    """Verify `payload` (the raw request body) against `signature` (the `Stripe-Signature`
    header) and `secret` (the endpoint's `whsec_...`), and say what the event means."""
    if not secret:
        raise WebhookError("no webhook secret is configured")
    if not signature:
        raise WebhookError("the Stripe-Signature header is missing")
    try:
        # The signature is over the exact bytes Stripe sent; decode only to hand them over.
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        stripe.Webhook.construct_event(text, signature, secret, tolerance)
    except UnicodeDecodeError:
        raise WebhookError("the body is not UTF-8") from None
    except stripe.SignatureVerificationError as exc:
        raise WebhookError(f"the signature does not verify: {exc.user_message}") from None
    except (ValueError, AttributeError, TypeError) as exc:
        # Signed, but not JSON (JSONDecodeError) or not a JSON object the SDK can read.
        raise WebhookError(f"the body is not a Stripe event: {exc}") from None
    # Verified: read the plain JSON rather than the SDK's objects (no attribute magic).
    event = json.loads(text)
    return _map(event)


def _map(event: Any) -> WebhookEvent:
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        raise WebhookError("the event has no id")
    event_id: str = event["id"]
    kind = event.get("type")
    if not isinstance(kind, str):
        raise WebhookError("the event has no type")
    if kind not in (PAID, PAYMENT_FAILED):
        return Ignored(event_id=event_id, type=kind)
    data = event.get("data")
    invoice = data.get("object") if isinstance(data, dict) else None
    if not isinstance(invoice, dict) or invoice.get("object") != "invoice":
        raise WebhookError(f"{kind} carries no invoice")
    invoice_id = invoice.get("id")
    if not isinstance(invoice_id, str) or not invoice_id:
        raise WebhookError(f"{kind} names no invoice id")
    if kind == PAID:
        return InvoicePaid(
            event_id=event_id,
            provider_invoice_id=invoice_id,
            provider_ref=payment_ref(invoice),
            amount_paid=_int(invoice.get("amount_paid")),
            currency=str(invoice.get("currency") or ""),
        )
    code, message = _last_payment_error(invoice)
    return InvoicePaymentFailed(
        event_id=event_id,
        provider_invoice_id=invoice_id,
        failure_code=code,
        failure_message=message,
        attempt_count=_int(invoice.get("attempt_count")),
    )


def payment_ref(invoice: dict[str, Any]) -> str | None:
    """The payment intent (or charge) that paid `invoice`, where the invoice says.

    Current API versions: the paid entry of the (expanded) `payments` list. Versions before
    2025-03-31.basil: the invoice's own `payment_intent` / `charge` fields."""
    payments = invoice.get("payments")
    if isinstance(payments, dict):
        for entry in payments.get("data") or []:
            if isinstance(entry, dict) and entry.get("status") == "paid":
                payment = entry.get("payment") or {}
                ref = _id(payment.get("payment_intent")) or _id(payment.get("charge"))
                if ref:
                    return ref
    return _id(invoice.get("payment_intent")) or _id(invoice.get("charge"))


def _last_payment_error(invoice: dict[str, Any]) -> tuple[str | None, str | None]:
    intents: list[Any] = [invoice.get("payment_intent")]
    payments = invoice.get("payments")
    if isinstance(payments, dict):
        for entry in payments.get("data") or []:
            if isinstance(entry, dict):
                intents.append((entry.get("payment") or {}).get("payment_intent"))
    for intent in intents:
        if isinstance(intent, dict) and isinstance(intent.get("last_payment_error"), dict):
            error = intent["last_payment_error"]
            return failure_of(error.get("code"), error.get("decline_code"), error.get("message"))
    return None, None


def failure_of(code: Any, decline_code: Any, message: Any) -> tuple[str | None, str | None]:
    """Stripe's error `code` (e.g. card_declined) as ours; the issuer's finer `decline_code`
    (e.g. insufficient_funds) rides along in the message."""
    text = str(message) if message else None
    if decline_code and decline_code != code:
        text = f"{text or 'declined'} ({decline_code})"
    return (str(code) if code else (str(decline_code) if decline_code else None)), text


def _id(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return value["id"]
    return None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
