"""Billing through the embedded platform over real HTTP and OCPP: a car parks in an EV bay, a
simulated charger charges it (14.3 kWh in 31 minutes), it leaves after 2 hours; the billing job
invoices the visit under T_STD and the local provider collects it: InvoicePaid. And every bad
request to billing's API is a 4xx problem, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16

from tests.support.chargers import Charger, boot16
from tests.support.e2e_site import LOT, Site, call, running_site, ts


@pytest.fixture
async def site(tmp_path) -> AsyncIterator[Site]:
    events = ["ChargingSessionClosed", "VehicleLeft", "InvoiceIssued", "InvoicePaid"]
    async with running_site(tmp_path, events) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_park_charge_leave_is_invoiced_by_the_job_and_paid_locally(site, http):
    await site.accounts_says(
        "VehicleLinked", customer_id="c-1", regnum="AB123", kind="CAR", fuel="EV"
    )
    status, _, body = await call(http, site, "POST", "/parking/lots", LOT)
    assert status == 201, body
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    arrive = end - timedelta(hours=2)
    status, _, body = await call(
        http,
        site,
        "POST",
        "/parking/lots/A1/park",
        {"regnum": "AB-123", "kind": "CAR", "fuel": "EV", "ts": ts(arrive)},
    )
    assert status in (200, 201), body

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
    assert (closed["kwh"], closed["duration_sec"]) == ("14.300", 31 * 60)

    status, _, body = await call(
        http, site, "POST", "/parking/lots/A1/leave", {"regnum": "AB123", "ts": ts(end)}
    )
    assert status == 200, body
    [paid] = await site.events_named("InvoicePaid", within=15)
    [issued] = await site.events_named("InvoiceIssued")
    assert paid["invoice_id"] == issued["invoice_id"]
    assert (paid["amount_minor"], paid["provider"], paid["customer_id"]) == (1534, "local", "c-1")

    status, _, inv = await call(http, site, "GET", f"/billing/invoices/{paid['invoice_id']}")
    assert status == 200
    assert [(line["kind"], line["amount_minor"]) for line in inv["lines"]] == [
        ("CHARGING", 608),  # 14.3 kWh x 0.39 = 5.577 -> 5.58, + 0.50 session fee
        ("PARKING", 400),  # 8 started quarters x 0.50
        ("IDLE", 270),  # 54 minutes x 0.05, from 30 minutes after charging until leaving
    ]
    assert (inv["net_minor"], inv["tax_minor"], inv["total_minor"]) == (1278, 256, 1534)
    assert (inv["status"], inv["provider"], inv["currency"]) == ("paid", "local", "EUR")
    assert "not sent to Stripe" in inv["note"]
    assert [a["status"] for a in inv["payment_attempts"]] == ["paid"]

    status, _, visit = await call(http, site, "GET", f"/billing/visits/{inv['visit_id']}")
    assert status == 200 and visit["status"] == "invoiced"
    assert [x["kwh"] for x in visit["sessions"]] == ["14.300"]

    customer = {
        "Authorization": f"Bearer {site.issuer.issue('billing:read', sub='c-1', role='customer')}"
    }
    status, _, page = await call(http, site, "GET", "/billing/invoices", headers=customer)
    assert status == 200 and [i["id"] for i in page["items"]] == [inv["id"]]
    other = {
        "Authorization": f"Bearer {site.issuer.issue('billing:read', sub='c-2', role='customer')}"
    }
    status, _, _ = await call(http, site, "GET", f"/billing/invoices/{inv['id']}", headers=other)
    assert status == 404


async def test_tariffs_are_versioned_over_rest(site, http):
    status, _, std = await call(http, site, "GET", "/billing/tariffs/T_STD")
    assert status == 200 and std["version"] == 1 and std["energy_minor_per_kwh"] == "39"
    change = {k: v for k, v in std.items() if k not in ("id", "version", "versions", "valid_from")}
    change["energy_minor_per_kwh"] = "38.5"
    status, _, v2 = await call(http, site, "PUT", "/billing/tariffs/T_STD", change)
    assert status == 200 and (v2["version"], v2["energy_minor_per_kwh"]) == (2, "38.5")
    status, _, listed = await call(http, site, "GET", "/billing/tariffs")
    assert [(t["id"], t["version"]) for t in listed["items"]] == [("T_STD", 2)]
    status, _, created = await call(
        http, site, "POST", "/billing/tariffs", {**change, "id": "T_NIGHT"}
    )
    assert status == 201 and created["version"] == 1
    status, _, _ = await call(http, site, "POST", "/billing/tariffs", {**change, "id": "T_NIGHT"})
    assert status == 409
    status, _, _ = await call(
        http, site, "POST", "/billing/tariffs", {**change, "id": "T_USD", "currency": "USD"}
    )
    assert status == 409


async def test_manual_invoices_take_lines_while_draft_then_capture(site, http):
    status, _, made = await call(
        http,
        site,
        "POST",
        "/billing/invoices",
        {"customer_id": "c-7", "lines": [{"description": "Wash", "amount_minor": 1000}]},
    )
    assert status == 201
    invoice_id = made["invoice_id"]
    status, _, inv = await call(
        http,
        site,
        "POST",
        f"/billing/invoices/{invoice_id}/lines",
        {"lines": [{"description": "Goodwill", "amount_minor": -100}]},
    )
    assert status == 200 and (inv["status"], inv["total_minor"]) == ("draft", 1080)
    status, _, body = await call(http, site, "POST", f"/billing/invoices/{invoice_id}/capture")
    assert (status, body) == (200, {"status": "paid"})
    status, ctype, body = await call(
        http,
        site,
        "POST",
        f"/billing/invoices/{invoice_id}/lines",
        {"lines": [{"description": "Late", "amount_minor": 1}]},
    )
    assert status == 409 and ctype == "application/problem+json"
    [paid] = await site.events_named("InvoicePaid")
    assert paid["invoice_id"] == invoice_id


BAD_REQUESTS = [
    ("POST", "/billing/tariffs", {"id": "T_BAD"}, 422),
    ("POST", "/billing/tariffs", {"id": "bad id", "currency": "EUR"}, 422),
    ("GET", "/billing/tariffs/T_NONE", None, 404),
    (
        "PUT",
        "/billing/tariffs/T_NONE",
        {
            "currency": "EUR",
            "energy_minor_per_kwh": 1,
            "session_fee_minor": 0,
            "parking_minor_per_period": 0,
            "parking_period_minutes": 15,
            "tax_percent": 0,
        },
        404,
    ),
    (
        "PUT",
        "/billing/tariffs/T_STD",
        {
            "currency": "EUR",
            "energy_minor_per_kwh": 1,
            "session_fee_minor": 0,
            "parking_minor_per_period": 0,
            "parking_period_minutes": 15,
            "tax_percent": 0,
            "valid_from": "2001-01-01T00:00:00Z",
        },
        422,
    ),
    (
        "PUT",
        "/billing/tariffs/T_STD",
        {
            "currency": "EUR",
            "energy_minor_per_kwh": 1.5,
            "session_fee_minor": 0,
            "parking_minor_per_period": 0,
            "parking_period_minutes": 15,
            "tax_percent": 0,
        },
        422,
    ),
    (
        "PUT",
        "/billing/tariffs/T_STD",
        {
            "currency": "EUR",
            "energy_minor_per_kwh": "1",
            "session_fee_minor": 0,
            "parking_minor_per_period": 0,
            "parking_period_minutes": 15,
            "tax_percent": "101",
        },
        422,
    ),
    ("POST", "/billing/invoices", {}, 422),
    ("POST", "/billing/invoices", {"customer_id": "c", "tax_percent": "200"}, 422),
    (
        "POST",
        "/billing/invoices/inv_nope/lines",
        {"lines": [{"description": "x", "amount_minor": 1}]},
        404,
    ),
    ("POST", "/billing/invoices/inv_nope/capture", None, 404),
    ("GET", "/billing/invoices/inv_nope", None, 404),
    ("GET", "/billing/invoices?status=lost", None, 422),
    ("GET", "/billing/invoices?limit=abc", None, 422),
    ("GET", "/billing/invoices?from=yesterday", None, 422),
    ("GET", "/billing/invoices?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", None, 422),
    ("GET", "/billing/visits/vis_nope", None, 404),
]


async def test_bad_requests_are_problems(site, http):
    for method, path, body, expected in BAD_REQUESTS:
        status, ctype, problem = await call(http, site, method, path, body)
        assert (status, ctype) == (expected, "application/problem+json"), (path, problem)

    async with http.post(
        site.url("/billing/invoices"),
        data=b"{",
        headers={**site.operator, "Content-Type": "application/json"},
    ) as r:
        assert r.status == 400
    reader = {"Authorization": f"Bearer {site.issuer.issue('billing:read')}"}
    status, _, _ = await call(
        http, site, "POST", "/billing/invoices", {"customer_id": None}, headers=reader
    )
    assert status == 403
