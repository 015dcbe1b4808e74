"""`POST /stripe/webhook`: Stripe tells billing that an invoice was paid or a payment failed.

Public (Stripe holds no bearer token): the `Stripe-Signature` header, checked against the
endpoint's secret over the raw body, is what authenticates the request. A request that does not
verify is answered 400 (problem+json) before anything else happens.

Wiring: `webhook_routes(get_service, get_secret)` builds the route table; by default the
service is `app[PAYMENT_EVENTS]` and the secret `app[WEBHOOK_SECRET]`, else the service
context's `STRIPE.of(settings).webhook_secret` (CHARGEPARK_STRIPE_WEBHOOK_SECRET). `routes` is the
table built with those defaults.

Stripe delivers at least once and resends anything not answered 2xx, so the service's
`payment_succeeded` / `payment_failed` must be idempotent; an error they raise (an invoice not
known yet, say) is answered non-2xx and Stripe tries again later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from billing.payments.stripe_webhook import (
    InvoicePaid,
    InvoicePaymentFailed,
    WebhookError,
    parse_event,
)
from billing.settings import STRIPE
from chargepark.auth import public
from chargepark.http.app import CONTEXT
from chargepark.http.openapi import operation
from chargepark.http.problem import problem

PATH = "/stripe/webhook"


class PaymentEvents(Protocol):
    """What the webhook needs from billing's service."""

    async def payment_succeeded(
        self, provider_invoice_id: str, provider_ref: str | None, amount_minor: int
    ) -> Any: ...

    async def payment_failed(
        self, provider_invoice_id: str, failure_code: str | None, failure_message: str | None
    ) -> Any: ...


PAYMENT_EVENTS = web.AppKey("stripe_payment_events", PaymentEvents)
WEBHOOK_SECRET = web.AppKey("stripe_webhook_secret", str)


def service_from_app(request: web.Request) -> PaymentEvents:
    return request.app[PAYMENT_EVENTS]


def secret_from_app(request: web.Request) -> str | None:
    secret = request.app.get(WEBHOOK_SECRET)
    if secret:
        return secret
    ctx = request.app.get(CONTEXT)
    return STRIPE.of(ctx.settings).webhook_secret if ctx is not None else None


def webhook_routes(
    get_service: Callable[[web.Request], PaymentEvents] = service_from_app,
    get_secret: Callable[[web.Request], str | None] = secret_from_app,
) -> web.RouteTableDef:
    table = web.RouteTableDef()

    @table.post(PATH)
    @public
    @operation(
        "Stripe webhook: invoice.paid and invoice.payment_failed (Stripe-Signature verified)",
        tags=["stripe"],
        responses={
            200: "Received (other event types are acknowledged and ignored)",
            400: "Signature missing or wrong, stale timestamp, or not a Stripe event",
            404: "Stripe is not configured on this service",
        },
    )
    async def stripe_webhook(request: web.Request) -> web.Response:
        secret = get_secret(request)
        if not secret:
            return problem(
                404,
                "Stripe webhooks are not configured (CHARGEPARK_STRIPE_WEBHOOK_SECRET)",
                kind="not-found",
            )
        body = await request.read()  # the signature covers these exact bytes
        try:
            event = parse_event(body, request.headers.get("Stripe-Signature"), secret)
        except WebhookError as exc:
            return problem(400, str(exc), kind="invalid-webhook")
        if isinstance(event, InvoicePaid):
            await get_service(request).payment_succeeded(
                event.provider_invoice_id, event.provider_ref, event.amount_paid
            )
        elif isinstance(event, InvoicePaymentFailed):
            await get_service(request).payment_failed(
                event.provider_invoice_id, event.failure_code, event.failure_message
            )
        return web.json_response(
            {
                "received": True,
                "event_id": event.event_id,
                "type": event.type,
                "handled": isinstance(event, InvoicePaid | InvoicePaymentFailed),
            }
        )

    return table


routes = webhook_routes()
