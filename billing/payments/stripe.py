"""The payment provider behind `CHARGEPARK_STRIPE_API_KEY`: Stripe, through its official SDK.

Every call is asynchronous (the SDK's `*_async` methods over its aiohttp client), so the event
loop is never blocked, and every write carries an idempotency key derived from our own ids:

| call | idempotency key |
|---|---|
| create the customer | `customer-{customer_id}` (`customer-anonymous` for pay-at-exit) |
| create the invoice (draft) | `invoice-{invoice_id}` |
| one invoice item per line | `item-{line_id}` |
| the tax line | `item-{invoice_id}-tax` |
| finalize | `finalize-{invoice_id}` |
| pay, attempt n | `pay-{provider_invoice_id}-{n}` |

A retry after a timeout therefore replays Stripe's stored answer instead of creating a second
customer, item or charge. Stripe keeps idempotency keys for 24 hours; the caller stores the ids
it gets back (customer, invoice) so later calls do not depend on the keys.

The invoice is created first (as a draft, `pending_invoice_items_behavior=exclude`) and each
item is attached to it with the item's `invoice` parameter, so items of another invoice of the
same customer can never be swept into this one.

Errors: unreachable, timeouts, 5xx, 429 and 409 (a request with the same key still running)
raise `ProviderUnavailable` (retry later with the same keys); other 4xx raise
`ProviderRejected(code)`; a card decline on `collect` is a FAILED `PaymentAttempt`. The SDK's
own retries are off by default (`max_network_retries=0`): billing's scheduler retries.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

import aiohttp
import stripe

from billing.payments.port import (
    InvoiceToIssue,
    IssuedInvoice,
    Payer,
    PaymentAttempt,
    PaymentStatus,
    ProviderRejected,
    ProviderUnavailable,
)
from billing.payments.stripe_webhook import failure_of, payment_ref
from chargepark import tracing

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds for one request, connect to last byte
DEFAULT_DAYS_UNTIL_DUE = 14  # send_invoice: how long the customer has to pay
ANONYMOUS = "anonymous"


class StripeProvider:
    name = "stripe"

    def __init__(
        self,
        api_key: str,
        api_base: str | None = None,
        *,
        max_network_retries: int = 0,
        timeout: float = DEFAULT_TIMEOUT,
        days_until_due: int = DEFAULT_DAYS_UNTIL_DUE,
    ) -> None:
        if not api_key:
            raise ValueError("a Stripe API key is required")
        self.days_until_due = days_until_due
        # The SDK's aiohttp client opens its session lazily, on the loop of the first call.
        self._http = stripe.AIOHTTPClient(timeout=aiohttp.ClientTimeout(total=timeout))
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": (api_base or stripe.DEFAULT_API_BASE).rstrip("/")},
            http_client=self._http,
            max_network_retries=max_network_retries,
        )
        self._used = False

    async def aclose(self) -> None:
        """Close the HTTP session (call once, when the service stops)."""
        if self._used:
            await self._http.close_async()
            self._used = False

    # -- PaymentProvider ---------------------------------------------------------------------

    async def ensure_customer(self, payer: Payer) -> str:
        if payer.provider_customer_id:
            return payer.provider_customer_id
        ours = payer.customer_id or ANONYMOUS
        params: dict[str, Any] = {"metadata": {"chargepark_customer_id": ours}}
        if payer.name:
            params["name"] = payer.name
        if payer.email:
            params["email"] = payer.email
        if payer.customer_id is None:
            params["description"] = "chargepark pay-at-exit (vehicles without an account)"
        customer = await self._call(
            "customers.create",
            lambda: self._client.v1.customers.create_async(
                params,  # type: ignore[arg-type]  # built as a dict: the keys are Stripe's, its TypedDict is not
                {"idempotency_key": f"customer-{ours}"},
            ),
        )
        return customer["id"]

    async def issue(self, payer: Payer, invoice: InvoiceToIssue) -> IssuedInvoice:
        lines_total = sum(line.amount_minor for line in invoice.lines)
        if lines_total + invoice.tax_minor != invoice.total_minor:
            raise ValueError(
                f"invoice {invoice.invoice_id}: lines {lines_total} + tax {invoice.tax_minor} "
                f"!= total {invoice.total_minor}"
            )
        customer_id = await self.ensure_customer(payer)
        currency = invoice.currency.lower()
        metadata = {**invoice.metadata, "chargepark_invoice_id": invoice.invoice_id}

        params: dict[str, Any] = {
            "customer": customer_id,
            "currency": currency,
            "pending_invoice_items_behavior": "exclude",
            "metadata": metadata,
        }
        automatic = invoice.charge_automatically and await self._can_charge(customer_id)
        params.update(self._collection(automatic))
        draft = await self._call(
            "invoices.create",
            lambda: self._client.v1.invoices.create_async(
                params,  # type: ignore[arg-type]  # built as a dict: the keys are Stripe's, its TypedDict is not
                {"idempotency_key": f"invoice-{invoice.invoice_id}"},
            ),
        )

        await self._add_items(draft["id"], customer_id, currency, invoice)

        final = await self._call(
            "invoices.finalize_invoice",
            lambda: self._client.v1.invoices.finalize_invoice_async(
                draft["id"], None, {"idempotency_key": f"finalize-{invoice.invoice_id}"}
            ),
        )
        if final.get("total") != invoice.total_minor:
            # Not expected (no Stripe-side tax, discounts or shipping are ever asked for); the
            # invoice exists at Stripe all the same, so report it and go on.
            log.error(
                "Stripe invoice total differs from ours",
                extra={
                    "invoice_id": invoice.invoice_id,
                    "provider_invoice_id": final["id"],
                    "ours": invoice.total_minor,
                    "stripe": final.get("total"),
                },
            )
        return IssuedInvoice(
            provider=self.name,
            provider_customer_id=customer_id,
            provider_invoice_id=final["id"],
            status=PaymentStatus.PAID if final.get("status") == "paid" else PaymentStatus.OPEN,
            hosted_url=final.get("hosted_invoice_url"),
            charge_automatically=automatic,
        )

    async def _can_charge(self, customer_id: str) -> bool:
        """Whether the customer has a default payment method to charge: charge_automatically
        for those, send_invoice (they pay on Stripe's page) for the others."""
        customer = await self._call(
            "customers.retrieve", lambda: self._client.v1.customers.retrieve_async(customer_id)
        )
        settings = customer.get("invoice_settings") or {}
        return bool(settings.get("default_payment_method") or customer.get("default_source"))

    def _collection(self, automatic: bool) -> dict[str, Any]:
        """How the Stripe invoice is collected."""
        if automatic:
            # We collect ourselves (`collect`), on our own retry policy: Stripe must not
            # advance or charge the invoice on its own schedule as well.
            return {"collection_method": "charge_automatically", "auto_advance": False}
        # Stripe emails the finalized invoice and its reminders; the customer pays on the
        # hosted page, and the webhook tells us.
        return {
            "collection_method": "send_invoice",
            "days_until_due": self.days_until_due,
            "auto_advance": True,
        }

    async def _add_items(
        self, draft_id: str, customer_id: str, currency: str, invoice: InvoiceToIssue
    ) -> None:
        """The invoice's lines as items of the Stripe draft, and our tax as one more."""
        for line in invoice.lines:
            description = line.description
            if line.quantity_note:
                description = f"{description} ({line.quantity_note})"
            await self._add_item(
                draft_id,
                customer_id,
                currency,
                line.amount_minor,
                description,
                {"chargepark_invoice_id": invoice.invoice_id, "chargepark_line_id": line.line_id},
                key=f"item-{line.line_id}",
            )
        if invoice.tax_minor:
            # Tax is our own computation, sent as one more item rather than as a Stripe tax
            # rate: Stripe would round its tax per line and could differ from ours by a cent,
            # while a fixed item makes Stripe's total equal ours exactly.
            label = invoice.metadata.get("tax_label") or "VAT"
            await self._add_item(
                draft_id,
                customer_id,
                currency,
                invoice.tax_minor,
                label,
                {"chargepark_invoice_id": invoice.invoice_id, "chargepark_line_id": "tax"},
                key=f"item-{invoice.invoice_id}-tax",
            )

    async def collect(self, provider_invoice_id: str, attempt: int) -> PaymentAttempt:
        try:
            paid = await self._call(
                "invoices.pay",
                lambda: self._client.v1.invoices.pay_async(
                    provider_invoice_id,
                    {"expand": ["payments"]},
                    {"idempotency_key": f"pay-{provider_invoice_id}-{attempt}"},
                ),
                declines=True,
            )
        except stripe.CardError as exc:
            code, message = failure_of(
                exc.code, _error_body(exc).get("decline_code"), exc.user_message
            )
            return PaymentAttempt(
                status=PaymentStatus.FAILED,
                provider_ref=_intent_of_error(exc),
                failure_code=code or "card_declined",
                failure_message=message,
            )
        except ProviderRejected:
            # Paying an invoice that is already paid is refused; a lost answer to an earlier
            # attempt (or the customer paying on the hosted page) gets here. Ask Stripe.
            current = await self._retrieve(provider_invoice_id)
            if current is not None and current.get("status") == "paid":
                return PaymentAttempt(PaymentStatus.PAID, provider_ref=payment_ref(current))
            raise
        if paid.get("status") == "paid":
            return PaymentAttempt(PaymentStatus.PAID, provider_ref=payment_ref(paid))
        # e.g. a debit that settles later: still open, the webhook will say.
        return PaymentAttempt(PaymentStatus.OPEN, provider_ref=payment_ref(paid))

    # -- internals ---------------------------------------------------------------------------

    async def _add_item(
        self,
        invoice_id: str,
        customer_id: str,
        currency: str,
        amount: int,
        description: str,
        metadata: dict[str, str],
        *,
        key: str,
    ) -> None:
        params = {
            "customer": customer_id,
            "invoice": invoice_id,
            "currency": currency,
            "amount": amount,
            "description": description,
            "metadata": metadata,
        }
        await self._call(
            "invoice_items.create",
            lambda: self._client.v1.invoice_items.create_async(
                params,  # type: ignore[arg-type]  # built as a dict: the keys are Stripe's, its TypedDict is not
                {"idempotency_key": key},
            ),
        )

    async def _retrieve(self, provider_invoice_id: str) -> dict[str, Any] | None:
        try:
            return await self._call(
                "invoices.retrieve",
                lambda: self._client.v1.invoices.retrieve_async(
                    provider_invoice_id, {"expand": ["payments"]}
                ),
            )
        except ProviderRejected:
            return None

    async def _call(
        self,
        operation: str,
        request: Callable[[], Awaitable[stripe.StripeObject]],
        *,
        declines: bool = False,
    ) -> dict[str, Any]:
        """Run one SDK request and answer its object as plain data, translating failures into
        the port's two errors (a CardError goes through where `declines` asks for it). With
        tracing on, the request is a CLIENT span named `stripe <operation>`."""
        self._used = True
        try:
            with tracing.client_span(
                f"stripe {operation}",
                {"rpc.system": "stripe", "rpc.service": "stripe", "rpc.method": operation},
            ):
                return (await request()).to_dict()
        except stripe.CardError as exc:
            if declines:
                raise
            raise ProviderRejected(f"Stripe refused: {exc.user_message}", code=exc.code) from exc
        except stripe.StripeError as exc:
            _translate(exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The SDK wraps connection errors, but not a body that breaks off mid-read.
            raise ProviderUnavailable(f"Stripe unreachable: {type(exc).__name__}") from exc


def _translate(exc: stripe.StripeError) -> NoReturn:
    status = exc.http_status
    if (
        isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError)
        or status is None
        or status >= 500
        or status in (409, 429)
    ):
        raise ProviderUnavailable(
            f"Stripe unavailable: {status or 'no answer'} {exc.user_message or ''}".strip()
        ) from exc
    code = exc.code or (exc.error.type if exc.error else None)
    raise ProviderRejected(f"Stripe refused ({status}): {exc.user_message}", code=code) from exc


def _error_body(exc: stripe.StripeError) -> dict[str, Any]:
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else {}


def _intent_of_error(exc: stripe.StripeError) -> str | None:
    intent = _error_body(exc).get("payment_intent")
    if isinstance(intent, dict):
        return intent.get("id")
    return intent if isinstance(intent, str) else None
