"""A small, stateful, Stripe-compatible API server on loopback, for the invoice calls.

localstripe covers customers, payment methods and payment intents, but has no standalone
invoices, no `/finalize` and no `invoice.paid` event. This server answers the endpoints billing
uses the way Stripe's API reference describes them, for API versions since 2025-03-31.basil
(the `stripe` SDK pins a newer one and sends it as `Stripe-Version`):

    POST /v1/customers                       GET /v1/customers/{id}   POST /v1/customers/{id}
    POST /v1/payment_methods/{id}/attach     (test ids: pm_card_visa, pm_card_mastercard,
                                              pm_card_chargeCustomerFail,
                                              pm_card_visa_chargeDeclined)
    POST /v1/invoiceitems
    POST /v1/invoices                        GET /v1/invoices/{id}
    POST /v1/invoices/{id}/finalize          POST /v1/invoices/{id}/pay
    GET  /v1/payment_intents/{id}

What it reproduces:

- form-encoded requests with nested keys (`metadata[k]`, `expand[0]`), unknown parameters
  refused (400 `parameter_unknown`), missing ones too (400 `parameter_missing`);
- objects shaped as in the reference: ids `cus_`/`pm_`/`ii_`/`il_`/`in_`/`pi_`/`ch_`/
  `inpay_`/`evt_`, an `object` field, lower-case currencies, `metadata`, invoice `status`
  draft -> open -> paid, `amount_due`/`amount_paid`/`amount_remaining`/`total`, and `payments`
  (InvoicePayment objects) only when asked for with `expand[]=payments`, as an includable field;
- errors as `{"error": {"type", "code", "message", "param", "decline_code", ...}}`: 402
  `card_error` for a decline, 404 `invalid_request_error`/`resource_missing`, 400 for bad
  parameters, 401 without an API key. Where the reference names no code for a refusal
  (paying an invoice that is already paid, say) the error carries a message and no code;
- idempotency: the first answer of an endpoint that ran is kept per API key and
  `Idempotency-Key`; the same key with the same parameters replays it with
  `Idempotent-Replayed: true`; with other parameters or on another endpoint it answers 400
  `idempotency_error`; while the first request still runs, 409 `idempotency_key_in_use`.
  Requests refused before the endpoint ran (bad parameters, an outage) are not kept;
- webhook events (`invoice.finalized`, `invoice.paid`, `invoice.payment_failed`) POSTed to
  `webhook_url`, signed as Stripe signs them (`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256 of
  "<ts>.<body>" under the endpoint secret>`), so `stripe.Webhook.construct_event` verifies them.

Switches for tests: `outage` ("error": 500 api_error, "rate_limit": 429, "drop": the connection
is closed without an answer) and `fail_next(n, mode)` act before a request reaches the API, so
nothing changes; `lose_next_answers(n)` lets the API do the work and then drops the connection,
the case an idempotency key exists for. Declines come from the customer's card:
`pm_card_chargeCustomerFail` attaches, then every charge fails with `card_declined`.

With `upstream` (the base URL of a running localstripe) the server fronts localstripe: the
customer, payment method, payment intent and charge endpoints are forwarded to it (behind this
server's own API key check, outage switches and idempotency layer), the invoice endpoints are
answered here, and paying an invoice creates and confirms a payment intent in localstripe for
the customer's default payment method, so a card is charged, or declined, by localstripe. One
`api_base` then serves the SDK for everything billing calls.

`saved_cards` (our customer id -> a test card) attaches that card to a customer created with
`metadata[chargepark_customer_id]` = that id and makes it the default for invoices, as a card
the customer saved when signing up would be. `pay_on_hosted_page` is the customer paying an
open invoice on its hosted page with a card of their choice.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web

API_VERSION = "2026-10-28.endive"
Json = dict[str, Any]
PARAMS = web.RequestKey("params", dict)


def new_id(prefix: str, length: int = 24) -> str:
    alphabet = string.ascii_letters + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe would send with `payload`."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class ApiError(Exception):
    """An error answer. `kept`: whether an idempotency key keeps it (the endpoint ran)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        kept: bool = True,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kept = kept
        body: Json = {"type": type, "message": message}
        if code:
            body["code"] = code
            body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            body["param"] = param
        body.update(extra)
        self.body = {"error": body}

    @classmethod
    def of(cls, status: int, body: Json, *, kept: bool = True) -> ApiError:
        """An error answered as another server worded it."""
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        err = cls(status, str(error.get("message") or f"upstream answered {status}"), kept=kept)
        err.body = body if error else {"error": {"type": "api_error", "message": err.args[0]}}
        return err


def missing(kind: str, ident: str, param: str = "id") -> ApiError:
    return ApiError(404, f"No such {kind}: '{ident}'", code="resource_missing", param=param)


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


def bad_param(message: str, param: str, code: str = "parameter_invalid_empty") -> ApiError:
    return ApiError(400, message, code=code, param=param, kept=False)


CUSTOMER_PARAMS = _names(
    "address balance cash_balance description email expand invoice_prefix invoice_settings "
    "metadata name next_invoice_sequence payment_method phone preferred_locales shipping "
    "source tax tax_exempt tax_id_data test_clock"
)

ITEM_PARAMS = _names(
    "amount currency customer customer_account description discountable discounts expand "
    "invoice metadata period price_data pricing quantity quantity_decimal subscription "
    "tax_behavior tax_code tax_rates unit_amount_decimal"
)

INVOICE_PARAMS = _names(
    "account_tax_ids application_fee_amount auto_advance automatic_tax "
    "automatically_finalizes_at collection_method currency custom_fields customer "
    "customer_account days_until_due default_payment_method default_source "
    "default_tax_rates description discounts due_date effective_at expand footer "
    "from_invoice issuer metadata number on_behalf_of payment_settings "
    "pending_invoice_items_behavior rendering shipping_cost shipping_details "
    "statement_descriptor subscription transfer_data"
)


# Test payment methods (Stripe's documented test ids) -> (brand, last4, behaviour)
TEST_CARDS: dict[str, tuple[str, str, str]] = {
    "pm_card_visa": ("visa", "4242", "ok"),
    "pm_card_mastercard": ("mastercard", "4444", "ok"),
    "pm_card_chargeCustomerFail": ("visa", "0341", "charge_fails"),
    "pm_card_visa_chargeDeclined": ("visa", "0002", "attach_fails"),
}


@dataclass
class Kept:
    """An answer an idempotency key keeps."""

    endpoint: str
    params: list[tuple[str, str]]
    status: int
    body: Json
    request_id: str


@dataclass
class Delivery:
    event_id: str
    type: str
    status: int | None  # None: the endpoint could not be reached
    error: str | None = None


@dataclass
class Recorded:
    method: str
    path: str
    idempotency_key: str | None
    status: int
    replayed: bool = False


@dataclass
class FakeStripe:
    webhook_url: str | None = None
    webhook_secret: str | None = None
    default_currency: str = "eur"
    outage: str | None = None  # None, "error", "rate_limit", "drop"
    upstream: str | None = None  # a running localstripe: see the module's doc
    saved_cards: dict[str, str] = field(default_factory=dict)

    customers: dict[str, Json] = field(default_factory=dict)
    payment_methods: dict[str, Json] = field(default_factory=dict)
    invoice_items: dict[str, Json] = field(default_factory=dict)
    invoices: dict[str, Json] = field(default_factory=dict)
    payment_intents: dict[str, Json] = field(default_factory=dict)
    charges: dict[str, Json] = field(default_factory=dict)
    invoice_payments: dict[str, Json] = field(default_factory=dict)
    events: list[Json] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._kept: dict[tuple[str, str], Kept] = {}
        self._running: set[tuple[str, str]] = set()
        self._failures: list[str] = []
        self._lose = 0
        self._sends: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._api_key: str | None = None  # the last one seen, for pay_on_hosted_page
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> FakeStripe:
        app = web.Application(middlewares=[self._middleware])
        r = app.router
        r.add_post("/v1/customers", self._create_customer)
        r.add_get("/v1/customers/{id}", self._get_customer)
        r.add_post("/v1/customers/{id}", self._update_customer)
        r.add_post("/v1/payment_methods/{id}/attach", self._attach_payment_method)
        r.add_post("/v1/invoiceitems", self._create_invoice_item)
        r.add_post("/v1/invoices", self._create_invoice)
        r.add_get("/v1/invoices/{id}", self._get_invoice)
        r.add_post("/v1/invoices/{id}/finalize", self._finalize_invoice)
        r.add_post("/v1/invoices/{id}/pay", self._pay_invoice)
        r.add_get("/v1/payment_intents/{id}", self._get_payment_intent)
        if self.upstream:
            r.add_get("/v1/payment_methods/{id}", self._forward)
            r.add_get("/v1/charges/{id}", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def close(self) -> None:
        await self.webhooks_sent()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- switches and helpers for tests ----------------------------------------------------

    def fail_next(self, n: int = 1, mode: str = "error") -> None:
        """The next `n` requests fail before reaching the API ("error", "rate_limit", "drop")."""
        self._failures.extend([mode] * n)

    def lose_next_answers(self, n: int = 1) -> None:
        """The next `n` requests run, then the connection drops before the answer is sent."""
        self._lose += n

    def give_card(self, customer_id: str, test_card: str = "pm_card_visa") -> str:
        """Attach a test card to a customer and make it the default for invoices."""
        assert not self.upstream, "customers live in localstripe: use saved_cards"
        pm = self._attach(test_card, customer_id)
        self.customers[customer_id]["invoice_settings"]["default_payment_method"] = pm["id"]
        return pm["id"]

    def succeeded_charges(self, invoice_id: str | None = None) -> list[Json]:
        return [
            c
            for c in self.charges.values()
            if c["status"] == "succeeded" and (invoice_id is None or c["_invoice"] == invoice_id)
        ]

    async def pay_on_hosted_page(self, invoice_id: str, test_card: str) -> bool:
        """The customer pays an open invoice on its hosted page with `test_card`: paid (True,
        `invoice.paid`) or declined (False, `invoice.payment_failed`)."""
        inv = self._invoice(invoice_id)
        assert inv["status"] == "open", f"invoice {invoice_id} is {inv['status']}"
        if self.upstream:
            assert self._api_key, "no API key seen yet"
            status, pm = await self._upstream_call(
                self._api_key,
                "POST",
                f"/v1/payment_methods/{test_card}/attach",
                {"customer": inv["customer"]},
            )
            assert status == 200, pm
            intent = await self._charge_upstream(self._api_key, inv, pm["id"])
        else:
            intent = self._charge(inv, self._attach(test_card, inv["customer"]))
        return intent["status"] == "succeeded"

    def calls(self, method: str, path_prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_prefix)]

    async def webhooks_sent(self) -> None:
        while self._sends:
            await asyncio.gather(*list(self._sends), return_exceptions=True)

    def signed_event(self, event: Json, timestamp: int | None = None) -> tuple[bytes, str]:
        """`event` as Stripe would POST it: the body and its `Stripe-Signature`."""
        assert self.webhook_secret, "set webhook_secret first"
        payload = json.dumps(event, indent=2)
        return payload.encode(), sign(payload, self.webhook_secret, timestamp)

    # -- the HTTP layer: auth, outages, idempotency ----------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.Response]]
    ) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        mode = self._failures.pop(0) if self._failures else self.outage
        if mode is not None:
            return self._outage(request, key, mode)
        api_key = _api_key(request)
        self._api_key = api_key or self._api_key
        if api_key is None:
            err = ApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                kept=False,
            )
            return self._answer(request, key, err.status, err.body)
        if request.match_info.http_exception is not None:
            err = ApiError(
                404,
                f"Unrecognized request URL ({request.method}: {request.path}).",
                kept=False,
            )
            return self._answer(request, key, err.status, err.body)
        raw = await request.text() if request.method == "POST" else request.query_string
        pairs = parse_qsl(raw, keep_blank_values=True)
        request[PARAMS] = _unflatten(pairs)
        endpoint = f"{request.method} {request.match_info.route.resource.canonical}"
        if request.method != "POST" or not key:
            return await self._run(request, handler, key)

        slot = (api_key, key)
        kept = self._kept.get(slot)
        if kept is not None:
            if kept.endpoint != endpoint:
                return self._idempotency_error(
                    request,
                    key,
                    "Keys for idempotent requests can only be used for the same endpoint they "
                    f"were first used for ('{kept.endpoint}' vs '{endpoint}'). Try using a key "
                    f"other than '{key}' if you meant to execute a different request.",
                )
            if sorted(kept.params) != sorted(pairs):
                return self._idempotency_error(
                    request,
                    key,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            self.requests.append(Recorded(request.method, request.path, key, kept.status, True))
            return self._json(
                kept.status,
                kept.body,
                {"Idempotent-Replayed": "true", "Original-Request": kept.request_id},
            )
        if slot in self._running:
            err = ApiError(
                409,
                "There is currently another in-progress request using this Idempotency-Key "
                "(that probably means you submitted twice, and the other request is still "
                "going through). Please try again later.",
                code="idempotency_key_in_use",
                kept=False,
            )
            return self._answer(request, key, err.status, err.body)
        self._running.add(slot)
        try:
            request_id = new_id("req_", 14)
            status, body, kept_it = await self._execute(request, handler)
            if kept_it:
                self._kept[slot] = Kept(endpoint, pairs, status, body, request_id)
        finally:
            self._running.discard(slot)
        return self._answer(request, key, status, body, request_id=request_id)

    async def _run(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.Response]],
        key: str | None,
    ) -> web.StreamResponse:
        status, body, _ = await self._execute(request, handler)
        return self._answer(request, key, status, body)

    async def _execute(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
    ) -> tuple[int, Json, bool]:
        try:
            body = await handler(request)
            return 200, body, True
        except ApiError as exc:
            return exc.status, exc.body, exc.kept

    def _answer(
        self,
        request: web.Request,
        key: str | None,
        status: int,
        body: Json,
        *,
        request_id: str | None = None,
    ) -> web.StreamResponse:
        self.requests.append(Recorded(request.method, request.path, key, status))
        if self._lose:
            self._lose -= 1
            return _drop(request)
        return self._json(status, body, {"Request-Id": request_id or new_id("req_", 14)})

    def _outage(self, request: web.Request, key: str | None, mode: str) -> web.StreamResponse:
        status = {"drop": 0, "rate_limit": 429}.get(mode, 500)
        self.requests.append(Recorded(request.method, request.path, key, status))
        if mode == "drop":
            return _drop(request)
        if mode == "rate_limit":
            err = ApiError(
                429,
                "Too many requests hit the API too quickly.",
                code="rate_limit",
                kept=False,
            )
            return self._json(429, err.body, {})
        err = ApiError(
            500,
            "An unknown error occurred",
            type="api_error",
            kept=False,
        )
        return self._json(500, err.body, {"Stripe-Should-Retry": "true"})

    def _idempotency_error(
        self, request: web.Request, key: str, message: str
    ) -> web.StreamResponse:
        err = ApiError(400, message, type="idempotency_error", kept=False)
        return self._answer(request, key, err.status, err.body)

    @staticmethod
    def _json(status: int, body: Json, headers: dict[str, str]) -> web.Response:
        return web.Response(
            status=status,
            text=json.dumps(body, indent=2),
            content_type="application/json",
            headers={"Stripe-Version": API_VERSION, **headers},
        )

    # -- customers and payment methods -----------------------------------------------------

    async def _create_customer(self, request: web.Request) -> Json:
        p = _params(request, CUSTOMER_PARAMS)
        card = self.saved_cards.get(_metadata(p).get("chargepark_customer_id", ""))
        if self.upstream:
            customer = await self._forward(request)
            if card:
                key = _api_key(request) or ""
                pm = await self._upstream_json(
                    key,
                    "POST",
                    f"/v1/payment_methods/{card}/attach",
                    {"customer": customer["id"]},
                )
                customer = await self._upstream_json(
                    key,
                    "POST",
                    f"/v1/customers/{customer['id']}",
                    {"invoice_settings[default_payment_method]": pm["id"]},
                )
            return customer
        cus_id = new_id("cus_", 14)
        customer: Json = {
            "id": cus_id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": int(time.time()),
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": p.get("description"),
            "discount": None,
            "email": p.get("email"),
            "invoice_prefix": p.get("invoice_prefix") or new_id("", 8).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": False,
            "metadata": _metadata(p),
            "name": p.get("name"),
            "next_invoice_sequence": 1,
            "phone": p.get("phone"),
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }
        self.customers[cus_id] = customer
        if p.get("payment_method"):
            self._attach(p["payment_method"], cus_id)
        settings = p.get("invoice_settings")
        if isinstance(settings, dict) and settings.get("default_payment_method"):
            self._set_default(customer, settings["default_payment_method"])
        if card:
            self.give_card(cus_id, card)
        return customer

    async def _get_customer(self, request: web.Request) -> Json:
        _params(request, {"expand"})
        if self.upstream:
            return await self._forward(request)
        return self._customer(request.match_info["id"])

    async def _update_customer(self, request: web.Request) -> Json:
        if self.upstream:
            return await self._forward(request)
        p = _params(request, CUSTOMER_PARAMS - {"payment_method", "test_clock"})
        customer = self._customer(request.match_info["id"])
        for name in ("description", "email", "name", "phone"):
            if name in p:
                customer[name] = p[name] or None
        if "metadata" in p:
            customer["metadata"] = _merge_metadata(customer["metadata"], p["metadata"])
        settings = p.get("invoice_settings")
        if isinstance(settings, dict) and "default_payment_method" in settings:
            self._set_default(customer, settings["default_payment_method"])
        return customer

    def _customer(self, cus_id: str, param: str = "id") -> Json:
        try:
            return self.customers[cus_id]
        except KeyError:
            raise missing("customer", cus_id, param) from None

    async def _load_customer(self, request: web.Request, cus_id: str, param: str = "id") -> Json:
        """The customer, as of now. With `upstream` it lives in localstripe: it is read from
        there into a local copy that keeps what only invoices need (number prefix, sequence)."""
        if self.upstream:
            status, found = await self._upstream_call(
                _api_key(request) or "", "GET", f"/v1/customers/{cus_id}", {}
            )
            if status == 404:
                raise missing("customer", cus_id, param)
            if status != 200:
                raise ApiError.of(status, found)
            local = self.customers.get(cus_id) or {
                "invoice_prefix": new_id("", 8).upper(),
                "next_invoice_sequence": 1,
            }
            self.customers[cus_id] = {
                **found,
                "currency": None,  # localstripe makes one up; Stripe's is None until billed
                "invoice_prefix": local["invoice_prefix"],
                "next_invoice_sequence": local["next_invoice_sequence"],
            }
        return self._customer(cus_id, param)

    def _set_default(self, customer: Json, pm_id: str) -> None:
        if pm_id:
            pm = self.payment_methods.get(pm_id)
            if pm is None or pm["customer"] != customer["id"]:
                raise ApiError(
                    400,
                    f"No such PaymentMethod: '{pm_id}'; It's possible this PaymentMethod "
                    "exists on one of your connected accounts, in which case you should retry "
                    "this request on that connected account.",
                    code="resource_missing",
                    param="invoice_settings[default_payment_method]",
                )
        customer["invoice_settings"]["default_payment_method"] = pm_id or None

    async def _attach_payment_method(self, request: web.Request) -> Json:
        if self.upstream:
            return await self._forward(request)
        p = _params(request, {"customer", "customer_account", "expand"})
        if not p.get("customer"):
            raise bad_param("Missing required param: customer.", "customer", "parameter_missing")
        return self._attach(request.match_info["id"], p["customer"])

    def _attach(self, pm_id: str, customer_id: str) -> Json:
        self._customer(customer_id, "customer")
        if pm_id in TEST_CARDS:
            brand, last4, behaviour = TEST_CARDS[pm_id]
            if behaviour == "attach_fails":
                raise ApiError(
                    402,
                    "Your card was declined.",
                    type="card_error",
                    code="card_declined",
                    decline_code="generic_decline",
                    param="",
                )
            pm = self._new_card(brand, last4, behaviour)
        elif pm_id in self.payment_methods:
            pm = self.payment_methods[pm_id]
        else:
            raise missing("PaymentMethod", pm_id, "payment_method")
        pm["customer"] = customer_id
        return pm

    def _new_card(self, brand: str, last4: str, behaviour: str) -> Json:
        pm: Json = {
            "id": new_id("pm_"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {
                "address": {
                    "city": None,
                    "country": None,
                    "line1": None,
                    "line2": None,
                    "postal_code": None,
                    "state": None,
                },
                "email": None,
                "name": None,
                "phone": None,
            },
            "card": {
                "brand": brand,
                "checks": {
                    "address_line1_check": None,
                    "address_postal_code_check": None,
                    "cvc_check": "pass",
                },
                "country": "US",
                "display_brand": brand,
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 3,
                "fingerprint": new_id("", 16),
                "funding": "credit",
                "last4": last4,
                "networks": {"available": [brand], "preferred": None},
                "three_d_secure_usage": {"supported": True},
                "wallet": None,
            },
            "created": int(time.time()),
            "customer": None,
            "livemode": False,
            "metadata": {},
            "type": "card",
            "_behaviour": behaviour,
        }
        self.payment_methods[pm["id"]] = pm
        return pm

    # -- invoice items and invoices --------------------------------------------------------

    async def _create_invoice_item(self, request: web.Request) -> Json:
        p = _params(request, ITEM_PARAMS)
        if not p.get("customer"):
            raise bad_param("Missing required param: customer.", "customer", "parameter_missing")
        if "amount" not in p:
            raise bad_param("Missing required param: amount.", "amount", "parameter_missing")
        amount = _integer(p, "amount")
        customer = await self._load_customer(request, p["customer"], "customer")
        invoice = None
        if p.get("invoice"):
            invoice = self.invoices.get(p["invoice"])
            if invoice is None:
                raise missing("invoice", p["invoice"], "invoice")
            if invoice["customer"] != customer["id"]:
                raise ApiError(
                    400,
                    f"The invoice {invoice['id']} belongs to a different customer.",
                    param="invoice",
                )
            if invoice["status"] != "draft":
                raise ApiError(
                    400,
                    "You can only add invoice items to draft invoices.",
                    code="invoice_not_editable",
                    param="invoice",
                )
        currency = (p.get("currency") or (invoice or {}).get("currency") or "").lower()
        if not currency:
            raise bad_param("Missing required param: currency.", "currency", "parameter_missing")
        if invoice is not None and currency != invoice["currency"]:
            raise ApiError(
                400,
                f"The currency of the invoice item ({currency}) must match the currency of "
                f"the invoice ({invoice['currency']}).",
                param="currency",
            )
        now = int(time.time())
        item: Json = {
            "id": new_id("ii_"),
            "object": "invoiceitem",
            "amount": amount,
            "currency": currency,
            "customer": customer["id"],
            "date": now,
            "description": p.get("description"),
            "discountable": True,
            "discounts": [],
            "invoice": invoice["id"] if invoice else None,
            "livemode": False,
            "metadata": _metadata(p),
            "parent": None,
            "period": {"end": now, "start": now},
            "pricing": {
                "price_details": {"price": new_id("price_"), "product": new_id("prod_", 14)},
                "type": "price_details",
                "unit_amount_decimal": str(amount),
            },
            "proration": False,
            "quantity": 1,
            "tax_rates": [],
            "test_clock": None,
        }
        self.invoice_items[item["id"]] = item
        if invoice is not None:
            self._add_line(invoice, item)
        return item

    async def _create_invoice(self, request: web.Request) -> Json:
        p = _params(request, INVOICE_PARAMS)
        if not p.get("customer"):
            raise bad_param("Missing required param: customer.", "customer", "parameter_missing")
        method = p.get("collection_method", "charge_automatically")
        if method not in ("charge_automatically", "send_invoice"):
            raise bad_param(
                f"Invalid collection_method: must be one of charge_automatically or "
                f"send_invoice ({method!r} given)",
                "collection_method",
                "parameter_invalid_string",
            )
        days = _integer(p, "days_until_due") if "days_until_due" in p else None
        if method == "send_invoice" and days is None and "due_date" not in p:
            raise bad_param(
                "Invoices with collection_method=send_invoice must have either a "
                "days_until_due or a due_date.",
                "days_until_due",
                "parameter_missing",
            )
        if method == "charge_automatically" and (days is not None or "due_date" in p):
            raise bad_param(
                "You can only set days_until_due or due_date when collection_method is "
                "send_invoice.",
                "days_until_due",
                "parameter_unknown",
            )
        behaviour = p.get("pending_invoice_items_behavior", "exclude")
        if behaviour not in ("exclude", "include"):
            raise bad_param(
                "Invalid pending_invoice_items_behavior: must be one of exclude or include",
                "pending_invoice_items_behavior",
                "parameter_invalid_string",
            )
        customer = await self._load_customer(request, p["customer"], "customer")
        now = int(time.time())
        inv: Json = {
            "id": new_id("in_"),
            "object": "invoice",
            "account_country": "DE",
            "account_name": "chargepark test account",
            "amount_due": 0,
            "amount_overpaid": 0,
            "amount_paid": 0,
            "amount_remaining": 0,
            "amount_shipping": 0,
            "attempt_count": 0,
            "attempted": False,
            "auto_advance": _boolean(p, "auto_advance", default=False),
            "automatic_tax": {"enabled": False, "liability": None, "status": None},
            "billing_reason": "manual",
            "collection_method": method,
            "created": now,
            "currency": (
                p.get("currency") or customer["currency"] or self.default_currency
            ).lower(),
            "customer": customer["id"],
            "customer_email": customer["email"],
            "customer_name": customer["name"],
            "default_payment_method": p.get("default_payment_method"),
            "description": p.get("description"),
            "discounts": [],
            "due_date": None,
            "effective_at": None,
            "ending_balance": None,
            "hosted_invoice_url": None,
            "invoice_pdf": None,
            "issuer": {"type": "self"},
            "last_finalization_error": None,
            "lines": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": "",
            },
            "livemode": False,
            "metadata": _metadata(p),
            "next_payment_attempt": None,
            "number": None,
            "parent": None,
            "period_end": now,
            "period_start": now,
            "starting_balance": 0,
            "status": "draft",
            "status_transitions": {
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            "subtotal": 0,
            "subtotal_excluding_tax": 0,
            "total": 0,
            "total_discount_amounts": [],
            "total_excluding_tax": 0,
            "total_taxes": [],
            "webhooks_delivered_at": None,
            "_days_until_due": days,
            "_payments": [],
        }
        inv["lines"]["url"] = f"/v1/invoices/{inv['id']}/lines"
        self.invoices[inv["id"]] = inv
        if behaviour == "include":
            for item in self.invoice_items.values():
                if (
                    item["customer"] == customer["id"]
                    and item["invoice"] is None
                    and item["currency"] == inv["currency"]
                ):
                    item["invoice"] = inv["id"]
                    self._add_line(inv, item)
        return self._show_invoice(inv, p)

    async def _get_invoice(self, request: web.Request) -> Json:
        p = _params(request, {"expand"})
        return self._show_invoice(self._invoice(request.match_info["id"]), p)

    async def _finalize_invoice(self, request: web.Request) -> Json:
        p = _params(request, {"auto_advance", "expand"})
        inv = self._invoice(request.match_info["id"])
        if inv["status"] != "draft":
            raise ApiError(
                400,
                "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
                code="invoice_not_editable",
            )
        if "auto_advance" in p:
            inv["auto_advance"] = _boolean(p, "auto_advance", default=False)
        self._finalize(inv)
        return self._show_invoice(inv, p)

    async def _pay_invoice(self, request: web.Request) -> Json:
        p = _params(
            request,
            {
                "expand",
                "forgive",
                "mandate",
                "off_session",
                "paid_out_of_band",
                "payment_method",
                "source",
            },
        )
        inv = self._invoice(request.match_info["id"])
        if inv["status"] == "paid":
            raise ApiError(400, "Invoice is already paid")
        if inv["status"] == "draft":
            raise ApiError(
                400, "This invoice is a draft: finalize it before paying it.", param="invoice"
            )
        if inv["status"] != "open":
            raise ApiError(400, f"You cannot pay an invoice with status {inv['status']}.")
        if _boolean(p, "paid_out_of_band", default=False):
            self._mark_paid(inv, None, inv["amount_remaining"])
            return self._show_invoice(inv, p)
        customer = await self._load_customer(request, inv["customer"], "customer")
        pm_id = (
            p.get("payment_method")
            or inv["default_payment_method"]
            or customer["invoice_settings"]["default_payment_method"]
        )
        if not pm_id:
            raise ApiError(
                400,
                "This customer has no attached payment source or default payment method. "
                "Please consider adding a default payment method.",
            )
        if self.upstream:
            intent = await self._charge_upstream(_api_key(request) or "", inv, pm_id)
            pm: Json = {"id": pm_id, "object": "payment_method"}
        else:
            found = self.payment_methods.get(pm_id)
            if found is None:
                raise missing("PaymentMethod", pm_id, "payment_method")
            pm = found
            intent = self._charge(inv, pm)
        if intent["status"] != "succeeded":
            error = intent["last_payment_error"]
            raise ApiError(
                402,
                error["message"],
                type="card_error",
                code=error["code"],
                decline_code=error.get("decline_code"),
                charge=intent["latest_charge"],
                payment_intent=intent,
                payment_method=pm,
            )
        return self._show_invoice(inv, p)

    async def _get_payment_intent(self, request: web.Request) -> Json:
        if self.upstream:
            return await self._forward(request)
        _params(request, {"expand", "client_secret"})
        pi_id = request.match_info["id"]
        try:
            return self.payment_intents[pi_id]
        except KeyError:
            raise missing("payment_intent", pi_id) from None

    # -- the invoice's life ----------------------------------------------------------------

    def _invoice(self, inv_id: str) -> Json:
        try:
            return self.invoices[inv_id]
        except KeyError:
            raise missing("invoice", inv_id) from None

    def _add_line(self, inv: Json, item: Json) -> None:
        line = {
            "id": new_id("il_"),
            "object": "line_item",
            "amount": item["amount"],
            "currency": item["currency"],
            "description": item["description"],
            "discount_amounts": [],
            "discountable": True,
            "discounts": [],
            "invoice": inv["id"],
            "livemode": False,
            "metadata": item["metadata"],
            "parent": {
                "type": "invoice_item_details",
                "invoice_item_details": {
                    "invoice_item": item["id"],
                    "proration": False,
                    "proration_details": {"credited_items": None},
                    "subscription": None,
                },
                "subscription_item_details": None,
            },
            "period": item["period"],
            "pretax_credit_amounts": [],
            "pricing": item["pricing"],
            "quantity": 1,
            "taxes": [],
        }
        lines = inv["lines"]
        lines["data"].append(line)
        lines["total_count"] = len(lines["data"])
        total = sum(x["amount"] for x in lines["data"])
        inv.update(
            subtotal=total,
            subtotal_excluding_tax=total,
            total=total,
            total_excluding_tax=total,
            amount_due=max(total, 0),
            amount_remaining=max(total, 0),
        )

    def _finalize(self, inv: Json) -> None:
        now = int(time.time())
        customer = self.customers[inv["customer"]]
        seq = customer["next_invoice_sequence"]
        customer["next_invoice_sequence"] = seq + 1
        inv["number"] = f"{customer['invoice_prefix']}-{seq:04d}"
        inv["status"] = "open"
        inv["status_transitions"]["finalized_at"] = now
        inv["effective_at"] = now
        inv["ending_balance"] = 0
        inv["hosted_invoice_url"] = f"{self.api_base}/hosted/{inv['id']}"
        inv["invoice_pdf"] = f"{self.api_base}/hosted/{inv['id']}/pdf"
        if inv["collection_method"] == "send_invoice" and inv["_days_until_due"] is not None:
            inv["due_date"] = inv["created"] + 86400 * inv["_days_until_due"]
        self._emit("invoice.finalized", inv)
        if inv["amount_due"] == 0:
            # Stripe marks an invoice with nothing to pay as paid when it is finalized.
            self._mark_paid(inv, None, 0)

    def _charge(self, inv: Json, pm: Json) -> Json:
        amount = inv["amount_remaining"]
        fails = pm["_behaviour"] == "charge_fails"
        now = int(time.time())
        charge: Json = {
            "id": new_id("ch_"),
            "object": "charge",
            "amount": amount,
            "amount_captured": 0 if fails else amount,
            "captured": not fails,
            "currency": inv["currency"],
            "customer": inv["customer"],
            "created": now,
            "failure_code": "card_declined" if fails else None,
            "failure_message": "Your card was declined." if fails else None,
            "paid": not fails,
            "payment_method": pm["id"],
            "status": "failed" if fails else "succeeded",
            "_invoice": inv["id"],
        }
        intent: Json = {
            "id": new_id("pi_"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0 if fails else amount,
            "capture_method": "automatic",
            "created": now,
            "currency": inv["currency"],
            "customer": inv["customer"],
            "last_payment_error": None,
            "latest_charge": charge["id"],
            "livemode": False,
            "metadata": {},
            "payment_method": pm["id"],
            "status": "requires_payment_method" if fails else "succeeded",
        }
        charge["payment_intent"] = intent["id"]
        if fails:
            intent["last_payment_error"] = {
                "charge": charge["id"],
                "code": "card_declined",
                "decline_code": "generic_decline",
                "doc_url": "https://stripe.com/docs/error-codes/card-declined",
                "message": "Your card was declined.",
                "payment_method": pm,
                "type": "card_error",
            }
        return self._settle(inv, intent, charge)

    async def _charge_upstream(self, api_key: str, inv: Json, pm_id: str) -> Json:
        """Take the invoice's amount through a payment intent confirmed in localstripe."""
        status, body = await self._upstream_call(
            api_key,
            "POST",
            "/v1/payment_intents",
            {
                "amount": str(inv["amount_remaining"]),
                "currency": inv["currency"],
                "customer": inv["customer"],
                "payment_method": pm_id,
                "capture_method": "automatic",
                "confirm": "true",
                "off_session": "true",
                "metadata[invoice]": inv["id"],
            },
        )
        if status == 200:
            intent = body
        elif status == 402 and isinstance(body.get("error"), dict):
            # localstripe answers a decline with the failed charge; the intent stays behind.
            failed = await self._upstream_json(
                api_key, "GET", f"/v1/charges/{body['error']['charge']}", {}
            )
            intent = await self._upstream_json(
                api_key, "GET", f"/v1/payment_intents/{failed['payment_intent']}", {}
            )
        else:
            raise ApiError.of(status, body)
        latest = intent.get("latest_charge")
        charge_id = latest["id"] if isinstance(latest, dict) else latest
        charge = await self._upstream_json(api_key, "GET", f"/v1/charges/{charge_id}", {})
        intent = {k: v for k, v in intent.items() if k != "charges"}
        intent["latest_charge"] = charge_id
        if intent["status"] != "succeeded":
            error = intent.get("last_payment_error") or {}
            intent["last_payment_error"] = {
                "charge": charge_id,
                "code": error.get("code") or charge.get("failure_code") or "card_declined",
                "decline_code": error.get("decline_code"),
                "message": error.get("message") or charge.get("failure_message"),
                "type": "card_error",
            }
        return self._settle(inv, intent, {**charge, "_invoice": inv["id"]})

    def _settle(self, inv: Json, intent: Json, charge: Json) -> Json:
        """Book a charge attempt on the invoice: its InvoicePayment, the invoice's attempt
        count and status, and the webhook event."""
        now = int(time.time())
        amount = intent["amount"]
        fails = intent["status"] != "succeeded"
        self.charges[charge["id"]] = charge
        self.payment_intents[intent["id"]] = intent
        payment: Json = {
            "id": new_id("inpay_"),
            "object": "invoice_payment",
            "amount_paid": None if fails else amount,
            "amount_requested": amount,
            "created": now,
            "currency": inv["currency"],
            "invoice": inv["id"],
            "is_default": True,
            "livemode": False,
            "payment": {"type": "payment_intent", "payment_intent": intent["id"]},
            "status": "open" if fails else "paid",
            "status_transitions": {"canceled_at": None, "paid_at": None if fails else now},
        }
        self.invoice_payments[payment["id"]] = payment
        inv["_payments"].append(payment["id"])
        inv["attempt_count"] += 1
        inv["attempted"] = True
        if fails:
            self._emit("invoice.payment_failed", inv)
        else:
            self._mark_paid(inv, payment, amount)
        return intent

    def _mark_paid(self, inv: Json, payment: Json | None, amount: int) -> None:
        inv["amount_paid"] += amount
        inv["amount_remaining"] = 0
        inv["status"] = "paid"
        inv["status_transitions"]["paid_at"] = int(time.time())
        inv["next_payment_attempt"] = None
        self._emit("invoice.paid", inv)

    def _show_invoice(self, inv: Json, params: Json) -> Json:
        shown = {k: v for k, v in inv.items() if not k.startswith("_")}
        if "payments" in _expand(params):  # an includable field: present only when asked
            data = [self.invoice_payments[i] for i in inv["_payments"]]
            shown["payments"] = {
                "object": "list",
                "data": data,
                "has_more": False,
                "total_count": len(data),
                "url": f"/v1/invoice_payments?invoice={inv['id']}",
            }
        return json.loads(json.dumps(shown))  # a snapshot, not the live state

    # -- localstripe behind this server ---------------------------------------------------

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    async def _forward(self, request: web.Request) -> Json:
        """Pass the request on to localstripe as it came; its answer is this server's."""
        assert self.upstream is not None
        headers = {"Authorization": request.headers.get("Authorization", "")}
        if request.content_type:
            headers["Content-Type"] = request.content_type
        url = f"{self.upstream}{request.path}"
        if request.query_string:
            url += f"?{request.query_string}"
        try:
            async with self._session().request(
                request.method, url, data=await request.read(), headers=headers
            ) as r:
                status, body = r.status, await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(
                500, f"upstream unreachable: {exc!r}", type="api_error", kept=False
            ) from exc
        if status != 200:
            raise ApiError.of(status, body, kept=status < 500)
        return body

    async def _upstream_call(
        self, api_key: str, method: str, path: str, form: dict[str, str]
    ) -> tuple[int, Json]:
        assert self.upstream is not None
        try:
            async with self._session().request(
                method,
                f"{self.upstream}{path}",
                data=form if method == "POST" else None,
                headers={"Authorization": f"Bearer {api_key}"},
            ) as r:
                return r.status, await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(
                500, f"upstream unreachable: {exc!r}", type="api_error", kept=False
            ) from exc

    async def _upstream_json(
        self, api_key: str, method: str, path: str, form: dict[str, str]
    ) -> Json:
        status, body = await self._upstream_call(api_key, method, path, form)
        if status != 200:
            raise ApiError.of(status, body, kept=status < 500)
        return body

    # -- webhooks --------------------------------------------------------------------------

    def _emit(self, kind: str, inv: Json) -> None:
        event: Json = {
            "id": new_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": self._show_invoice(inv, {})},
            "livemode": False,
            "pending_webhooks": 1 if self.webhook_url else 0,
            "request": {"id": new_id("req_", 14), "idempotency_key": None},
            "type": kind,
        }
        self.events.append(event)
        if self.webhook_url and self.webhook_secret:
            task = asyncio.get_running_loop().create_task(self._deliver(event))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)

    async def _deliver(self, event: Json) -> None:
        assert self.webhook_url is not None
        body, signature = self.signed_event(event)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            async with self._session().post(self.webhook_url, data=body, headers=headers) as r:
                await r.read()
                self.deliveries.append(Delivery(event["id"], event["type"], r.status))
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.deliveries.append(Delivery(event["id"], event["type"], None, repr(exc)))


# -- request parsing -------------------------------------------------------------------------


def _api_key(request: web.Request) -> str | None:
    kind, _, key = request.headers.get("Authorization", "").partition(" ")
    if kind.lower() == "bearer" and key.startswith(("sk_test_", "rk_test_")):
        return key
    return None


def _drop(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer, as a network failure would."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=204)


def _unflatten(pairs: list[tuple[str, str]]) -> Json:
    """`metadata[k]=v`, `expand[0]=x`, `expand[]=x` -> nested dicts and lists."""
    root: Json = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        parts = [head] + ([s.rstrip("]") for s in rest.split("[")] if rest else [])
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "":  # `expand[]`: append
                part = str(sum(1 for k in node if k.isdigit()))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _lists(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _params(request: web.Request, allowed: frozenset[str] | set[str]) -> Json:
    params: Json = request[PARAMS]
    for name in params:
        if name not in allowed:
            raise bad_param(f"Received unknown parameter: {name}", name, "parameter_unknown")
    return params


def _expand(params: Json) -> list[str]:
    value = params.get("expand") or []
    return value if isinstance(value, list) else [value]


def _metadata(params: Json) -> dict[str, str]:
    value = params.get("metadata")
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise bad_param("Invalid object", "metadata", "parameter_invalid_object")
    return {k: v for k, v in value.items() if v != ""}


def _merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    if update == "":
        return {}
    merged = {**current, **update}
    return {k: v for k, v in merged.items() if v != ""}


def _integer(params: Json, name: str) -> int:
    raw = params.get(name)
    if isinstance(raw, str) and raw.lstrip("-").isdigit():
        return int(raw)
    raise bad_param(f"Invalid integer: {raw}", name, "parameter_invalid_integer")


def _boolean(params: Json, name: str, *, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise bad_param(f"Invalid boolean: {raw}", name, "parameter_invalid_boolean")
