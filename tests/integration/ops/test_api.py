"""The ops REST API on its aiohttp app: scopes (only the exact /metrics is public), metrics,
capacities, alert rules, the dry run and incidents."""

from __future__ import annotations

from typing import Any

import pytest

from chargepark.http.metrics import add_scrape_hook
from tests.support.ops import Ops, at, left, parked, status

RULE = {"name": "faults", "kind": "charger_faulted", "window_sec": 600, "severity": "critical"}


@pytest.fixture
async def client(ops: Ops, aiohttp_client) -> Any:
    return await aiohttp_client(ops.parts.app)


async def test_only_the_exposition_at_metrics_is_public(ops, client):
    exposition = await client.get("/metrics")
    assert exposition.status == 200
    assert "chargepark_http_requests_total" in await exposition.text()
    reader, writer = ops.token("ops:read"), ops.token("ops:write")
    other = ops.token("parking:read")
    for path in (
        "/metrics/summary",
        "/metrics/occupancy",
        "/metrics/chargers/CP-1",
        "/alerts/rules",
        "/incidents",
    ):
        assert (await client.get(path)).status == 401, path
        assert (await client.get(path, headers=other)).status == 403, path
    assert (await client.get("/metrics/summary", headers=reader)).status == 200
    assert (await client.post("/alerts/rules", json=RULE, headers=reader)).status == 403
    assert (await client.post("/alerts/rules", json=RULE, headers=writer)).status == 201
    assert (await client.get("/metrics/", headers=reader)).status == 404


async def test_the_exposition_carries_the_business_kpis(ops, client):
    await ops.feed(
        status("CP-1", 1, "Faulted", at(0)),
        status("CP-2", 1, "Available", at(0)),
        parked("A", "1", at(0)),
    )
    text = await (await client.get("/metrics")).text()
    assert 'chargepark_chargers{status="Faulted"} 1.0' in text
    assert 'chargepark_chargers{status="Available"} 1.0' in text
    assert 'chargepark_lot_occupied_vehicles{ev_bay="false",lot_id="A"} 1.0' in text
    assert "chargepark_sessions_active 0.0" in text
    assert 'chargepark_invoices_total{state="paid"} 0.0' in text
    assert 'chargepark_incidents_open{rule_kind="charger_faulted"} 0.0' in text


async def test_occupancy_now_and_over_time_with_a_capacity_from_parkings_lot(ops, client):
    reader, writer = ops.token("ops:read"), ops.token("ops:write")
    ops.clock.at = at(60)
    await ops.feed(parked("A", "1", at(0)), parked("A", "2", at(10)), left("A", "1", at(0), at(40)))
    lot = {  # what GET /parking/lots/A answers, as it is
        "id": "A",
        "levels": [
            {
                "level": "P0",
                "slots": [
                    {"slot_ui": 1, "fits": "CAR", "ev_bay": False, "in_service": True},
                    {"slot_ui": 2, "fits": "CAR", "ev_bay": False, "in_service": True},
                    {"slot_ui": 3, "fits": "CAR", "ev_bay": True, "in_service": True},
                    {"slot_ui": 4, "fits": "CAR", "ev_bay": False, "in_service": False},
                ],
            }
        ],
    }
    r = await client.put("/lots/A/capacity", json=lot, headers=writer)
    assert r.status == 200, await r.text()
    assert (await r.json())["capacity"] == 3
    r = await client.get(
        "/metrics/occupancy",
        params={"lot_id": "A", "from": "2026-11-27T09:00:00Z", "bucket": "1800"},
        headers=reader,
    )
    body = await r.json()
    assert r.status == 200, body
    [now] = body["lots"]
    assert (now["occupied"], now["capacity"], now["percent"]) == (1, 3, 33.3)
    series = body["series"]
    assert series["to"] == "2026-11-27T10:00:00Z" and series["capacity"] == 3
    assert [b["peak_occupied"] for b in series["buckets"]] == [2, 2]
    assert [b["peak_percent"] for b in series["buckets"]] == [66.7, 66.7]
    assert [(b["arrivals"], b["departures"]) for b in series["buckets"]] == [(2, 0), (0, 1)]

    for params in ({"from": "2026-11-27T09:00:00Z"}, {"lot_id": "A", "from": "yesterday"}):
        assert (await client.get("/metrics/occupancy", params=params, headers=reader)).status == 422
    bad = {"levels": [{"level": "P0", "slots": 1, "ev_bays": 2}]}
    assert (await client.put("/lots/A/capacity", json=bad, headers=writer)).status == 422


async def test_charger_metrics_and_summary(ops, client):
    reader = ops.token("ops:read")
    ops.clock.at = at(60)
    await ops.feed(
        status("CP-1", 1, "Available", at(0)), status("CP-1", 1, "Faulted", at(30), "Other")
    )
    r = await client.get(
        "/metrics/chargers/CP-1",
        params={"from": "2026-11-27T09:00:00Z", "to": "2026-11-27T10:00:00Z"},
        headers=reader,
    )
    body = await r.json()
    assert body["availability_percent"] == 50.0 and body["status"] == "Faulted"
    assert body["faults"][0]["error_code"] == "Other" and body["faults"][0]["to"] is None
    assert body["last_seen"] == "2026-11-27T09:30:00Z"
    assert (await client.get("/metrics/chargers/NOPE", headers=reader)).status == 404
    summary = await (await client.get("/metrics/summary", headers=reader)).json()
    assert summary["chargers"]["faulted"] == 1 and summary["chargers"]["online"] == 1


async def test_rules_are_created_read_replaced_and_deleted(ops, client):
    reader, writer = ops.token("ops:read"), ops.token("ops:write")
    r = await client.post("/alerts/rules", json=RULE, headers=writer)
    rule = await r.json()
    assert r.headers["Location"] == f"/alerts/rules/{rule['id']}"
    assert rule["window_sec"] == 600 and rule["severity"] == "critical" and rule["enabled"]
    changed = {**RULE, "window_sec": 60, "charger_id": "CP-9"}
    r = await client.put(f"/alerts/rules/{rule['id']}", json=changed, headers=writer)
    assert (await r.json())["charger_id"] == "CP-9"
    listed = await (await client.get("/alerts/rules", headers=reader)).json()
    mine = [i for i in listed["items"] if not i["id"].startswith("builtin-")]
    assert [i["window_sec"] for i in mine] == [60]
    assert {i["kind"] for i in listed["items"]} >= {"site_over_limit", "charger_over_limit"}
    assert (await client.delete(f"/alerts/rules/{rule['id']}", headers=writer)).status == 204
    assert (await client.get(f"/alerts/rules/{rule['id']}", headers=reader)).status == 404
    for bad in (
        {"kind": "occupancy_high", "window_sec": 60},  # no threshold
        {"kind": "charger_faulted", "window_sec": -1},
        {"kind": "charger_faulted", "window_sec": 60, "extra": 1},
    ):
        assert (await client.post("/alerts/rules", json=bad, headers=writer)).status == 422


async def test_a_dry_run_and_the_incidents_it_did_not_open(ops, client):
    reader = ops.token("ops:read")
    ops.clock.at = at(60)
    await ops.feed(status("CP-1", 1, "Faulted", at(0)), status("CP-1", 1, "Available", at(20)))
    body = {"rule": RULE, "from": "2026-11-27T08:00:00Z"}
    r = await client.post("/alerts/test", json=body, headers=reader)
    found = await r.json()
    assert r.status == 200, found
    assert found["would_fire"] and not found["firing_now"]
    assert found["firings"] == [
        {
            "subject": "CP-1",
            "since": "2026-11-27T09:00:00Z",
            "fired_at": "2026-11-27T09:10:00Z",
            "cleared_at": "2026-11-27T09:20:00Z",
            "detail": "EVSE 1",
        }
    ]
    quiet = {"rule": {**RULE, "window_sec": 3600}}
    assert not (await (await client.post("/alerts/test", json=quiet, headers=reader)).json())[
        "would_fire"
    ]
    future = {"rule": RULE, "from": "2030-01-01T00:00:00Z"}
    assert (await client.post("/alerts/test", json=future, headers=reader)).status == 422
    r = await client.get("/incidents", params={"state": "open"}, headers=reader)
    assert (await r.json())["items"] == []
    assert (await client.get("/incidents?state=maybe", headers=reader)).status == 422


async def test_a_failing_scrape_hook_leaves_the_exposition_answering(ops, aiohttp_client):
    async def broken() -> None:
        raise RuntimeError("database down")

    add_scrape_hook(ops.parts.app, broken)
    client = await aiohttp_client(ops.parts.app)
    r = await client.get("/metrics")
    assert r.status == 200 and "chargepark_http_requests_total" in await r.text()
