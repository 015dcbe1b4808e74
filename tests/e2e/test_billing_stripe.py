"""Billing with Stripe configured, through the embedded platform over real HTTP and OCPP.

The SDK talks to the fake Stripe server (tests.support.fake_stripe) in front of localstripe:
customers, payment methods, payment intents and charges are localstripe's, invoices the fake's,
and the fake signs and POSTs invoice.paid / invoice.payment_failed to billing's
`POST /billing/stripe/webhook`. The platform's clock runs with the wall clock plus an offset a
test moves forward, so retries an hour apart happen within seconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16

from chargepark.auth import StaticJwks, TokenVerifier
from chargepark.events.inprocess import InProcessBus
from chargepark.platform.config import SERVICES, load_settings
from chargepark.platform.runtime import Platform
from tests.support.chargers import Charger, boot16
from tests.support.e2e_site import LOT, Site, call, ts
from tests.support.fake_stripe import FakeStripe, sign
from tests.support.localstripe import running_localstripe
from tests.support.procs import free_port
from tests.support.tokens import TokenIssuer

API_KEY = "sk_test_e2e_billing"
SECRET = "whsec_e2e_billing"
SAVED_CARDS = {
    "c-1": "pm_card_visa",
    "c-down": "pm_card_visa",
    "c-decline": "pm_card_chargeCustomerFail",
}


class MovableClock:
    """The wall clock plus an offset that a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


class StripeSite(Site):
    def __init__(
        self,
        platform: Platform,
        issuer: TokenIssuer,
        bus: InProcessBus,
        stripe: FakeStripe,
        clock: MovableClock,
        localstripe_url: str,
    ) -> None:
        super().__init__(platform, issuer, bus)
        self.stripe, self.clock, self.localstripe_url = stripe, clock, localstripe_url


@pytest.fixture(scope="module")
def localstripe_url() -> Iterator[str]:
    with running_localstripe() as url:
        yield url


@pytest.fixture
async def site(tmp_path, localstripe_url: str) -> AsyncIterator[StripeSite]:
    stripe = await FakeStripe(
        upstream=localstripe_url, webhook_secret=SECRET, saved_cards=dict(SAVED_CARDS)
    ).start()
    issuer = TokenIssuer()
    bus = InProcessBus()
    clock = MovableClock()
    env = {
        "CHARGEPARK_DATA_DIR": str(tmp_path),
        "CHARGEPARK_OCPP_UNKNOWN": "accept",
        "CHARGEPARK_OCPP_OFFLINE_AUTH": "accept",
        "CHARGEPARK_BILLING_JOB_INTERVAL": "1",
        "CHARGEPARK_BILLING_SETTLE_SEC": "0",
        "CHARGEPARK_STRIPE_API_KEY": API_KEY,
        "CHARGEPARK_STRIPE_WEBHOOK_SECRET": SECRET,
        "CHARGEPARK_STRIPE_API_BASE": stripe.api_base,
    }
    settings = load_settings(env, {"http_port": free_port(), "ocpp_port": free_port()})
    platform = Platform(
        settings,
        SERVICES,
        bus=bus,
        clock=clock,
        verifier=TokenVerifier(StaticJwks(issuer.jwks)),
    )
    site = StripeSite(platform, issuer, bus, stripe, clock, localstripe_url)

    async def record(event: dict[str, Any], attempt: int) -> None:
        site.events.append(event)

    await bus.subscribe(
        "test", ["ChargingSessionClosed", "VehicleLeft", "InvoiceIssued", "InvoicePaid"], record
    )
    await platform.start()
    stripe.webhook_url = site.url("/billing/stripe/webhook")
    yield site
    await platform.stop()
    await stripe.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


# --- helpers --------------------------------------------------------------------------------


async def park_and_leave(
    site: StripeSite,
    http: aiohttp.ClientSession,
    regnum: str,
    *,
    charge: Callable[[datetime], Awaitable[None]] | None = None,
) -> str:
    """A two-hour stay (with a charging session when `charge` is given) ended a minute ago;
    answers the id of the invoice the job makes of it."""
    status, _, body = await call(http, site, "POST", "/parking/lots", LOT)
    assert status == 201, body
    end = site.clock.now().replace(microsecond=0) - timedelta(minutes=1)
    arrive = end - timedelta(hours=2)
    status, _, body = await call(
        http,
        site,
        "POST",
        "/parking/lots/A1/park",
        {"regnum": regnum, "kind": "CAR", "fuel": "EV", "ts": ts(arrive)},
    )
    assert status in (200, 201), body
    if charge is not None:
        await charge(arrive)
    status, _, body = await call(
        http, site, "POST", "/parking/lots/A1/leave", {"regnum": regnum, "ts": ts(end)}
    )
    assert status == 200, body
    [issued] = await site.events_named("InvoiceIssued", within=15)
    return issued["invoice_id"]


async def charge_14_3_kwh(site: StripeSite, arrive: datetime) -> None:
    s = site.platform.settings
    ws = await websockets.connect(
        f"ws://{s.host}:{s.ocpp_port}{s.ocpp_path}/CP-1", subprotocols=["ocpp1.6"]
    )
    cp = Charger(Client16("CP-1", ws), ws)
    await cp.call(boot16())
    started = await cp.call(
        call16.StartTransaction(
            connector_id=1,
            id_tag="RFID-1",
            meter_start=0,
            timestamp=ts(arrive + timedelta(minutes=5)),
        )
    )
    await cp.call(
        call16.StopTransaction(
            meter_stop=14_300,
            timestamp=ts(arrive + timedelta(minutes=36)),
            transaction_id=started.transaction_id,
            reason="EVDisconnected",
        )
    )
    await cp.close()
    [closed] = await site.events_named("ChargingSessionClosed")
    assert closed["kwh"] == "14.300"


async def invoice(site: StripeSite, http: aiohttp.ClientSession, invoice_id: str) -> Any:
    status, _, body = await call(http, site, "GET", f"/billing/invoices/{invoice_id}")
    assert status == 200, body
    return body


async def invoice_when(
    site: StripeSite,
    http: aiohttp.ClientSession,
    invoice_id: str,
    condition: Callable[[Any], bool],
    within: float = 10,
) -> Any:
    async with asyncio.timeout(within):
        while True:
            inv = await invoice(site, http, invoice_id)
            if condition(inv):
                return inv
            await asyncio.sleep(0.1)


def attempts(inv: Any, status: str, source: str | None = None) -> list[Any]:
    return [
        a
        for a in inv["payment_attempts"]
        if a["status"] == status and (source is None or a["source"] == source)
    ]


async def localstripe_charges(site: StripeSite, customer: str) -> list[Any]:
    """Charges as localstripe itself holds them (not the fake's copy)."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            f"{site.localstripe_url}/v1/charges",
            params={"limit": "100"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as r,
    ):
        assert r.status == 200
        listed = await r.json()
    return [c for c in listed["data"] if c["customer"] == customer]


async def quiet(site: StripeSite, cycles: float = 1.2) -> None:
    """Let webhooks land and the job run a few more times (to see nothing else happens)."""
    await site.stripe.webhooks_sent()
    await asyncio.sleep(cycles)
    await site.stripe.webhooks_sent()


# --- the tests ------------------------------------------------------------------------------


async def test_park_charge_leave_is_invoiced_and_paid_through_stripe(site, http):
    await site.accounts_says(
        "VehicleLinked", customer_id="c-1", regnum="AB123", kind="CAR", fuel="EV"
    )
    invoice_id = await park_and_leave(
        site, http, "AB-123", charge=lambda arrive: charge_14_3_kwh(site, arrive)
    )
    [paid] = await site.events_named("InvoicePaid", within=15)
    assert paid["invoice_id"] == invoice_id
    assert (paid["amount_minor"], paid["provider"], paid["customer_id"]) == (1534, "stripe", "c-1")

    inv = await invoice(site, http, invoice_id)
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == [
        ("CHARGING", 608),
        ("PARKING", 400),
        ("IDLE", 270),
    ]
    assert (inv["net_minor"], inv["tax_minor"], inv["total_minor"]) == (1278, 256, 1534)
    assert (inv["status"], inv["provider"], inv["amount_paid_minor"]) == ("paid", "stripe", 1534)
    assert inv["provider_customer_id"].startswith("cus_")
    assert inv["provider_invoice_id"].startswith("in_")
    assert inv["provider_invoice_id"] in inv["hosted_url"]
    assert inv["note"] is None and inv["last_error"] is None
    # Paid by our collection (its answer names the payment intent); the webhook may have
    # said so first: either way, paid once.
    [collected] = attempts(inv, "paid", "collect")
    assert collected["provider_ref"].startswith("pi_")
    assert {a["status"] for a in inv["payment_attempts"]} == {"paid"}

    # At Stripe: the customer (localstripe's), the items (lines + tax), the invoice, paid.
    stripe = site.stripe
    at_stripe = stripe.invoices[inv["provider_invoice_id"]]
    assert at_stripe["customer"] == inv["provider_customer_id"]
    assert [line["amount"] for line in at_stripe["lines"]["data"]] == [608, 400, 270, 256]
    assert (at_stripe["status"], at_stripe["total"], at_stripe["currency"]) == (
        "paid",
        1534,
        "eur",
    )
    assert at_stripe["metadata"]["chargepark_invoice_id"] == invoice_id
    assert [r.status for r in stripe.calls("POST", "/v1/customers")] == [200]
    assert len(stripe.calls("POST", "/v1/invoiceitems")) == 4
    assert [c.idempotency_key for c in stripe.calls("POST", "/v1/invoices/")] == [
        f"finalize-{invoice_id}",
        f"pay-{inv['provider_invoice_id']}-1",
    ]
    charges = await localstripe_charges(site, inv["provider_customer_id"])
    assert [(c["status"], c["amount"], c["currency"]) for c in charges] == [
        ("succeeded", 1534, "eur")
    ]
    assert charges[0]["payment_intent"] == collected["provider_ref"]

    # Stripe's signed invoice.paid reached the webhook and was accepted; nothing more happens.
    await quiet(site)
    assert ("invoice.paid", 200) in [(d.type, d.status) for d in stripe.deliveries]
    assert len([e for e in site.events if e["event"] == "InvoicePaid"]) == 1
    assert len(await localstripe_charges(site, inv["provider_customer_id"])) == 1


async def test_stripe_down_then_up_is_retried_and_paid_once(site, http):
    stripe = site.stripe
    await site.accounts_says(
        "VehicleLinked", customer_id="c-down", regnum="DN1", kind="CAR", fuel="EV"
    )
    stripe.outage = "error"  # every request answered 500
    invoice_id = await park_and_leave(site, http, "DN1")
    inv = await invoice_when(site, http, invoice_id, lambda i: attempts(i, "unavailable"))
    assert (inv["status"], inv["total_minor"], inv["provider_invoice_id"]) == ("open", 480, None)
    assert inv["last_error"].startswith("provider unavailable")
    retry_at = datetime.fromisoformat(inv["next_attempt_at"])
    first = datetime.fromisoformat(attempts(inv, "unavailable")[0]["at"])
    assert retry_at - first == timedelta(seconds=30)

    stripe.outage = "drop"  # connections closed without an answer
    site.clock.advance(seconds=31)
    inv = await invoice_when(site, http, invoice_id, lambda i: len(attempts(i, "unavailable")) == 2)
    retry_at = datetime.fromisoformat(inv["next_attempt_at"])
    second = datetime.fromisoformat(attempts(inv, "unavailable")[1]["at"])
    assert retry_at - second == timedelta(seconds=60)
    assert {r.status for r in stripe.requests} <= {0, 500}
    assert stripe.invoices == {}

    # Up again, but the first answer (the customer's creation) is lost on the way back.
    stripe.outage = None
    stripe.lose_next_answers(1)
    site.clock.advance(seconds=61)
    inv = await invoice_when(site, http, invoice_id, lambda i: len(attempts(i, "unavailable")) == 3)
    assert inv["status"] == "open"
    site.clock.advance(seconds=121)
    [paid] = await site.events_named("InvoicePaid", within=10)
    assert (paid["invoice_id"], paid["amount_minor"]) == (invoice_id, 480)

    await quiet(site)
    inv = await invoice(site, http, invoice_id)
    assert (inv["status"], inv["next_attempt_at"], inv["last_error"]) == ("paid", None, None)
    assert [a["status"] for a in inv["payment_attempts"] if a["source"] != "webhook"] == [
        "unavailable",
        "unavailable",
        "unavailable",
        "paid",
    ]
    # One customer (the lost creation was replayed by its idempotency key), one charge.
    created = stripe.calls("POST", "/v1/customers")
    assert [(c.status, c.replayed) for c in created if c.status == 200] == [
        (200, False),
        (200, True),
    ]
    charges = await localstripe_charges(site, inv["provider_customer_id"])
    assert [(c["status"], c["amount"]) for c in charges] == [("succeeded", 480)]
    assert len(stripe.succeeded_charges(inv["provider_invoice_id"])) == 1
    assert len([e for e in site.events if e["event"] == "InvoicePaid"]) == 1


async def test_a_declining_card_is_retried_then_uncollectible_never_lost(site, http):
    stripe = site.stripe
    await site.accounts_says(
        "VehicleLinked", customer_id="c-decline", regnum="DC1", kind="CAR", fuel="EV"
    )
    invoice_id = await park_and_leave(site, http, "DC1")
    for declines in (1, 2, 3):
        inv = await invoice_when(
            site,
            http,
            invoice_id,
            lambda i, n=declines: len(attempts(i, "payment_failed", "collect")) == n,
        )
        await site.stripe.webhooks_sent()  # the webhook's invoice.payment_failed lands too
        inv = await invoice(site, http, invoice_id)
        assert inv["declines"] == declines  # once per decline, whichever report came first
        assert inv["last_error"] == "declined: card_declined"
        if declines < 3:
            assert inv["status"] == "open"
            last = datetime.fromisoformat(attempts(inv, "payment_failed", "collect")[-1]["at"])
            # an hour after the decline (as the API's answer or the webhook reported it)
            delay = datetime.fromisoformat(inv["next_attempt_at"]) - last
            assert abs(delay - timedelta(hours=1)) < timedelta(seconds=5)
            site.clock.advance(hours=1, seconds=1)
    assert (inv["status"], inv["next_attempt_at"]) == ("uncollectible", None)
    collected = attempts(inv, "payment_failed", "collect")
    assert [(a["attempt"], a["failure_code"]) for a in collected] == [
        (1, "card_declined"),
        (2, "card_declined"),
        (3, "card_declined"),
    ]
    assert all(a["provider_ref"].startswith("pi_") for a in collected)
    delivered = [(d.type, d.status) for d in stripe.deliveries if d.type != "invoice.finalized"]
    assert delivered == [("invoice.payment_failed", 200)] * 3
    charges = await localstripe_charges(site, inv["provider_customer_id"])
    assert [(c["status"], c["failure_code"]) for c in charges] == [("failed", "card_declined")] * 3
    assert [e for e in site.events if e["event"] == "InvoicePaid"] == []
    status, _, page = await call(http, site, "GET", "/billing/invoices?status=uncollectible")
    assert status == 200 and [i["id"] for i in page["items"]] == [invoice_id]

    # Nothing more is tried on its own.
    site.clock.advance(hours=2)
    await quiet(site)
    assert len((await invoice(site, http, invoice_id))["payment_attempts"]) == len(
        inv["payment_attempts"]
    )


async def anonymous_open_invoice(site: StripeSite, http: aiohttp.ClientSession) -> Any:
    """A vehicle nobody linked: its invoice is issued at Stripe (send_invoice) and left open."""
    invoice_id = await park_and_leave(site, http, "ANON1")
    inv = await invoice_when(
        site, http, invoice_id, lambda i: i["provider_invoice_id"] and not i["next_attempt_at"]
    )
    assert (inv["status"], inv["anonymous"], inv["provider"]) == ("open", True, "stripe")
    assert (inv["next_attempt_at"], inv["payment_attempts"]) == (None, [])
    at_stripe = site.stripe.invoices[inv["provider_invoice_id"]]
    assert (at_stripe["status"], at_stripe["collection_method"]) == ("open", "send_invoice")
    return inv


async def test_bad_webhook_signatures_change_nothing_and_hosted_page_payments_count(site, http):
    """A webhook that does not verify is 400 problem+json and changes nothing; Stripe's signed
    invoice.payment_failed and invoice.paid for an invoice the customer pays on its hosted
    page are what billing learns them by."""
    inv = await anonymous_open_invoice(site, http)
    event = {
        "id": "evt_forged",
        "object": "event",
        "type": "invoice.paid",
        "data": {
            "object": {
                "id": inv["provider_invoice_id"],
                "object": "invoice",
                "amount_paid": inv["total_minor"],
                "currency": "eur",
                "status": "paid",
            }
        },
    }
    body = json.dumps(event)
    url = site.url("/billing/stripe/webhook")
    for headers in (
        {},
        {"Stripe-Signature": "t=1,v1=00"},
        {"Stripe-Signature": sign(body, "whsec_someone_else")},
        {"Stripe-Signature": sign(body, SECRET, timestamp=1_000_000_000)},  # stale
        {"Stripe-Signature": sign(body.replace("evt_forged", "evt_other"), SECRET)},
    ):
        async with http.post(url, data=body, headers=headers) as r:
            assert r.status == 400, headers
            assert r.content_type == "application/problem+json"
            problem = await r.json()
            assert problem["type"] == "urn:chargepark:problem:invalid-webhook"
    await quiet(site, cycles=0.3)  # a 400 is answered before anything is done
    assert await invoice(site, http, inv["id"]) == inv
    assert [e for e in site.events if e["event"] == "InvoicePaid"] == []

    # A decline on the hosted page: only the webhook's invoice.payment_failed tells billing.
    assert not await site.stripe.pay_on_hosted_page(
        inv["provider_invoice_id"], "pm_card_chargeCustomerFail"
    )
    failed = await invoice_when(site, http, inv["id"], lambda i: i["payment_attempts"])
    assert (failed["status"], failed["declines"], failed["next_attempt_at"]) == ("open", 1, None)
    assert [(a["source"], a["status"]) for a in failed["payment_attempts"]] == [
        ("webhook", "payment_failed")
    ]
    # Then a good card: invoice.paid makes it paid, and InvoicePaid goes out once.
    assert await site.stripe.pay_on_hosted_page(inv["provider_invoice_id"], "pm_card_visa")
    [paid] = await site.events_named("InvoicePaid", within=10)
    assert (paid["invoice_id"], paid["provider"], paid["customer_id"]) == (
        inv["id"],
        "stripe",
        None,
    )
    await quiet(site, cycles=0.3)
    done = await invoice(site, http, inv["id"])
    assert (done["status"], done["amount_paid_minor"]) == ("paid", 480)
    assert [(a["source"], a["status"]) for a in done["payment_attempts"]][-1] == (
        "webhook",
        "paid",
    )
    assert len([e for e in site.events if e["event"] == "InvoicePaid"]) == 1
